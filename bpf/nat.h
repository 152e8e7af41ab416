/* SPDX-License-Identifier: GPL-2.0 */
/*
 * nat.h - masquerading: endpoint-independent mappings, port allocation from
 * the per-(address, protocol) pools, header rewrites with incremental
 * checksum updates, and the outbound and inbound translation paths. Written
 * once over ctx.h for XDP and TC.
 */
#ifndef BPFMASQ_NAT_H
#define BPFMASQ_NAT_H

#include <stdbool.h>
#include <stddef.h>

#include "conntrack.h"
#include "icmp.h"
#include "maps.h"
#include "parse.h"
#include "policy.h"

/*
 * Claim an external port for @inside: atomic across CPUs. 0 when claimed,
 * -EEXIST when someone holds it, another error when the table is full.
 */
static __always_inline long port_claim(const struct bpfmasq_endpoint *ext,
				       const struct bpfmasq_endpoint *inside)
{
	return bpf_map_update_elem(&port_owners, ext, inside, BPF_NOEXIST);
}

/* Keep the inside port when it is in range and nobody holds it. */
static __always_inline long port_preserve(const struct bpfmasq_config *cfg,
					  struct bpfmasq_endpoint *ext,
					  const struct bpfmasq_endpoint *inside)
{
	__u16 port = bpf_ntohs(inside->port);

	if (port < cfg->port_min || port > cfg->port_max)
		return -EEXIST;
	ext->port = inside->port;
	return port_claim(ext, inside);
}

/* The free-port queue of @ext's (address, protocol), or NULL. */
static __always_inline void *pool_of(const struct bpfmasq_endpoint *ext)
{
	struct bpfmasq_pool_key pk = { .addr = ext->addr, .proto = ext->proto };

	return bpf_map_lookup_elem(&port_pools, &pk);
}

/*
 * Take a port from the pool. A popped port may be held by a mapping that
 * preserved it: preserved ports never leave the pool (they are not pushed
 * again on release), so it goes back to the tail. Bounded: an unlucky run
 * fails one new flow, never an existing one.
 */
static __always_inline long port_from_pool(struct bpfmasq_endpoint *ext,
					   const struct bpfmasq_endpoint *inside)
{
	void *pool = pool_of(ext);
	__be16 port;
	long err;
	int i;

	if (!pool)
		return -ENOSPC;
	for (i = 0; i < BPFMASQ_POOL_TRIES; i++) {
		if (bpf_map_pop_elem(pool, &port))
			return -ENOSPC;
		ext->port = port;
		err = port_claim(ext, inside);
		if (!err)
			return 0;
		bpf_map_push_elem(pool, &port, 0);
		if (err != -EEXIST)
			return err; /* table full: the port stays free */
	}
	return -ENOSPC;
}

static __always_inline void port_release(const struct bpfmasq_endpoint *ext,
					 __u8 flags)
{
	__be16 port = ext->port;
	void *pool;

	bpf_map_delete_elem(&port_owners, ext);
	if (!(flags & BPFMASQ_MAP_FROM_POOL))
		return;
	pool = pool_of(ext);
	if (pool)
		bpf_map_push_elem(pool, &port, 0);
}

/* An external port for @inside, in @ext; the mapping flags in @flags. */
static __always_inline long port_alloc(const struct bpfmasq_config *cfg,
				       struct bpfmasq_endpoint *ext,
				       const struct bpfmasq_endpoint *inside,
				       __u8 *flags)
{
	long err = port_preserve(cfg, ext, inside);

	if (err != -EEXIST)
		return err;
	*flags = BPFMASQ_MAP_FROM_POOL;
	return port_from_pool(ext, inside);
}

/*
 * The mapping of @inside, created on first use (then *@created is set).
 * NULL (counted) on failure.
 */
static __always_inline struct bpfmasq_mapping *
mapping_get(const struct bpfmasq_config *cfg,
	    const struct bpfmasq_endpoint *inside, __u64 now, bool *created)
{
	struct bpfmasq_endpoint ext = { .addr = cfg->ext_addr,
					.proto = inside->proto };
	struct bpfmasq_mapping val = { .ext_addr = cfg->ext_addr,
				       .last_ns = now };
	struct bpfmasq_mapping *m;
	long err;

	m = bpf_map_lookup_elem(&mappings, inside);
	if (m)
		return m;

	err = port_alloc(cfg, &ext, inside, &val.flags);
	if (err) {
		stat_inc(err == -ENOSPC ? BPFMASQ_STAT_PORT_POOL_EMPTY :
					  BPFMASQ_STAT_TABLE_FULL);
		return NULL;
	}
	val.ext_port = ext.port;

	err = bpf_map_update_elem(&mappings, inside, &val, BPF_NOEXIST);
	if (err) {
		/* Lost a race for the same inside endpoint, or table full. */
		port_release(&ext, val.flags);
		if (err != -EEXIST) {
			stat_inc(BPFMASQ_STAT_TABLE_FULL);
			return NULL;
		}
	} else {
		stat_inc(BPFMASQ_STAT_NEW_MAPPING);
		*created = true;
	}
	return bpf_map_lookup_elem(&mappings, inside);
}

