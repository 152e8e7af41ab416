/* SPDX-License-Identifier: GPL-2.0 */
/*
 * room.h - room in a full session table at insert time (RFC 6888 REQ-11).
 * The collector queues the oldest sessions that give way (never answered,
 * or closed); a new outbound flow that finds the session or the mapping
 * table full takes one from the queue and, if it still gives way, deletes
 * it for itself, with its mapping when it was the mapping's last session.
 * A session that was answered and is open is never deleted to make room.
 * Only flows from inside make room: a stranger's packet never evicts.
 */
#ifndef BPFMASQ_ROOM_H
#define BPFMASQ_ROOM_H

#include <stdbool.h>

#include "conntrack.h"
#include "maps.h"
#include "ports.h"

/*
 * The mapping of victim @v's inside endpoint goes too, if @v was its last
 * session and none has started on it since it was queued (a packet since,
 * even one dropped, stamped it): true if it went.
 */
static __always_inline bool victim_mapping(const struct bpfmasq_victim *v,
					   __u64 now)
{
	struct bpfmasq_endpoint inside;
	struct bpfmasq_mapping *m;

	if (!(v->flags & BPFMASQ_VICTIM_LAST))
		return false;
	endpoint_make(&inside, v->key.inside_addr, v->key.inside_port,
		      v->key.proto);
	m = bpf_map_lookup_elem(&mappings, &inside);
	return m && m->used_ms == v->map_stamp &&
	       !mapping_release(&inside, m, v->map_stamp, false, now);
}

/*
 * Delete one queued session that still gives way: true if one went, and,
 * if the flow needs room in the mappings table (@mapping), its mapping
 * with it; a victim whose mapping stays does not end the search. A global
 * function, which the verifier checks once, not at each of the places
 * that make room.
 */
__attribute__((noinline)) int session_make_room(__u64 now, bool mapping)
{
	struct bpfmasq_session *s;
	struct bpfmasq_victim v;
	int i;

	for (i = 0; i < BPFMASQ_EVICT_TRIES; i++) {
		if (bpf_map_pop_elem(&evict_queue, &v))
			return false;
		s = bpf_map_lookup_elem(&sessions, &v.key);
		if (!s || !bpfmasq_gives_way(v.key.proto, s) ||
		    session_remove(&v.key, s))
			continue;
		stat_inc(BPFMASQ_STAT_EVICTED);
		if (victim_mapping(&v, now) || !mapping)
			return true;
	}
	return false;
}

/*
 * session_create() for a flow from inside, in *@s, which may make room
 * for itself, and counts for its host (--max-sessions-per-host):
 * NAT_CONTINUE, HOST_SESSION_LIMIT or TABLE_FULL.
 */
static __always_inline __u32
session_create_out(const struct bpfmasq_session_key *key, __be32 ext_addr,
		   __be16 ext_port, const struct pkt *p, __u8 flags, __u64 now,
		   bool *created, struct bpfmasq_session **s)
{
	__u32 reason = host_session_take(key->inside_addr, now);
	bool made = false;

	*s = NULL;
	if (reason != NAT_CONTINUE)
		return reason;
	*s = session_create(key, ext_addr, ext_port, p, flags, now, &made);
	if (!*s && session_make_room(now, false))
		*s = session_create(key, ext_addr, ext_port, p, flags, now,
				    &made);
	/* Another CPU's, or none: counted by that CPU, or not at all. */
	if (!made)
		host_session_put(key->inside_addr);
	else if (created)
		*created = true;
	return *s ? NAT_CONTINUE : BPFMASQ_STAT_TABLE_FULL;
}

#endif /* BPFMASQ_ROOM_H */
