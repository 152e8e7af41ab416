/* SPDX-License-Identifier: GPL-2.0 */
/*
 * share.h - external ports shared when a pool has run dry, as nft's
 * masquerade and VPP's NAT44-ED do: a new flow takes a port that another
 * mapping owns, for its own remote endpoint only. Replies are told apart
 * by their source, so the owner's flows and the borrowed one never meet.
 *
 * The owner's session key with that remote is the lock: the borrower
 * inserts a LENT entry there with BPF_NOEXIST, which fails if the owner
 * (or another borrower) already talks to that remote from the port, and
 * keeps the owner from starting such a flow later. Replies to the port
 * find the entry where the owner's session would be and follow it to the
 * borrower's SHARED session. A shared flow has no mapping of its own: its
 * mapping is endpoint-dependent, the price of getting through at all.
 */
#ifndef BPFMASQ_SHARE_H
#define BPFMASQ_SHARE_H

#include "conntrack.h"
#include "maps.h"
#include "ports.h"
#include "room.h"
#include "verdict.h"

/*
 * The instance's port ranges, which the loader sets before load: share_lo[i]
 * is the first port of range i, share_n[i] its number of ports, share_ports
 * their sum; 0 turns sharing off (--no-port-sharing).
 */
const volatile __u16 share_lo[BPFMASQ_MAX_PORT_RANGES];
const volatile __u32 share_n[BPFMASQ_MAX_PORT_RANGES];
const volatile __u32 share_ports;

/* A port of the ranges, at random. */
static __always_inline __be16 share_pick(void)
{
	__u32 r = bpf_get_prandom_u32() % share_ports;

	if (r < share_n[0])
		return bpf_htons(share_lo[0] + r);
	return bpf_htons(share_lo[1] + (r - share_n[0]));
}

/*
 * Borrow port @ext of @owner for the flow @key of @inside: the owner's
 * mapping must be live (and is stamped, so the collector does not release
 * it meanwhile), then the LENT entry is claimed. 0, -EEXIST when the
 * owner or another borrower talks to this remote from the port, -EBUSY
 * when the mapping is going, another error when the table is full.
 */
static __always_inline long port_borrow(const struct bpfmasq_endpoint *ext,
					const struct bpfmasq_endpoint *owner,
					const struct bpfmasq_endpoint *inside,
					const struct bpfmasq_session_key *key,
					__u64 now,
					struct bpfmasq_session_key *lk)
{
	struct bpfmasq_session lent = { .last_ns = now,
					.ext_addr = ext->addr,
					.ext_port = ext->port,
					.flags = BPFMASQ_SESS_LENT };
	struct bpfmasq_mapping *m = bpf_map_lookup_elem(&mappings, owner);

	if (!m || m->ext_addr != ext->addr || m->ext_port != ext->port ||
	    mapping_use(owner, m, now) != NAT_CONTINUE)
		return -EBUSY;
	lent_key(lk, owner, key);
	lent.lent_to = *inside;
	return bpf_map_update_elem(&sessions, lk, &lent, BPF_NOEXIST);
}

/*
 * A new flow whose address has no free port: a session on a port another
 * mapping owns, in *@s. NAT_CONTINUE, PORT_POOL_EMPTY when none of the
 * ports tried can be shared, TABLE_FULL.
 */
static __always_inline __u32 nat_flow_share(
	const struct bpfmasq_config *cfg, const struct bpfmasq_endpoint *inside,
	const struct bpfmasq_session_key *key, const struct pkt *p, __u64 now,
	struct bpfmasq_session **s)
{
	struct bpfmasq_endpoint ext, owner;
	struct bpfmasq_session_key lk;
	bool created = false;
	long err;
	int i;

	if (!share_ports)
		return BPFMASQ_STAT_PORT_POOL_EMPTY;
	for (i = 0; i < BPFMASQ_SHARE_TRIES; i++) {
		endpoint_make(&ext, cfg->ext_addr, share_pick(), inside->proto);
		if (!port_owner(&ext, &owner) ||
		    (owner.addr == inside->addr && owner.port == inside->port))
			continue;
		err = port_borrow(&ext, &owner, inside, key, now, &lk);
		if (err == -EEXIST || err == -EBUSY)
			continue;
		if (err)
			return BPFMASQ_STAT_TABLE_FULL;
		*s = session_create_out(key, ext.addr, ext.port, p,
					BPFMASQ_SESS_SHARED, now, &created);
		/* No room, or another CPU made this flow first. */
		if (!created)
			lent_return(&lk, inside);
		if (!*s)
			return BPFMASQ_STAT_TABLE_FULL;
		if (created)
			stat_inc(BPFMASQ_STAT_PORT_SHARED);
		return NAT_CONTINUE;
	}
	return BPFMASQ_STAT_PORT_POOL_EMPTY;
}

#endif /* BPFMASQ_SHARE_H */