/* Undo a mapping made for a flow that could not get a session. */
static __always_inline void mapping_drop(const struct bpfmasq_endpoint *inside,
					 const struct bpfmasq_mapping *m)
{
	struct bpfmasq_endpoint ext = { .addr = m->ext_addr,
					.port = m->ext_port,
					.proto = inside->proto };
	__u8 flags = m->flags;

	if (bpf_map_delete_elem(&mappings, inside) == 0)
		port_release(&ext, flags);
}

/*
 * Rewrite one address (at @addr_off) and, for TCP/UDP/ICMP echo, one port
 * or id (at @port_off), fixing the IP checksum and the L4 checksum. The L4
 * checksum covers the address through the pseudo-header for TCP and UDP,
 * not for ICMP.
 */
static __always_inline int nat_rewrite(void *ctx, const enum ctx_kind kind,
				       const struct pkt *p, __u32 addr_off,
				       __be32 from_addr, __be32 to_addr,
				       __u32 port_off, __be16 from_port,
				       __be16 to_port)
{
	__u32 csum = p->l4_off + p->csum_off;
	__u64 flags = p->csum_flags;

	if (p->kind == PKT_PORTS) {
		if (ctx_l4_csum_replace(ctx, kind, csum, from_addr, to_addr,
					flags | BPF_F_PSEUDO_HDR | 4))
			return -1;
	}
	if (p->kind <= PKT_ECHO_REPLY &&
	    from_port != to_port) {
		if (ctx_l4_csum_replace(ctx, kind, csum, from_port, to_port,
					flags | 2))
			return -1;
		if (ctx_store(ctx, kind, port_off, &to_port, 2))
			return -1;
	}
	if (ctx_l3_csum_replace(ctx, kind, p->l3_off + offsetof(struct iphdr, check),
				from_addr, to_addr))
		return -1;
	return ctx_store(ctx, kind, addr_off, &to_addr, 4);
}

/* Offset of the source (@src) or destination port or echo id. */
static __always_inline __u32 port_offset(const struct pkt *p, bool src)
{
	if (p->proto == IPPROTO_ICMP)
		return p->l4_off + offsetof(struct icmphdr, un.echo.id);
	return p->l4_off + (src ? 0 : 2);
}

static __always_inline int nat_rewrite_src(void *ctx, const enum ctx_kind kind,
					   const struct pkt *p, __be32 addr,
					   __be16 port)
{
	return nat_rewrite(ctx, kind, p,
			   p->l3_off + offsetof(struct iphdr, saddr), p->saddr,
			   addr, port_offset(p, true), p->sport, port);
}

static __always_inline int nat_rewrite_dst(void *ctx, const enum ctx_kind kind,
					   const struct pkt *p, __be32 addr,
					   __be16 port)
{
	return nat_rewrite(ctx, kind, p,
			   p->l3_off + offsetof(struct iphdr, daddr), p->daddr,
			   addr, port_offset(p, false), p->dport, port);
}

/* Parse; what is not IPv4 passes, what is malformed is dropped. */
static __always_inline int nat_parse(void *ctx, const enum ctx_kind kind,
				     struct pkt *p)
{
	switch (parse_packet(ctx, kind, p)) {
	case PARSE_NOT_IPV4:
		stat_inc(BPFMASQ_STAT_NON_IPV4);
		return NAT_PASS;
	case PARSE_MALFORMED:
		stat_inc(BPFMASQ_STAT_MALFORMED);
		return NAT_DROP;
	}
	return NAT_CONTINUE;
}

/* The mapping of @inside (found or made), then a session on it. */
static __always_inline struct bpfmasq_session *
nat_flow_bind(const struct bpfmasq_config *cfg,
	      const struct bpfmasq_endpoint *inside,
	      const struct bpfmasq_session_key *key, const struct pkt *p,
	      __u64 now)
{
	struct bpfmasq_session *s;
	struct bpfmasq_mapping *m;
	bool created = false;

	m = mapping_get(cfg, inside, now, &created);
	if (!m)
		return NULL;
	s = session_create(key, m->ext_addr, m->ext_port, p, 0, now);
	if (s)
		m->last_ns = now;
	else if (created)
		mapping_drop(inside, m);
	return s;
}

