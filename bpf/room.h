/* SPDX-License-Identifier: GPL-2.0 */
/*
 * room.h - room in a full session table at insert time (RFC 6888 REQ-11).
 * The collector queues the keys of the oldest sessions that give way (never
 * answered, or closed); a new outbound flow that finds the table full takes
 * one from the queue and, if it still gives way, deletes it for itself. A
 * session that was answered and is open is never deleted to make room.
 * Only flows from inside make room: a stranger's packet never evicts.
 */
#ifndef BPFMASQ_ROOM_H
#define BPFMASQ_ROOM_H

#include <stdbool.h>

#include "conntrack.h"
#include "maps.h"
#include "ports.h"

/* As the collector's gives_way() (gc.c): may this session make room? */
static __always_inline bool
session_gives_way(const struct bpfmasq_session_key *k,
		  const struct bpfmasq_session *s)
{
	if (s->flags & BPFMASQ_SESS_LENT)
		return false; /* it goes with the session it is lent to */
	if (!(s->flags & BPFMASQ_SESS_REPLIED))
		return true;
	return k->proto == IPPROTO_TCP &&
	       (s->tcp_state == BPFMASQ_TCP_CLOSED ||
		s->tcp_state == BPFMASQ_TCP_RST_SEEN);
}

/* Delete one queued session that still gives way: true if one went. */
static __always_inline bool session_make_room(void)
{
	struct bpfmasq_session_key k;
	struct bpfmasq_session *s;
	int i;

	for (i = 0; i < BPFMASQ_EVICT_TRIES; i++) {
		if (bpf_map_pop_elem(&evict_queue, &k))
			return false;
		s = bpf_map_lookup_elem(&sessions, &k);
		if (s && session_gives_way(&k, s) && !session_remove(&k, s)) {
			stat_inc(BPFMASQ_STAT_EVICTED);
			return true;
		}
	}
	return false;
}

/* session_create() for a flow from inside, which may make room for itself. */
static __always_inline struct bpfmasq_session *
session_create_out(const struct bpfmasq_session_key *key, __be32 ext_addr,
		   __be16 ext_port, const struct pkt *p, __u8 flags, __u64 now,
		   bool *created)
{
	struct bpfmasq_session *s;

	s = session_create(key, ext_addr, ext_port, p, flags, now, created);
	if (s || !session_make_room())
		return s;
	return session_create(key, ext_addr, ext_port, p, flags, now, created);
}

#endif /* BPFMASQ_ROOM_H */
