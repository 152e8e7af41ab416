/* SPDX-License-Identifier: GPL-2.0 */
/*
 * icmp.h - ICMP errors about translated flows (RFC 5508, RFC 5382 REQ-9):
 * destination unreachable (fragmentation needed included), time exceeded
 * and parameter problem. The error quotes the packet that caused it, so
 * the quoted header is translated as well as the outer one, and every
 * checksum involved is kept right: outer IP, ICMP (which covers the quoted
 * bytes), quoted IP and, where it was quoted, the quoted L4 checksum.
 * Errors never create or refresh state (RFC 5508 REQ-6).
 */
#ifndef BPFMASQ_ICMP_H
#define BPFMASQ_ICMP_H

#include "conntrack.h"
#include "maps.h"
#include "parse.h"
#include "policy.h"
#include "ports.h"
#include "verdict.h"

/* The packet quoted in an ICMP error. */
struct icmp_quote {
	__u32 ip_off;
	__u32 l4_off;
	__be32 saddr;
	__be32 daddr;
	__be16 sport; /* TCP/UDP ports; ICMP echo: id in both */
	__be16 dport;
	__u8 proto; /* IPPROTO_RAW: one with no ports (icmp_quote_parse) */
	__u8 csum_off; /* of its L4 checksum, from l4_off */
	__u8 csum_flags;
	__u8 pad;
};

/*
 * Parse the quoted header: an IPv4 header and at least the 8 bytes of L4
 * header that RFC 792 guarantees. A quoted non-first fragment carries no
 * ports and cannot be matched. TCP, UDP and ICMP echo have ports (or an
 * id); with @any, so that a static may carry it, any other quote is taken
 * too, with none (ports 0): only its addresses change.
 */
static __always_inline int icmp_quote_parse(void *ctx, const enum ctx_kind kind,
					    const struct pkt *p,
					    struct icmp_quote *q, bool any)
{
	struct iphdr *iph;
	void *data, *end;
	__u8 *l4;

	/* The quote, with IP options on both headers, must be readable. */
	ctx_pull(ctx, kind, p->l4_off + sizeof(struct icmphdr) + 60 + 20);
	data = ctx_data(ctx, kind);
	end = ctx_data_end(ctx, kind);
	q->ip_off = p->l4_off + sizeof(struct icmphdr);
	iph = data + ctx_off(q->ip_off);
	if ((void *)(iph + 1) > end)
		return PARSE_MALFORMED;
	if (iph->version != 4 || iph->ihl < 5)
		return PARSE_MALFORMED;
	if (bpf_ntohs(iph->frag_off) & IP_OFFSET)
		return PARSE_NOT_IPV4;
	q->l4_off = q->ip_off + iph->ihl * 4;
	l4 = data + ctx_off(q->l4_off);
	if ((void *)(l4 + 8) > end || q->l4_off + 8 > p->l3_off + p->ip_len)
		return PARSE_MALFORMED;
	q->saddr = iph->saddr;
	q->daddr = iph->daddr;
	q->proto = iph->protocol;
	q->csum_flags = 0;
	switch (q->proto) {
	case IPPROTO_TCP:
		q->csum_off = offsetof(struct tcphdr, check);
		break;
	case IPPROTO_UDP:
		q->csum_off = offsetof(struct udphdr, check);
		q->csum_flags = BPF_F_MARK_MANGLED_0;
		break;
	case IPPROTO_ICMP:
		/* Only errors about echo flows: those have state. */
		if (l4[0] == ICMP_ECHO || l4[0] == ICMP_ECHOREPLY) {
			q->csum_off = offsetof(struct icmphdr, checksum);
			q->sport = *(__be16 *)(l4 + 4);
			q->dport = q->sport;
			return PARSE_OK;
		}
		/* fallthrough */
	default:
		if (!any)
			return PARSE_NOT_IPV4;
		/* No ports, and no checksum over the addresses. */
		q->proto = IPPROTO_RAW;
		q->csum_off = 0;
		q->sport = 0;
		q->dport = 0;
		return PARSE_OK;
	}
	q->sport = *(__be16 *)l4;
	q->dport = *(__be16 *)(l4 + 2);
	return PARSE_OK;
}

/*
 * Change a 2- or 4-byte field inside the ICMP payload and fold the change
 * into the ICMP checksum.
 */
static __always_inline int icmp_payload_store(void *ctx,
					      const enum ctx_kind kind,
					      const struct pkt *p, __u32 off,
					      __u32 from, __u32 to, __u32 len)
{
	__u16 to16 = to;

	if (ctx_csum_replace(ctx, kind, p->l4_off + p->csum_off, from, to, len))
		return -1;
	return ctx_store(ctx, kind, off, len == 2 ? (void *)&to16 : &to, len);
}

