/* SPDX-License-Identifier: GPL-2.0 */
/*
 * conntrack.h - sessions: one per (inside endpoint, remote endpoint), with
 * last-seen time, counters and a TCP state good enough to pick the RFC 5382
 * timeouts, which RSTs and FINs move only from within the window each side
 * offered (a RST only from exactly its left edge). The garbage collector
 * in userspace expires them.
 */
#ifndef BPFMASQ_CONNTRACK_H
#define BPFMASQ_CONNTRACK_H

#include <stdbool.h>

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
	/*
	 * Picked up mid-stream, e.g. after a flush: keep it working, but
	 * transitory until the remote answers, so that stray segments do
	 * not hold the table for the established timeout.
	 */
	return BPFMASQ_TCP_PICKED_UP;
}

/* Index of the sides in session.tcp. */
#define TCP_INSIDE 0
#define TCP_REMOTE 1

/* A side of which nothing is known: any window, up to the largest scale. */
#define TCP_PEER_UNSEEN                                                        \
	((struct bpfmasq_tcp_peer){ .wscale = BPFMASQ_WSCALE_MAX })

/*
 * Could a RST or FIN with this sequence number come from side @from? It
 * must lie in the window the other side offered (RFC 5961 3.2, 4.2; an
 * end host challenges what is in the window and not exact, so the NAT
 * takes the whole window). Before that side has sent anything, a RST must
 * acknowledge its SYN (RFC 9293 3.10.7.3). When nothing at all is known
 * (a session picked up from this side's own segments), there is nothing
 * to check: it is taken.
 */
static __always_inline bool tcp_plausible(const struct bpfmasq_session *s,
					  const struct pkt *p, int from)
{
	const struct bpfmasq_tcp_peer *snd = &s->u.tcp[from];
	const struct bpfmasq_tcp_peer *rcv = &s->u.tcp[!from];

	if (rcv->flags & (BPFMASQ_PEER_KNOWN | BPFMASQ_PEER_EXPECT))
		return p->tcp_seq - rcv->ack <= (__u32)rcv->win
							<< (rcv->wscale & 15);
	if (snd->flags & BPFMASQ_PEER_EXPECT)
		return (p->tcp_flags & TCPF_ACK) && p->tcp_ack == snd->ack;
	return true;
}

/*
 * Is a RST that tcp_plausible() took exactly where the receiver expects
 * the next byte, as far as the NAT knows (its latest acknowledgment)? Only
 * such a RST resets an RFC 5961 end host; one elsewhere in the window draws
 * a challenge ACK instead. Within the window of a side that has not sent
 * anything yet, and when nothing is known, every plausible RST is exact.
 */
static __always_inline bool tcp_rst_exact(const struct bpfmasq_session *s,
					  const struct pkt *p, int from)
{
	const struct bpfmasq_tcp_peer *rcv = &s->u.tcp[!from];

	return !(rcv->flags & BPFMASQ_PEER_KNOWN) || p->tcp_seq == rcv->ack;
}

/*
 * Slack around a FIN's acknowledgment: the data it acknowledges was sent
 * into a window offered earlier, which may have shrunk since, and a FIN or
 * a zero-window probe takes one number past it.
 */
#define TCP_ACK_SLACK 65536u

/*
 * Does a FIN from side @from acknowledge no more than the other side can
 * have sent, and not much less than it already acknowledged (RFC 5961 5)?
 * The other side sends at most into the window @from last offered. A host
 * discards a segment without ACK once it has seen the SYNs.
 */
static __always_inline bool tcp_ack_plausible(const struct bpfmasq_session *s,
					      const struct pkt *p, int from)
{
	const struct bpfmasq_tcp_peer *snd = &s->u.tcp[from];

	if (!(snd->flags & BPFMASQ_PEER_KNOWN))
		return true;
	if (!(p->tcp_flags & TCPF_ACK))
		return false;
	return p->tcp_ack - snd->ack + TCP_ACK_SLACK <=
	       ((__u32)snd->win << (snd->wscale & 15)) + 2 * TCP_ACK_SLACK;
}

/* What side @me acknowledges and offers, from a segment it sent with ACK. */
static __always_inline void tcp_learn(struct bpfmasq_tcp_peer *me,
				      const struct pkt *p)
{
	/* A late, reordered segment does not take the window back. */
	if ((me->flags & BPFMASQ_PEER_KNOWN) &&
	    (__s32)(p->tcp_ack - me->ack) < 0)
		return;
	me->ack = p->tcp_ack;
	me->win = p->tcp_win;
	me->flags = (me->flags & ~BPFMASQ_PEER_EXPECT) | BPFMASQ_PEER_KNOWN;
}

