/* SPDX-License-Identifier: GPL-2.0 */
/*
 * nat.h - the two translation paths: outbound (WAN egress) finds or makes
 * the flow's mapping and session and rewrites the source; inbound (WAN
 * ingress) finds the owner of the external port and the session and
 * rewrites the destination. Each returns the reason its packet ends under
 * (verdict.h). Written once over ctx.h for XDP and TC.
 */
#ifndef BPFMASQ_NAT_H
#define BPFMASQ_NAT_H

#include <stdbool.h>

#include "conntrack.h"
#include "frag.h"
#include "icmp.h"
#include "maps.h"
#include "parse.h"
#include "policy.h"
#include "ports.h"
#include "rewrite.h"
#include "room.h"
#include "share.h"
#include "static.h"
#include "verdict.h"

/* Parse; what is not IPv4 passes, what is malformed is dropped. */
static __always_inline __u32 nat_parse(void *ctx, const enum ctx_kind kind,
				       struct pkt *p)
{
	switch (parse_packet(ctx, kind, p)) {
	case PARSE_NOT_IPV4:
		return BPFMASQ_STAT_NON_IPV4;
	case PARSE_MALFORMED:
		return BPFMASQ_STAT_MALFORMED;
	}
	return NAT_CONTINUE;
}

/* The mapping of @inside (found or made), then a session on it in *@s. */
static __always_inline __u32 nat_flow_bind(
	const struct bpfmasq_config *cfg, const struct bpfmasq_endpoint *inside,
	const struct bpfmasq_session_key *key, const struct pkt *p, __u64 now,
	struct bpfmasq_session **s)
{
	struct bpfmasq_mapping *m;
	bool created = false;
	__be32 addr = 0;
	__u32 reason;

	reason = mapping_get(cfg, inside, now, &created, &m, &addr);
	/* No room for the mapping: a session that gives way makes some. */
	if (reason == BPFMASQ_STAT_TABLE_FULL && session_make_room(now, true))
		reason = mapping_get(cfg, inside, now, &created, &m, &addr);
	/* Paired pooling holds here too: a port of the host's address. */
	if (reason == BPFMASQ_STAT_PORT_POOL_EMPTY)
		return nat_flow_share(addr, inside, key, p, now, s);
	if (reason == NAT_CONTINUE)
		reason = mapping_use(inside, m, now);
	if (reason != NAT_CONTINUE)
		return reason;
	reason = session_create_out(key, m->ext_addr, m->ext_port, p, 0, now,
				    NULL, s);
	if (reason == NAT_CONTINUE)
		return NAT_CONTINUE;
	/* No session: a mapping made for it goes again. */
	if (created)
		mapping_release(inside, m, mapping_clock(now), true, now);
	return reason;
}

/* A new outbound flow: its mapping, then its session, in *@s. */
static __always_inline __u32 nat_new_flow_out(
	const struct bpfmasq_config *cfg, const struct bpfmasq_session_key *key,
	const struct pkt *p, __u64 now, struct bpfmasq_session **s)
{
	struct bpfmasq_endpoint inside;

	if (!cfg->ext_addr)
		return BPFMASQ_STAT_NO_ADDRESS;
	if (cfg->flags & BPFMASQ_CFG_FLUSHING)
		return BPFMASQ_STAT_FLUSHING;
	endpoint_make(&inside, p->saddr, p->sport, p->proto);
	return nat_flow_bind(cfg, &inside, key, p, now, s);
}

/*
 * The gateway's own echo request from the external address: translated
 * like an inside host's (its id from the pool, its address kept), so that
 * an inside host's mapping can never take its replies. Its own TCP and UDP
 * need no such thing: their ports lie outside the NAT's ranges, or are
 * reserved, or found by socket lookup.
 */
static __always_inline bool own_echo(const struct bpfmasq_config *cfg,
				     const struct pkt *p)
{
	return p->kind == PKT_ECHO_REQUEST && ext_addr_ours(cfg, p->saddr);
}

/*
 * Outbound: translate the source of packet @p (parsed) from an inside
 * host. A packet from inside that cannot be translated is dropped, never
 * sent with its inside address.
 */