/*
 * Is the session's mapping still there? The garbage collector releases a
 * mapping no session uses; one may have been released between our finding
 * it and storing the session. (It re-checks last_ns, which we set, just
 * before it deletes, so the window left after this check is a few
 * instructions of its own.)
 */
static __always_inline bool mapping_holds(const struct bpfmasq_endpoint *inside,
					  const struct bpfmasq_session *s)
{
	struct bpfmasq_mapping *m = bpf_map_lookup_elem(&mappings, inside);

	return m && m->ext_addr == s->ext_addr && m->ext_port == s->ext_port;
}

/* A new outbound flow: its mapping, then its session. */
static __always_inline struct bpfmasq_session *
nat_new_flow_out(const struct bpfmasq_config *cfg,
		 const struct bpfmasq_session_key *key, const struct pkt *p,
		 __u64 now)
{
	struct bpfmasq_endpoint inside;
	struct bpfmasq_session *s;

	if (!cfg->ext_addr) {
		stat_inc(BPFMASQ_STAT_NO_ADDRESS);
		return NULL;
	}
	endpoint_make(&inside, p->saddr, p->sport, p->proto);
	s = nat_flow_bind(cfg, &inside, key, p, now);
	if (!s || mapping_holds(&inside, s))
		return s;
	/* Lost that race: start over on a fresh mapping. */
	bpf_map_delete_elem(&sessions, key);
	return nat_flow_bind(cfg, &inside, key, p, now);
}

/* A non-first fragment from inside: only the source address changes. */
static __always_inline int nat_fragment_out(void *ctx, const enum ctx_kind kind,
					    const struct bpfmasq_config *cfg,
					    const struct pkt *p)
{
	if (!is_inside(p->saddr)) {
		stat_inc(BPFMASQ_STAT_NOT_INSIDE);
		return NAT_PASS;
	}
	if (!cfg->ext_addr) {
		stat_inc(BPFMASQ_STAT_NO_ADDRESS);
		return NAT_DROP;
	}
	if (nat_rewrite_src(ctx, kind, p, cfg->ext_addr, 0))
		goto malformed;
	stat_inc(BPFMASQ_STAT_TRANSLATED_OUT);
	return NAT_PASS;
malformed:
	stat_inc(BPFMASQ_STAT_MALFORMED);
	return NAT_DROP;
}

/*
 * Outbound (WAN egress): translate the source of packets from inside hosts.
 * A packet from inside that cannot be translated is dropped, never sent with
 * its inside address.
 */
static __always_inline int nat_outbound(void *ctx, const enum ctx_kind kind)
{
	const struct bpfmasq_config *cfg;
	int verdict;
	struct bpfmasq_session_key key;
	struct bpfmasq_session *s;
	struct pkt p;
	__u64 now;

	verdict = nat_parse(ctx, kind, &p);
	if (verdict != NAT_CONTINUE)
		return verdict;
	cfg = config_get();
	if (!cfg)
		return NAT_DROP;

	if (p.kind == PKT_LATER_FRAGMENT)
		return nat_fragment_out(ctx, kind, cfg, &p);
	if (p.kind == PKT_ICMP_ERROR)
		return nat_icmp_error_out(ctx, kind, &p, is_inside(p.saddr));
	if (p.kind != PKT_PORTS && p.kind != PKT_ECHO_REQUEST) {
		if (is_inside(p.saddr)) {
			stat_inc(BPFMASQ_STAT_UNSUPPORTED);
			return NAT_DROP;
		}
		stat_inc(BPFMASQ_STAT_NOT_INSIDE);
		return NAT_PASS;
	}

	session_key_make(&key, p.saddr, p.sport, p.daddr, p.dport, p.proto);

	now = bpf_ktime_get_boot_ns();
	s = bpf_map_lookup_elem(&sessions, &key);
	/* Left over from an old external address: start the flow anew. */
	if (s && s->ext_addr != cfg->ext_addr) {
		bpf_map_delete_elem(&sessions, &key);
		s = NULL;
	}
	if (!s) {
		if (!is_inside(p.saddr)) {
			stat_inc(BPFMASQ_STAT_NOT_INSIDE);
			return NAT_PASS;
		}
		s = nat_new_flow_out(cfg, &key, &p, now);
		if (!s)
			return NAT_DROP;
	}
	session_touch(s, &p, true, now);
	if (nat_rewrite_src(ctx, kind, &p, s->ext_addr, s->ext_port)) {
		stat_inc(BPFMASQ_STAT_MALFORMED);
		return NAT_DROP;
	}
	stat_inc(BPFMASQ_STAT_TRANSLATED_OUT);
	return NAT_PASS;
}