/*
 * A SYN from side @from: its window scale (in effect only if both SYNs
 * offer one, RFC 7323 2.2), its window if it acknowledges the other's SYN
 * (never scaled in a SYN), and the acknowledgment the other side owes it.
 */
static __always_inline void tcp_syn(struct bpfmasq_session *s,
				    const struct pkt *p, int from)
{
	struct bpfmasq_tcp_peer *me = &s->u.tcp[from];
	struct bpfmasq_tcp_peer *other = &s->u.tcp[!from];
	__u32 unit;

	if (p->tcp_wscale == PKT_WSCALE_NONE) {
		me->wscale = 0;
		other->wscale = 0;
		me->flags |= BPFMASQ_PEER_NO_WSCALE;
	} else if (!(other->flags & BPFMASQ_PEER_NO_WSCALE)) {
		me->wscale = p->tcp_wscale;
	}
	if (p->tcp_flags & TCPF_ACK) {
		/* Rounded up: the window is never taken smaller than it is. */
		unit = (1u << (me->wscale & 15)) - 1;
		me->ack = p->tcp_ack;
		me->win = (p->tcp_win + unit) >> (me->wscale & 15);
		me->flags =
			(me->flags & ~BPFMASQ_PEER_EXPECT) | BPFMASQ_PEER_KNOWN;
	}
	if (!(other->flags & BPFMASQ_PEER_KNOWN)) {
		other->ack = p->tcp_seq + 1;
		other->win = 0;
		other->flags |= BPFMASQ_PEER_EXPECT;
	}
}

/*
 * Everything but a plain segment of an established connection: opening,
 * closing, picking up. Not inlined: each path carries one copy.
 */
static __noinline void tcp_track_slow(struct bpfmasq_session *s,
				      const struct pkt *p, bool out)
{
	const int from = out ? TCP_INSIDE : TCP_REMOTE;
	struct bpfmasq_tcp_peer *me = &s->u.tcp[from];
	__u8 state = s->tcp_state;
	__u8 flags = p->tcp_flags;

	/* Any segment but a RST after a RST in doubt: it was not taken. */
	if (!(flags & TCPF_RST))
		s->flags &= ~BPFMASQ_SESS_RST_UNSURE;
	if (!(flags & (TCPF_SYN | TCPF_FIN | TCPF_RST))) {
		if (flags & TCPF_ACK)
			tcp_learn(me, p);
		/* An ACK from the other side completes a (simultaneous) open. */
		if (state == BPFMASQ_TCP_SYN_SENT && (flags & TCPF_ACK) &&
		    (s->flags & BPFMASQ_SESS_REPLIED))
			s->tcp_state = BPFMASQ_TCP_ESTABLISHED;
		/* The remote answers a connection picked up mid-stream. */
		else if (state == BPFMASQ_TCP_PICKED_UP && !out &&
			 tcp_plausible(s, p, from))
			s->tcp_state = BPFMASQ_TCP_ESTABLISHED;
		return;
	}

	if (flags & TCPF_RST) {
		if (!tcp_plausible(s, p, from))
			goto out_of_window;
		if (tcp_rst_exact(s, p, from)) {
			s->tcp_state = BPFMASQ_TCP_RST_SEEN;
			s->flags &= ~BPFMASQ_SESS_RST_UNSURE;
			return;
		}
		/*
		 * In the window, not exact: the end host answers with a
		 * challenge ACK (which clears the doubt) or, if it had
		 * received more than it acknowledged, resets. Keep the
		 * state, but let the session give way under pressure.
		 */
		s->flags |= BPFMASQ_SESS_RST_UNSURE;
		stat_inc(BPFMASQ_STAT_TCP_RST_INEXACT);
		return;
	}
	if (flags & TCPF_SYN) {
		if (!(flags & TCPF_ACK)) {
			/* A new connection reusing a closing session's tuple. */
			if (state >= BPFMASQ_TCP_FIN_SEEN) {
				s->tcp_state = BPFMASQ_TCP_SYN_SENT;
				s->flags &= ~(BPFMASQ_SESS_FIN_OUT |
					      BPFMASQ_SESS_FIN_IN);
				s->u.tcp[TCP_INSIDE] = TCP_PEER_UNSEEN;
				s->u.tcp[TCP_REMOTE] = TCP_PEER_UNSEEN;
			} else if (state != BPFMASQ_TCP_SYN_SENT) {
				return;
			}
			tcp_syn(s, p, from);
			return;
		}
		/* The other side's SYN-ACK of a simultaneous open comes late. */
		if (state == BPFMASQ_TCP_SYN_SENT ||
		    (state == BPFMASQ_TCP_ESTABLISHED &&
		     !(me->flags & BPFMASQ_PEER_KNOWN))) {
			tcp_syn(s, p, from);
			s->tcp_state = BPFMASQ_TCP_ESTABLISHED;
		}
		return;
	}
	/* A FIN. */
	if (!tcp_plausible(s, p, from) || !tcp_ack_plausible(s, p, from))
		goto out_of_window;
	if (flags & TCPF_ACK)
		tcp_learn(me, p);
	if (state == BPFMASQ_TCP_RST_SEEN || state == BPFMASQ_TCP_CLOSED)
		return;
	s->flags |= out ? BPFMASQ_SESS_FIN_OUT : BPFMASQ_SESS_FIN_IN;
	if ((s->flags & (BPFMASQ_SESS_FIN_OUT | BPFMASQ_SESS_FIN_IN)) ==
	    (BPFMASQ_SESS_FIN_OUT | BPFMASQ_SESS_FIN_IN))
		s->tcp_state = BPFMASQ_TCP_CLOSED;
	else
		s->tcp_state = BPFMASQ_TCP_FIN_SEEN;
	return;

out_of_window:
	stat_inc(BPFMASQ_STAT_TCP_OUT_OF_WINDOW);
}