static __always_inline __u32 nat_outbound_pkt(void *ctx,
					      const enum ctx_kind kind,
					      struct pkt *p)
{
	const struct bpfmasq_config *cfg;
	struct bpfmasq_session_key key;
	struct bpfmasq_session *s;
	__u32 reason;
	__u64 now;

	cfg = config_get();
	if (!cfg)
		return BPFMASQ_STAT_NO_ADDRESS; /* cannot happen: array map */

	/* Fragments and errors carry no session of their own to look up. */
	if ((p->kind == PKT_LATER_FRAGMENT || p->kind == PKT_ICMP_ERROR) &&
	    is_excluded(p->daddr))
		return BPFMASQ_STAT_EXCLUDED;
	if (p->kind == PKT_ICMP_ERROR)
		return nat_icmp_error_out(ctx, kind, p, is_inside(p->saddr));
	/* No session to look up: a static's, or as the kind says. */
	if (p->kind != PKT_PORTS && p->kind != PKT_ECHO_REQUEST) {
		reason = nat_static_out(ctx, kind, cfg, p);
		if (reason != NAT_CONTINUE)
			return reason;
		if (p->kind == PKT_LATER_FRAGMENT)
			return nat_fragment_out(ctx, kind, cfg, p);
		return is_inside(p->saddr) ? BPFMASQ_STAT_UNSUPPORTED
					   : BPFMASQ_STAT_NOT_INSIDE;
	}

	session_key_make(&key, p->saddr, p->sport, p->daddr, p->dport,
			 p->proto);

	now = bpf_ktime_get_boot_ns();
	s = bpf_map_lookup_elem(&sessions, &key);
	/*
	 * Left over from an old external address (one that has left the
	 * pool, too): start the flow anew.
	 */
	if (s && !ext_addr_ours(cfg, s->ext_addr)) {
		session_remove(&key, s);
		s = NULL;
	}
	/* Its port is lent for this remote: the owner cannot use it here. */
	if (s && (s->flags & BPFMASQ_SESS_LENT))
		return BPFMASQ_STAT_PORT_LENT;
	if (!s) {
		if (flow_missed(&key, p, now))
			return BPFMASQ_STAT_PORT_POOL_EMPTY;
		reason = nat_static_out(ctx, kind, cfg, p);
		if (reason != NAT_CONTINUE)
			return reason;
		if (!is_inside(p->saddr) && !own_echo(cfg, p))
			return BPFMASQ_STAT_NOT_INSIDE;
		if (is_excluded(p->daddr))
			return BPFMASQ_STAT_EXCLUDED;
		reason = nat_new_flow_out(cfg, &key, p, now, &s);
		if (reason != NAT_CONTINUE)
			return reason;
	}
	session_touch(s, p, true, now);
	if (nat_rewrite_src(ctx, kind, p, s->ext_addr, s->ext_port))
		return BPFMASQ_STAT_REWRITE_FAILED;
	return BPFMASQ_STAT_TRANSLATED_OUT;
}

/* Outbound (WAN egress): the packet, parsed, then translated. */
static __always_inline __u32 nat_outbound(void *ctx, const enum ctx_kind kind)
{
	struct pkt p;
	__u32 reason;

	reason = nat_parse(ctx, kind, &p);
	if (reason != NAT_CONTINUE)
		return reason;
	return nat_outbound_pkt(ctx, kind, &p);
}

/*
 * Has the gateway a socket of its own for @p (a listener, a bound UDP
 * socket)? Then it is the gateway's: a mapping on the port must not take
 * it. Only asked before a session is opened from outside.
 */
static __always_inline bool own_socket(void *ctx, const struct pkt *p)
{
	struct bpf_sock_tuple t = { .ipv4 = { .saddr = p->saddr,
					      .daddr = p->daddr,
					      .sport = p->sport,
					      .dport = p->dport } };
	struct bpf_sock *sk;

	if (p->proto == IPPROTO_TCP)
		sk = bpf_sk_lookup_tcp(ctx, &t, sizeof(t.ipv4),
				       BPF_F_CURRENT_NETNS, 0);
	else
		sk = bpf_sk_lookup_udp(ctx, &t, sizeof(t.ipv4),
				       BPF_F_CURRENT_NETNS, 0);
	if (!sk)
		return false;
	bpf_sk_release(sk);
	return true;
}