/* The datagram a fragment belongs to: (source, destination, protocol, id). */
static __always_inline struct bpfmasq_frag_key frag_key(const struct pkt *p)
{
	return (struct bpfmasq_frag_key){ .saddr = p->saddr,
					  .daddr = p->daddr,
					  .id = p->ip_id,
					  .proto = p->proto };
}

/* A non-first fragment from outside: follow its first fragment, if seen. */
static __always_inline int nat_fragment_in(void *ctx, const enum ctx_kind kind,
					   const struct pkt *p)
{
	struct bpfmasq_frag_key fk = frag_key(p);
	__be32 *inside = bpf_map_lookup_elem(&frags, &fk);

	if (!inside)
		return inbound_unmatched(p, BPFMASQ_STAT_FRAGMENT);
	if (nat_rewrite_dst(ctx, kind, p, *inside, 0)) {
		stat_inc(BPFMASQ_STAT_MALFORMED);
		return NAT_DROP;
	}
	stat_inc(BPFMASQ_STAT_TRANSLATED_IN);
	return NAT_PASS;
}

static __always_inline void frag_remember(const struct pkt *p, __be32 inside)
{
	struct bpfmasq_frag_key fk = frag_key(p);

	bpf_map_update_elem(&frags, &fk, &inside, BPF_ANY);
}

/*
 * Under endpoint-independent filtering, a packet from a new remote to a
 * live mapping opens a session of its own (TCP and UDP only).
 */
static __always_inline struct bpfmasq_session *
nat_new_flow_in(const struct bpfmasq_config *cfg,
		const struct bpfmasq_session_key *key, const struct pkt *p,
		__u64 now)
{
	struct bpfmasq_endpoint inside;
	struct bpfmasq_session *s;
	struct bpfmasq_mapping *m;

	/* Only a TCP open may start one: stray segments would fill the table. */
	if (cfg->filtering != BPFMASQ_FILTER_INDEPENDENT ||
	    p->kind != PKT_PORTS ||
	    (p->proto == IPPROTO_TCP &&
	     (p->tcp_flags & (TCPF_SYN | TCPF_ACK | TCPF_RST)) != TCPF_SYN)) {
		stat_inc(BPFMASQ_STAT_FILTERED);
		return NULL;
	}
	s = session_create(key, p->daddr, p->dport, p, BPFMASQ_SESS_INBOUND,
			   now);
	if (!s)
		return NULL;
	/* As for an outbound session: the mapping is in use again. */
	endpoint_make(&inside, key->inside_addr, key->inside_port, p->proto);
	m = bpf_map_lookup_elem(&mappings, &inside);
	if (m)
		m->last_ns = now;
	return s;
}

/*
 * Inbound (WAN ingress): translate replies back to the inside host. What
 * matches no state is left to the gateway's own stack, untouched.
 */
static __always_inline int nat_inbound(void *ctx, const enum ctx_kind kind)
{
	const struct bpfmasq_endpoint *inside;
	const struct bpfmasq_config *cfg;
	struct bpfmasq_session_key key;
	struct bpfmasq_endpoint ext;
	int verdict;
	struct bpfmasq_session *s;
	struct pkt p;
	__u64 now;

	verdict = nat_parse(ctx, kind, &p);
	if (verdict != NAT_CONTINUE)
		return verdict;
	if (p.kind == PKT_LATER_FRAGMENT)
		return nat_fragment_in(ctx, kind, &p);
	if (p.kind == PKT_ICMP_ERROR)
		return nat_icmp_error_in(ctx, kind, &p);
	if (p.kind != PKT_PORTS && p.kind != PKT_ECHO_REPLY)
		goto not_ours;

	endpoint_make(&ext, p.daddr, p.dport, p.proto);
	inside = bpf_map_lookup_elem(&port_owners, &ext);
	if (!inside)
		goto not_ours;

	session_key_make(&key, inside->addr, inside->port, p.saddr, p.sport,
			 p.proto);

	now = bpf_ktime_get_boot_ns();
	s = bpf_map_lookup_elem(&sessions, &key);
	if (!s) {
		cfg = config_get();
		if (!cfg)
			return NAT_PASS;
		s = nat_new_flow_in(cfg, &key, &p, now);
		if (!s)
			return NAT_PASS;
	}
	session_touch(s, &p, false, now);
	if (nat_rewrite_dst(ctx, kind, &p, key.inside_addr, key.inside_port)) {
		stat_inc(BPFMASQ_STAT_MALFORMED);
		return NAT_DROP;
	}
	if (p.first_fragment)
		frag_remember(&p, key.inside_addr);
	stat_inc(BPFMASQ_STAT_TRANSLATED_IN);
	return NAT_PASS;

not_ours:
	return inbound_unmatched(&p, BPFMASQ_STAT_NOT_OURS);
}

#endif /* BPFMASQ_NAT_H */