/*
 * Advance the TCP state. Plain segments of an established connection, the
 * common case, only note what their sender acknowledges and offers when
 * it moved: the data sender's segments write nothing. A RST or FIN outside
 * the window (a blind spoof, or a stale one) is still translated, for the
 * end host to judge (and answer with a challenge ACK, RFC 5961), but
 * moves nothing and is counted.
 */
static __always_inline void tcp_track(struct bpfmasq_session *s,
				      const struct pkt *p, bool out)
{
	struct bpfmasq_tcp_peer *me = &s->u.tcp[out ? TCP_INSIDE : TCP_REMOTE];

	if (!(p->tcp_flags & (TCPF_SYN | TCPF_FIN | TCPF_RST)) &&
	    s->tcp_state == BPFMASQ_TCP_ESTABLISHED) {
		/* A segment after a RST in doubt: the connection lives on. */
		if (s->flags & BPFMASQ_SESS_RST_UNSURE)
			s->flags &= ~BPFMASQ_SESS_RST_UNSURE;
		if ((p->tcp_flags & TCPF_ACK) &&
		    (p->tcp_ack != me->ack || p->tcp_win != me->win))
			tcp_learn(me, p);
		return;
	}
	tcp_track_slow(s, p, out);
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
	}
	/* The side that did not open the session answers. */
	if (!out == !(s->flags & BPFMASQ_SESS_INBOUND) &&
	    !(s->flags & BPFMASQ_SESS_REPLIED))
		s->flags |= BPFMASQ_SESS_REPLIED;
	if (p->proto == IPPROTO_TCP)
		tcp_track(s, p, out);
}

/*
 * Insert a new session (then *@created is set, unless NULL); if another
 * CPU inserted the same one first, use theirs. Returns NULL when the table is full
 * (TABLE_FULL to the caller).
 */
static __always_inline struct bpfmasq_session *
session_create(const struct bpfmasq_session_key *key, __be32 ext_addr,
	       __be16 ext_port, const struct pkt *p, __u8 flags, __u64 now,
	       bool *created)
{
	struct bpfmasq_session val = {
		.last_ns = now,
		.ext_addr = ext_addr,
		.ext_port = ext_port,
		.flags = flags,
	};
	long err;

	if (p->proto == IPPROTO_TCP) {
		val.tcp_state = tcp_initial_state(p->tcp_flags);
		val.u.tcp[TCP_INSIDE] = TCP_PEER_UNSEEN;
		val.u.tcp[TCP_REMOTE] = TCP_PEER_UNSEEN;
	}
	err = bpf_map_update_elem(&sessions, key, &val, BPF_NOEXIST);
	if (err && err != -EEXIST)
		return NULL;
	if (!err) {
		stat_inc(BPFMASQ_STAT_NEW_SESSION);
		if (created)
			*created = true;
	}
	return bpf_map_lookup_elem(&sessions, key);
}

#endif /* BPFMASQ_CONNTRACK_H */
