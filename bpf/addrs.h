/* SPDX-License-Identifier: GPL-2.0 */
/*
 * addrs.h - the external addresses: which are the instance's (the one it
 * masquerades with, or those of its pool), and which one an inside host's
 * new mapping goes on. Pooling is paired (RFC 4787 REQ-2, RFC 6888
 * REQ-2): a host keeps one address for all its mappings while it has any
 * (hosts.h swaps it in with the count), and new hosts are spread over the
 * pool's ACTIVE addresses by a hash of their address.
 */
#ifndef BPFMASQ_ADDRS_H
#define BPFMASQ_ADDRS_H

#include <stdbool.h>

#include "maps.h"

/* Addresses of addr_pool tried after the one a host hashes to. */
#define ADDR_PICK_TRIES 4

/* Is @a one the instance translates to (a mapping may be on it)? */
static __always_inline bool ext_addr_ours(const struct bpfmasq_config *cfg,
					  __be32 a)
{
	if (a == cfg->ext_addr)
		return true;
	return (cfg->flags & BPFMASQ_CFG_POOL) &&
	       bpf_map_lookup_elem(&ext_addrs, &a);
}

static __always_inline bool ext_addr_active(__be32 a)
{
	const struct bpfmasq_ext_addr *e = bpf_map_lookup_elem(&ext_addrs, &a);

	return e && e->state == BPFMASQ_ADDR_ACTIVE;
}

/*
 * The address for a host @inside with no mapping: its own, if it is one
 * of the pool's (the gateway's own echo requests keep their source, even
 * from one that drains), else the ACTIVE one its address hashes to, or
 * the next ACTIVE one. 0: none.
 */
static __always_inline __be32 ext_addr_pick(__be32 inside)
{
	const struct bpfmasq_addr_pool *pool;
	__u32 zero = 0, n, i, j;
	__be32 a;

	if (bpf_map_lookup_elem(&ext_addrs, &inside))
		return inside;
	pool = bpf_map_lookup_elem(&addr_pool, &zero);
	if (!pool)
		return 0;
	n = pool->count;
	if (!n || n > BPFMASQ_MAX_ADDRS)
		return 0;
	/* Knuth's multiplicative hash: neighbours land apart. */
	j = ((__u64)(bpf_ntohl(inside) * 2654435761u) * n) >> 32;
	for (i = 0; i < ADDR_PICK_TRIES && i < n; i++) {
		if (j >= BPFMASQ_MAX_ADDRS)
			return 0;
		a = pool->addrs[j];
		if (ext_addr_active(a))
			return a;
		j = j + 1 == n ? 0 : j + 1;
	}
	return 0;
}

/* Host @inside's entry, read at once, in *@snap: false if none is paired. */
static __always_inline bool host_pairing(__be32 inside,
					 struct bpfmasq_host *snap)
{
	struct bpfmasq_host *h = bpf_map_lookup_elem(&hosts, &inside);

	if (!h)
		return false;
	snap->word = *(volatile __u64 *)&h->word;
	return snap->ext_addr && !(snap->ports & BPFMASQ_HOST_DEAD);
}

/*
 * The address a new mapping of inside host @inside goes on: the one the
 * host is paired with while it has mappings, or while that address is
 * ACTIVE; else a new pick. Only a pool has a choice. 0: none.
 */
static __always_inline __be32 ext_addr_of(const struct bpfmasq_config *cfg,
					  __be32 inside)
{
	struct bpfmasq_host snap;

	if (!(cfg->flags & BPFMASQ_CFG_POOL))
		return cfg->ext_addr;
	if (host_pairing(inside, &snap) &&
	    (snap.ports || ext_addr_active(snap.ext_addr)))
		return snap.ext_addr;
	return ext_addr_pick(inside);
}

/*
 * The address @inside's mappings are on now: the one its entry names
 * while it has mappings, else the first (a forward's, which no entry
 * counts). For what has no mapping of its own: later fragments.
 */
static __always_inline __be32 ext_addr_held(const struct bpfmasq_config *cfg,
					    __be32 inside)
{
	struct bpfmasq_host snap;

	if ((cfg->flags & BPFMASQ_CFG_POOL) && host_pairing(inside, &snap) &&
	    snap.ports)
		return snap.ext_addr;
	return cfg->ext_addr;
}

#endif /* BPFMASQ_ADDRS_H */