/*
 * A checksum inside the quote, updated for the address (@addr_pseudo: it
 * covers the address through a pseudo-header) and port changes, with the
 * ICMP checksum following the new value.
 */
static __always_inline int icmp_quote_csum(void *ctx, const enum ctx_kind kind,
					   const struct pkt *p, __u32 off,
					   bool addr_pseudo, __be32 from_addr,
					   __be32 to_addr, __be16 from_port,
					   __be16 to_port, __u64 flags)
{
	void *data = ctx_data(ctx, kind);
	void *end = ctx_data_end(ctx, kind);
	__sum16 *field, sum;

	if (off > CTX_HDR_MAX)
		return -1;
	field = data + ctx_off(off);

	/* Checksums past the end of the quote were not quoted. */
	if ((void *)(field + 1) > end || off + 2 > p->l3_off + p->ip_len)
		return 0;
	sum = *field;
	if ((flags & BPF_F_MARK_MANGLED_0) && !sum)
		return 0;
	if (addr_pseudo)
		csum_replace4(&sum, from_addr, to_addr);
	if (from_port != to_port)
		csum_replace2(&sum, from_port, to_port);
	if ((flags & BPF_F_MARK_MANGLED_0) && !sum)
		sum = CSUM_MANGLED_0;
	return icmp_payload_store(ctx, kind, p, off, *field, sum, 2);
}

/*
 * Rewrite one address of the outer header (@outer_off) and the same address
 * and its port in the quote (@addr_off, @port_off), from @from_* to @to_*.
 */
static __always_inline int
icmp_error_rewrite(void *ctx, const enum ctx_kind kind, const struct pkt *p,
		   const struct icmp_quote *q, __u32 outer_off, __u32 addr_off,
		   __u32 port_off, __be32 from_addr, __be32 to_addr,
		   __be16 from_port, __be16 to_port)
{
	__u32 ip_csum = q->ip_off + offsetof(struct iphdr, check);
	bool pseudo = q->proto == IPPROTO_TCP || q->proto == IPPROTO_UDP;

	/* No outer offset: the error comes from the gateway itself. */
	if (outer_off &&
	    (ctx_l3_csum_replace(ctx, kind,
				 p->l3_off + offsetof(struct iphdr, check),
				 from_addr, to_addr) ||
	     ctx_store(ctx, kind, outer_off, &to_addr, 4)))
		return -1;
	/* The quoted IP header: its checksum first, the ICMP one follows. */
	if (icmp_quote_csum(ctx, kind, p, ip_csum, true, from_addr, to_addr, 0,
			    0, 0) ||
	    icmp_payload_store(ctx, kind, p, addr_off, from_addr, to_addr, 4))
		return -1;
	/*
	 * TCP and UDP checksums cover the address too, even if the port
	 * stays; a quote with no ports (a static's) has no checksum to fix.
	 */
	if ((pseudo || from_port != to_port) &&
	    icmp_quote_csum(ctx, kind, p, q->l4_off + q->csum_off, pseudo,
			    from_addr, to_addr, from_port, to_port,
			    q->csum_flags))
		return -1;
	if (from_port == to_port)
		return 0;
	return icmp_payload_store(ctx, kind, p, port_off, from_port, to_port,
				  2);
}

static __always_inline __u32 quote_port_offset(const struct icmp_quote *q,
					       bool src)
{
	if (q->proto == IPPROTO_ICMP)
		return q->l4_off + offsetof(struct icmphdr, un.echo.id);
	return q->l4_off + (src ? 0 : 2);
}

/*
 * An inbound error's way in: its destination and the quote's source (our
 * external endpoint, @q's) become inside endpoint @addr:@port.
 */
static __always_inline int
icmp_error_to_inside(void *ctx, const enum ctx_kind kind, const struct pkt *p,
		     const struct icmp_quote *q, __be32 addr, __be16 port)
{
	return icmp_error_rewrite(
		ctx, kind, p, q, p->l3_off + offsetof(struct iphdr, daddr),
		q->ip_off + offsetof(struct iphdr, saddr),
		quote_port_offset(q, true), q->saddr, addr, q->sport, port);
}

/*
 * Inbound error about a packet an inside host sent: the quote's source is
 * our external endpoint. What matches no session goes to the gateway's own
 * stack, never inside.
 */
