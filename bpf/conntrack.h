/* SPDX-License-Identifier: GPL-2.0 */
/*
 * conntrack.h - sessions: one per (inside endpoint, remote endpoint), with
 * last-seen time, counters and a TCP state good enough to pick the RFC 5382
 * timeouts. The garbage collector in userspace expires them.
 */
#ifndef BPFMASQ_CONNTRACK_H
#define BPFMASQ_CONNTRACK_H

#include "maps.h"
#include "parse.h"

#ifndef EEXIST
#define EEXIST 17
#endif
#ifndef ENOSPC
#define ENOSPC 28
#endif

/* A map key for an endpoint: padding zeroed, as hash keys need. */
static __always_inline void endpoint_make(struct bpfmasq_endpoint *ep,
					  __be32 addr, __be16 port, __u8 proto)
{
	__builtin_memset(ep, 0, sizeof(*ep));
	ep->addr = addr;
	ep->port = port;
	ep->proto = proto;
}

/*
 * The session key of a flow. ICMP echo sessions are keyed by the inside id
 * only: the id a reply carries is the translated one.
 */
static __always_inline void session_key_make(struct bpfmasq_session_key *key,
					     __be32 inside_addr,
					     __be16 inside_port,
					     __be32 remote_addr,
					     __be16 remote_port, __u8 proto)
{
	__builtin_memset(key, 0, sizeof(*key));
	key->inside_addr = inside_addr;
	key->inside_port = inside_port;
	key->remote_addr = remote_addr;
	key->remote_port = proto == IPPROTO_ICMP ? 0 : remote_port;
	key->proto = proto;
}

static __always_inline __u8 tcp_initial_state(__u8 flags)
{
	if (flags & TCPF_RST)
		return BPFMASQ_TCP_RST_SEEN;
	if ((flags & (TCPF_SYN | TCPF_ACK)) == TCPF_SYN)
		return BPFMASQ_TCP_SYN_SENT;
	if (flags & TCPF_FIN)
		return BPFMASQ_TCP_FIN_SEEN;
	/* Picked up mid-stream, e.g. after a flush: keep it working. */
	return BPFMASQ_TCP_ESTABLISHED;
}

/*
 * Advance the TCP state. Plain segments of an established connection, the
 * common case, write nothing.
 */
static __always_inline void tcp_track(struct bpfmasq_session *s, __u8 flags,
				      bool out)
{
	__u8 state = s->tcp_state;

	if (!(flags & (TCPF_SYN | TCPF_FIN | TCPF_RST)) &&
	    state == BPFMASQ_TCP_ESTABLISHED)
		return;

	if (flags & TCPF_RST) {
		s->tcp_state = BPFMASQ_TCP_RST_SEEN;
		return;
	}
	if (flags & TCPF_SYN) {
		if (!(flags & TCPF_ACK)) {
			/* A new connection reusing a closing session's tuple. */
			if (state >= BPFMASQ_TCP_FIN_SEEN) {
				s->tcp_state = BPFMASQ_TCP_SYN_SENT;
				s->flags &= ~(BPFMASQ_SESS_FIN_OUT |
					      BPFMASQ_SESS_FIN_IN);
			}
			return;
		}
		if (state == BPFMASQ_TCP_SYN_SENT)
			s->tcp_state = BPFMASQ_TCP_ESTABLISHED;
		return;
	}
	if (flags & TCPF_FIN) {
		if (state == BPFMASQ_TCP_RST_SEEN ||
		    state == BPFMASQ_TCP_CLOSED)
			return;
		s->flags |= out ? BPFMASQ_SESS_FIN_OUT : BPFMASQ_SESS_FIN_IN;
		if ((s->flags & (BPFMASQ_SESS_FIN_OUT | BPFMASQ_SESS_FIN_IN)) ==
		    (BPFMASQ_SESS_FIN_OUT | BPFMASQ_SESS_FIN_IN))
			s->tcp_state = BPFMASQ_TCP_CLOSED;
		else
			s->tcp_state = BPFMASQ_TCP_FIN_SEEN;
		return;
	}
	/* An ACK from the other side completes a (simultaneous) open. */
	if (state == BPFMASQ_TCP_SYN_SENT && (flags & TCPF_ACK) &&
	    (s->flags & BPFMASQ_SESS_REPLIED))
		s->tcp_state = BPFMASQ_TCP_ESTABLISHED;
}

/* Account one packet to a session; @out is the direction from inside. */
static __always_inline void session_touch(struct bpfmasq_session *s,
					  const struct pkt *p, bool out,
					  __u64 now)
{
	s->last_ns = now;
	if (out) {
		__sync_fetch_and_add(&s->packets_out, 1);
		__sync_fetch_and_add(&s->bytes_out, p->ip_len);
	} else {
		__sync_fetch_and_add(&s->packets_in, 1);
		__sync_fetch_and_add(&s->bytes_in, p->ip_len);
		if (!(s->flags & BPFMASQ_SESS_REPLIED))
			s->flags |= BPFMASQ_SESS_REPLIED;
	}
	if (p->proto == IPPROTO_TCP)
		tcp_track(s, p->tcp_flags, out);
}

/*
 * Insert a new session; if another CPU inserted the same one first, use
 * theirs. Returns NULL when the table is full (TABLE_FULL to the caller).
 */
static __always_inline struct bpfmasq_session *
session_create(const struct bpfmasq_session_key *key, __be32 ext_addr,
	       __be16 ext_port, const struct pkt *p, __u8 flags, __u64 now)
{
	struct bpfmasq_session val = {
		.last_ns = now,
		.created_ns = now,
		.ext_addr = ext_addr,
		.ext_port = ext_port,
		.flags = flags,
	};
	long err;

	if (p->proto == IPPROTO_TCP)
		val.tcp_state = tcp_initial_state(p->tcp_flags);
	err = bpf_map_update_elem(&sessions, key, &val, BPF_NOEXIST);
	if (err && err != -EEXIST)
		return NULL;
	if (!err)
		stat_inc(BPFMASQ_STAT_NEW_SESSION);
	return bpf_map_lookup_elem(&sessions, key);
}

#endif /* BPFMASQ_CONNTRACK_H */