/*
 * Under endpoint-independent filtering, a packet from a new remote to the
 * live mapping of @inside opens a session of its own (TCP and UDP only),
 * in *@s; at most cfg->max_inbound per mapping, and never one for which
 * the gateway has a socket of its own.
 */
static __always_inline __u32
nat_new_flow_in(void *ctx, const struct bpfmasq_config *cfg,
		const struct bpfmasq_endpoint *inside,
		const struct bpfmasq_session_key *key, const struct pkt *p,
		__u64 now, struct bpfmasq_session **s)
{
	struct bpfmasq_mapping *m;
	bool created = false;
	__u32 reason;

	/* Only a TCP open may start one: stray segments would fill the table. */
	if (cfg->filtering != BPFMASQ_FILTER_INDEPENDENT ||
	    p->kind != PKT_PORTS ||
	    (p->proto == IPPROTO_TCP &&
	     (p->tcp_flags & (TCPF_SYN | TCPF_ACK | TCPF_RST)) != TCPF_SYN))
		return BPFMASQ_STAT_FILTERED;
	if (cfg->flags & BPFMASQ_CFG_FLUSHING)
		return BPFMASQ_STAT_FLUSHING;
	m = bpf_map_lookup_elem(&mappings, inside);
	if (!m || m->ext_addr != p->daddr || m->ext_port != p->dport)
		return BPFMASQ_STAT_FILTERED;
	if (m->inbound >= cfg->max_inbound)
		return BPFMASQ_STAT_INBOUND_LIMIT;
	if (own_socket(ctx, p))
		return BPFMASQ_STAT_NOT_OURS;
	/* Its datagram went elsewhere: no session for it either. */
	if (p->first_fragment && frag_conflicts(p, inside->addr, now))
		return BPFMASQ_STAT_FRAG_CONFLICT;
	reason = mapping_use(inside, m, now);
	if (reason != NAT_CONTINUE)
		return reason;
	*s = session_create(key, p->daddr, p->dport, p, BPFMASQ_SESS_INBOUND,
			    now, &created);
	if (!*s)
		return BPFMASQ_STAT_TABLE_FULL;
	if (created)
		__sync_fetch_and_add(&m->inbound, 1);
	return NAT_CONTINUE;
}

/* Is @fwd, the forward of @p's port, for @p (its inside endpoint, --from)? */
static __always_inline bool
forward_admits(const struct bpfmasq_forward *fwd,
	       const struct bpfmasq_endpoint *inside, const struct pkt *p)
{
	__u32 mask = fwd->from_len ? ~0u << (32 - fwd->from_len) : 0;

	return fwd->inside_addr == inside->addr &&
	       fwd->inside_port == inside->port &&
	       !((bpf_ntohl(p->saddr) ^ bpf_ntohl(fwd->from_addr)) & mask);
}

/*
 * A packet from a remote that no session of forward port @p->dport knows:
 * it opens one to the forward's inside endpoint @inside (filtering does not
 * apply: that is what a forward is for), in *@s, if the forward still
 * names it and admits the remote (--from). Never one the gateway has a
 * socket of its own for: its own connection may have picked the port.
 */
static __always_inline __u32
nat_forward_open(void *ctx, const struct bpfmasq_config *cfg,
		 const struct bpfmasq_endpoint *inside,
		 const struct bpfmasq_session_key *key, const struct pkt *p,
		 __u64 now, struct bpfmasq_session **s)
{
	struct bpfmasq_forward_key fk = { .port = p->dport, .proto = p->proto };
	const struct bpfmasq_forward *fwd;
	bool created = false;

	if (p->kind != PKT_PORTS)
		return BPFMASQ_STAT_NOT_OURS;
	if (own_socket(ctx, p))
		return BPFMASQ_STAT_NOT_OURS;
	if (p->proto == IPPROTO_TCP &&
	    (p->tcp_flags & (TCPF_SYN | TCPF_ACK | TCPF_RST)) != TCPF_SYN)
		return BPFMASQ_STAT_FILTERED;
	if (cfg->flags & BPFMASQ_CFG_FLUSHING)
		return BPFMASQ_STAT_FLUSHING;
	fwd = bpf_map_lookup_elem(&forwards, &fk);
	if (!fwd || !forward_admits(fwd, inside, p))
		return BPFMASQ_STAT_FILTERED;
	if (p->first_fragment && frag_conflicts(p, inside->addr, now))
		return BPFMASQ_STAT_FRAG_CONFLICT;
	*s = session_create(key, p->daddr, p->dport, p,
			    BPFMASQ_SESS_INBOUND | BPFMASQ_SESS_FORWARDED, now,
			    &created);
	if (!*s)
		return BPFMASQ_STAT_TABLE_FULL;
	if (created)
		stat_inc(BPFMASQ_STAT_FORWARD_OPEN);
	return NAT_CONTINUE;
}