static __always_inline __u32 nat_icmp_error_in(void *ctx,
					       const enum ctx_kind kind,
					       const struct pkt *p)
{
	struct bpfmasq_endpoint ext, inside;
	struct bpfmasq_session_key key;
	struct icmp_quote q;
	bool held = false;

	switch (icmp_quote_parse(ctx, kind, p, &q, false)) {
	case PARSE_MALFORMED:
		return BPFMASQ_STAT_MALFORMED;
	case PARSE_NOT_IPV4:
		goto not_ours;
	}
	if (q.saddr != p->daddr)
		goto not_ours;
	endpoint_make(&ext, q.saddr, q.sport, q.proto);
	if (!port_owner(&ext, &inside))
		goto not_ours;
	/* The flow it is about: the owner's, or the one its port is lent to. */
	session_key_make(&key, inside.addr, inside.port, q.daddr, q.dport,
			 q.proto);
	if (!session_of_reply(&key, q.saddr, q.sport, &held))
		return BPFMASQ_STAT_FILTERED;
	if (icmp_error_to_inside(ctx, kind, p, &q, key.inside_addr,
				 key.inside_port))
		return BPFMASQ_STAT_REWRITE_FAILED;
	return BPFMASQ_STAT_TRANSLATED_IN;
not_ours:
	return inbound_unmatched(p, BPFMASQ_STAT_NOT_OURS);
}

/*
 * Inbound error about a packet that static NAT translated out: the quote's
 * source is the static's outside address, the error's destination too
 * (@inside: the static's inside address). Both become the inside address;
 * ports stay. NAT_CONTINUE for a quote that is not about the static: the
 * normal path decides.
 */
static __always_inline __u32 nat_icmp_error_in_static(void *ctx,
						      const enum ctx_kind kind,
						      const struct pkt *p,
						      __be32 inside)
{
	struct icmp_quote q;

	switch (icmp_quote_parse(ctx, kind, p, &q, true)) {
	case PARSE_MALFORMED:
		return BPFMASQ_STAT_MALFORMED;
	case PARSE_NOT_IPV4:
		return NAT_CONTINUE;
	}
	if (q.saddr != p->daddr)
		return NAT_CONTINUE;
	if (icmp_error_to_inside(ctx, kind, p, &q, inside, q.sport))
		return BPFMASQ_STAT_REWRITE_FAILED;
	stat_inc(BPFMASQ_STAT_STATIC_IN);
	return BPFMASQ_STAT_TRANSLATED_IN;
}

/*
 * Outbound error about a packet that reached an inside host (a reply of
 * one of its flows): the quote's destination is the inside endpoint. The
 * error comes from that host (@from_inside: the outer source is translated
 * too) or from the gateway itself, which could not deliver the reply
 * (unreachable, fragmentation needed towards a smaller LAN MTU): then only
 * the quote is. An error from inside that matches no session would leak
 * the inside address: dropped. The gateway's own other errors pass.
 */
static __always_inline __u32 nat_icmp_error_out(void *ctx,
						const enum ctx_kind kind,
						const struct pkt *p,
						bool from_inside)
{
	struct bpfmasq_session_key key;
	struct bpfmasq_session *s;
	struct icmp_quote q;
	__be32 ext_addr;
	__be16 ext_port;

	/* Any quote: one with no ports can only be a static's (below). */
	switch (icmp_quote_parse(ctx, kind, p, &q, true)) {
	case PARSE_MALFORMED:
		if (!from_inside)
			goto unmatched;
		return BPFMASQ_STAT_MALFORMED;
	case PARSE_NOT_IPV4:
		goto unmatched;
	}
	if (from_inside && q.daddr != p->saddr)
		goto unmatched;
	/* The session says its external endpoint: shared ones have no mapping. */
	session_key_make(&key, q.daddr, q.dport, q.saddr, q.sport, q.proto);
	s = bpf_map_lookup_elem(&sessions, &key);
	if (s && (s->flags & BPFMASQ_SESS_LENT))
		goto unmatched;
	if (s) {
		ext_addr = s->ext_addr;
		ext_port = s->ext_port;
	} else {
		/* About a static's inbound packet: its outside address. */
		ext_addr =
			static_peer(config_get(), q.daddr, BPFMASQ_STATIC_OUT);
		ext_port = q.dport;
		if (!ext_addr)
			goto unmatched;
	}
	if (icmp_error_rewrite(
		    ctx, kind, p, &q,
		    from_inside ? p->l3_off + offsetof(struct iphdr, saddr) : 0,
		    q.ip_off + offsetof(struct iphdr, daddr),
		    quote_port_offset(&q, false), q.daddr, ext_addr, q.dport,
		    ext_port))
		return BPFMASQ_STAT_REWRITE_FAILED;
	if (!s)
		stat_inc(BPFMASQ_STAT_STATIC_OUT);
	return BPFMASQ_STAT_TRANSLATED_OUT;
unmatched:
	return from_inside ? BPFMASQ_STAT_UNSUPPORTED : BPFMASQ_STAT_NOT_INSIDE;
}

#endif /* BPFMASQ_ICMP_H */
