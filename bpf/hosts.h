/* SPDX-License-Identifier: GPL-2.0 */
/*
 * hosts.h - the ports each inside host's mappings hold, against
 * --max-ports-per-host (RFC 6888 REQ-4): one host cannot take the whole
 * pool, and the external address they are all on (paired pooling,
 * addrs.h); and its own sessions, against --max-sessions-per-host: nor
 * the whole table. A port is counted when a mapping is made, uncounted
 * when it is released; a forward's mapping is not counted (the collector
 * makes it). A session is counted when a flow from inside makes one,
 * uncounted when it is removed. An entry
 * the collector is deleting (DEAD, swapped in at 0) takes no more counts:
 * a mapping made meanwhile counts itself in a new one.
 */
#ifndef BPFMASQ_HOSTS_H
#define BPFMASQ_HOSTS_H

#include "maps.h"
#include "verdict.h"

/* --max-ports-per-host, set at load (0: no limit). */
const volatile __u32 host_max_ports;

/* Host @addr's entry, made as @fresh if it has none; NULL: table full. */
static __always_inline struct bpfmasq_host *
host_entry(__be32 addr, const struct bpfmasq_host *fresh)
{
	struct bpfmasq_host *h = bpf_map_lookup_elem(&hosts, &addr);

	if (h)
		return h;
	bpf_map_update_elem(&hosts, &addr, fresh, BPF_NOEXIST);
	return bpf_map_lookup_elem(&hosts, &addr);
}

/* Swaps tried against other CPUs' counts of the same host. */
#define HOST_TAKE_TRIES 8

/*
 * Count one more port for inside host @addr, on external address @ext:
 * NAT_CONTINUE, else the reason the mapping may not be made (the host is
 * at the limit: counted in its entry too; or it was paired with another
 * address meanwhile, or other CPUs kept changing its count: the next
 * packet tries again). Count and address change in one swap, and the
 * address only while the count is 0: all of a host's mappings are on one.
 */
static __always_inline __u32 host_port_take(__be32 addr, __be32 ext, __u64 now)
{
	struct bpfmasq_host fresh = { .ext_addr = ext }, *h, old, cur;
	int i;

	for (i = 0; i < HOST_TAKE_TRIES; i++) {
		h = host_entry(addr, &fresh);
		if (!h)
			return BPFMASQ_STAT_TABLE_FULL;
		old.word = *(volatile __u64 *)&h->word;
		/* Being deleted: a new entry, then. */
		if (old.ports & BPFMASQ_HOST_DEAD)
			continue;
		if (old.ports && old.ext_addr && old.ext_addr != ext)
			return BPFMASQ_STAT_MAPPING_RELEASED;
		if (host_max_ports && old.ports >= host_max_ports) {
			__sync_fetch_and_add(&h->limited, 1);
			h->limited_ns = now;
			return BPFMASQ_STAT_HOST_PORT_LIMIT;
		}
		cur.ports = old.ports + 1;
		cur.ext_addr = ext;
		if (__sync_val_compare_and_swap(&h->word, old.word, cur.word) ==
		    old.word)
			return NAT_CONTINUE;
	}
	/* Not a full table: no session is to give way for it. */
	return BPFMASQ_STAT_MAPPING_RELEASED;
}

/*
 * Count one more session of inside host @addr's own: NAT_CONTINUE, or
 * HOST_SESSION_LIMIT (counted in its entry) at --max-sessions-per-host.
 */
static __always_inline __u32 host_session_take(__be32 addr, __u64 now)
{
	struct bpfmasq_host fresh = {}, *h;
	const struct bpfmasq_limits *l;
	__u32 zero = 0, old, max;
	int i;

	l = bpf_map_lookup_elem(&limits, &zero);
	max = l ? l->max_sessions_per_host : 0;
	for (i = 0; i < 2; i++) {
		h = host_entry(addr, &fresh);
		if (!h)
			return BPFMASQ_STAT_TABLE_FULL;
		old = __sync_fetch_and_add(&h->sessions, 1);
		/* Being deleted (it counted none): a new entry, then. */
		if (*(volatile __u32 *)&h->ports & BPFMASQ_HOST_DEAD) {
			__sync_fetch_and_add(&h->sessions, -1);
			continue;
		}
		if (max && old >= max) {
			__sync_fetch_and_add(&h->sessions, -1);
			__sync_fetch_and_add(&h->limited, 1);
			h->limited_ns = now;
			return BPFMASQ_STAT_HOST_SESSION_LIMIT;
		}
		return NAT_CONTINUE;
	}
	return BPFMASQ_STAT_TABLE_FULL;
}

/* One session fewer for @addr (never below 0). */
static __always_inline void host_session_put(__be32 addr)
{
	struct bpfmasq_host *h = bpf_map_lookup_elem(&hosts, &addr);

	if (h && !__sync_fetch_and_add(&h->sessions, -1))
		__sync_fetch_and_add(&h->sessions, 1);
}

/* One port fewer for @addr (never below 0, nor on a DEAD entry). */
static __always_inline void host_port_put(__be32 addr)
{
	struct bpfmasq_host *h = bpf_map_lookup_elem(&hosts, &addr);
	__u32 old;

	if (!h)
		return;
	old = __sync_fetch_and_add(&h->ports, -1);
	if (!old || (old & BPFMASQ_HOST_DEAD))
		__sync_fetch_and_add(&h->ports, 1);
}

#endif /* BPFMASQ_HOSTS_H */