/* An inbound packet with its L4 header (a whole one or a first fragment). */
static __always_inline __u32 nat_inbound_l4(void *ctx, const enum ctx_kind kind,
					    const struct pkt *p)
{
	const struct bpfmasq_config *cfg;
	struct bpfmasq_session_key key;
	struct bpfmasq_endpoint ext, inside;
	struct bpfmasq_session *s;
	bool held = false;
	__u32 reason;
	__u8 state;
	__u64 now;

	reason = nat_static_in(ctx, kind, p);
	if (reason != NAT_CONTINUE)
		return reason;
	if (p->kind == PKT_ICMP_ERROR)
		return nat_icmp_error_in(ctx, kind, p);
	if (p->kind != PKT_PORTS && p->kind != PKT_ECHO_REPLY)
		goto not_ours;

	endpoint_make(&ext, p->daddr, p->dport, p->proto);
	state = port_state(&ext, &inside);
	if (!bpfmasq_port_names(state))
		goto not_ours;

	session_key_make(&key, inside.addr, inside.port, p->saddr, p->sport,
			 p->proto);

	now = bpf_ktime_get_boot_ns();
	s = session_of_reply(&key, p->daddr, p->dport, &held);
	if (!s) {
		/* Not from a remote this port sent to, and none may open one. */
		if (held)
			return BPFMASQ_STAT_FILTERED;
		cfg = config_get();
		if (!cfg)
			return BPFMASQ_STAT_NOT_OURS; /* cannot happen */
		if (state == BPFMASQ_PORT_OWNED)
			reason = nat_new_flow_in(ctx, cfg, &inside, &key, p,
						 now, &s);
		else
			reason = nat_forward_open(ctx, cfg, &inside, &key, p,
						  now, &s);
		if (reason != NAT_CONTINUE)
			return reason;
	}
	if (p->first_fragment && !frag_settle(p, key.inside_addr, now))
		return BPFMASQ_STAT_FRAG_CONFLICT;
	session_touch(s, p, false, now);
	if (nat_rewrite_dst(ctx, kind, p, key.inside_addr, key.inside_port))
		return BPFMASQ_STAT_REWRITE_FAILED;
	return BPFMASQ_STAT_TRANSLATED_IN;

not_ours:
	return inbound_unmatched(p, BPFMASQ_STAT_NOT_OURS);
}

/*
 * Inbound (WAN ingress): translate replies back to the inside host. What
 * matches no state is left to the gateway's own stack, untouched.
 */
static __always_inline __u32 nat_inbound(void *ctx, const enum ctx_kind kind)
{
	struct pkt p;
	__u32 reason;

	reason = nat_parse(ctx, kind, &p);
	if (reason != NAT_CONTINUE)
		return reason;
	if (p.kind == PKT_LATER_FRAGMENT) {
		reason = nat_static_in(ctx, kind, &p);
		if (reason != NAT_CONTINUE)
			return reason;
		return nat_fragment_in(ctx, kind, &p);
	}
	reason = nat_inbound_l4(ctx, kind, &p);
	/* A first fragment the gateway's stack takes: so do its held rest. */
	if (p.first_fragment && reason != BPFMASQ_STAT_TRANSLATED_IN &&
	    !reason_drops(reason))
		frag_first_passed(&p);
	return reason;
}

#endif /* BPFMASQ_NAT_H */
