/* SPDX-License-Identifier: GPL-2.0 */
/*
 * parse.h - validate an Ethernet/IPv4 packet and reduce it to the view the
 * NAT works on: offsets of the fields it may rewrite and the 5-tuple. A
 * packet whose headers contradict each other or the frame is MALFORMED and
 * is never translated, nor forwarded untranslated.
 */
#ifndef BPFMASQ_PARSE_H
#define BPFMASQ_PARSE_H

#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/icmp.h>
#include <linux/in.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <bpf/bpf_endian.h>

#include "bpfmasq.h"
#include "ctx.h"

#define IP_MF 0x2000
#define IP_OFFSET 0x1fff

/* What the NAT may do with a parsed packet. */
enum pkt_kind {
	PKT_PORTS, /* TCP or UDP: ports in sport/dport */
	PKT_ECHO_REQUEST, /* ICMP echo request: id in sport and dport */
	PKT_ECHO_REPLY, /* ICMP echo reply: id in sport and dport */
	PKT_ICMP_ERROR, /* unreachable, time exceeded, parameter problem */
	PKT_LATER_FRAGMENT, /* a fragment after the first: no L4 header */
	PKT_OTHER, /* another protocol or ICMP type: addresses only */
};

enum parse_result {
	PARSE_OK,
	PARSE_NOT_IPV4,
	PARSE_MALFORMED,
};

struct pkt {
	__u32 l3_off;
	__u32 l4_off;
	__u32 ip_len; /* IPv4 total length */
	__be32 saddr;
	__be32 daddr;
	__be16 sport;
	__be16 dport;
	__be16 ip_id;
	__u8 proto;
	__u8 kind; /* enum pkt_kind */
	__u8 tcp_flags; /* TCP_FLAG_* byte: FIN 0x01, SYN 0x02, RST 0x04, ACK 0x10 */
	__u8 first_fragment; /* MF set, offset 0: L4 header present */
	__u8 csum_off; /* of the L4 checksum, from l4_off */
	__u8 csum_flags; /* BPF_F_MARK_MANGLED_0 for UDP */
	/* SYN only: its window scale option, PKT_WSCALE_NONE without one. */
	__u8 tcp_wscale;
	__u8 tcp_opt_len; /* bytes of TCP options */
	__u16 tcp_win; /* host order, as on the wire (unscaled) */
	__u32 tcp_seq; /* host order */
	__u32 tcp_ack; /* host order; meaningful with ACK */
};

#define PKT_WSCALE_NONE 0xff

#define TCPF_FIN 0x01
#define TCPF_SYN 0x02
#define TCPF_RST 0x04
#define TCPF_ACK 0x10

/* Headers bpfmasq reads: Ethernet, IPv4 with options, TCP without options. */
#define PARSE_PULL_LEN (ETH_HLEN + 60 + sizeof(struct tcphdr))

#define TCPOPT_EOL 0
#define TCPOPT_NOP 1
#define TCPOPT_WINDOW 3
#define TCP_OPTS_MAX 40

/* The options of a SYN, copied out, and where reading them has got. */
struct wscale_ctx {
	__u8 opt[64]; /* TCP_OPTS_MAX, and room for what the verifier sees */
	__u32 len;
	__u32 off;
	__u8 wscale;
};

/* One option; a bpf_loop() callback, so the verifier walks it once. */
static long wscale_step(__u32 i, void *data)
{
	struct wscale_ctx *c = data;
	__u32 off = c->off;
	__u8 kind, len;

	if (off >= c->len) {
		c->wscale = PKT_WSCALE_NONE;
		return 1;
	}
	if (off >= TCP_OPTS_MAX)
		return 1;
	kind = c->opt[off];
	if (kind == TCPOPT_EOL) {
		c->wscale = PKT_WSCALE_NONE;
		return 1;
	}
	if (kind == TCPOPT_NOP) {
		c->off = off + 1;
		return 0;
	}
	if (off + 1 >= c->len || off + 1 >= TCP_OPTS_MAX)
		return 1; /* malformed: the largest scale stays */
	len = c->opt[off + 1];
	if (len < 2 || off + len > c->len)
		return 1;
	if (kind == TCPOPT_WINDOW) {
		if (len == 3 && off + 2 < TCP_OPTS_MAX)
			c->wscale = c->opt[off + 2] < BPFMASQ_WSCALE_MAX
					    ? c->opt[off + 2]
					    : BPFMASQ_WSCALE_MAX;
		return 1;
	}
	c->off = off + len;
	return 0;
}

/*
 * The window scale option of a SYN (RFC 7323), capped at 14, or
 * PKT_WSCALE_NONE. Options that cannot be read (malformed, or a failed
 * copy) might hold one: they give the largest scale, so that no window is
 * taken smaller than it is.
 */
static __noinline __u8 parse_wscale(void *ctx, const enum ctx_kind kind,
				    __u32 off, __u32 len)
{
	struct wscale_ctx c = { .wscale = BPFMASQ_WSCALE_MAX };
	long err;
	__u64 n;

	if (len < 1)
		return PKT_WSCALE_NONE;
	if (len > TCP_OPTS_MAX)
		return BPFMASQ_WSCALE_MAX;
	c.len = len;
	/* 1 to 64, where the verifier sees it, as for ctx_off(). */
	n = len - 1;
	asm volatile("%0 &= 63" : "+r"(n));
	n++;
	if (kind == CTX_XDP)
		err = bpf_xdp_load_bytes(ctx, off, c.opt, n);
	else
		err = bpf_skb_load_bytes(ctx, off, c.opt, n);
	if (err)
		return BPFMASQ_WSCALE_MAX;
	bpf_loop(TCP_OPTS_MAX, wscale_step, &c, 0);
	return c.wscale;
}

static __always_inline int parse_l4(void *data, void *end, struct pkt *p)
{
	void *l4 = data + p->l4_off;
	__u32 l4_len = p->ip_len - (p->l4_off - p->l3_off);

	switch (p->proto) {
	case IPPROTO_TCP: {
		struct tcphdr *th = l4;

		if ((void *)(th + 1) > end || l4_len < sizeof(*th))
			return PARSE_MALFORMED;
		if (th->doff < 5 || th->doff * 4 > l4_len)
			return PARSE_MALFORMED;
		p->sport = th->source;
		p->dport = th->dest;
		p->tcp_flags = ((__u8 *)th)[13];
		p->tcp_seq = bpf_ntohl(th->seq);
		p->tcp_ack = bpf_ntohl(th->ack_seq);
		p->tcp_win = bpf_ntohs(th->window);
		/* parse_packet() reads a SYN's options. */
		p->tcp_opt_len = th->doff * 4 - sizeof(*th);
		p->csum_off = offsetof(struct tcphdr, check);
		p->kind = PKT_PORTS;
		return PARSE_OK;
	}
	case IPPROTO_UDP: {
		struct udphdr *uh = l4;
		__u32 ulen;

		if ((void *)(uh + 1) > end || l4_len < sizeof(*uh))
			return PARSE_MALFORMED;
		ulen = bpf_ntohs(uh->len);
		/* A first fragment carries only part of the datagram. */
		if (ulen < sizeof(*uh) || (!p->first_fragment && ulen > l4_len))
			return PARSE_MALFORMED;
		p->sport = uh->source;
		p->dport = uh->dest;
		p->csum_off = offsetof(struct udphdr, check);
		p->csum_flags = BPF_F_MARK_MANGLED_0;
		p->kind = PKT_PORTS;
		return PARSE_OK;
	}
	case IPPROTO_ICMP: {
		struct icmphdr *ih = l4;

		if ((void *)(ih + 1) > end || l4_len < sizeof(*ih))
			return PARSE_MALFORMED;
		p->csum_off = offsetof(struct icmphdr, checksum);
		switch (ih->type) {
		case ICMP_ECHO:
			p->kind = PKT_ECHO_REQUEST;
			break;
		case ICMP_ECHOREPLY:
			p->kind = PKT_ECHO_REPLY;
			break;
		case ICMP_DEST_UNREACH:
		case ICMP_TIME_EXCEEDED:
		case ICMP_PARAMETERPROB:
			p->kind = PKT_ICMP_ERROR;
			return PARSE_OK;
		default:
			return PARSE_OK;
		}
		p->sport = ih->un.echo.id;
		p->dport = ih->un.echo.id;
		return PARSE_OK;
	}
	}
	return PARSE_OK;
}

static __always_inline int parse_packet(void *ctx, const enum ctx_kind kind,
					struct pkt *p)
{
	void *data, *end;
	struct ethhdr *eth;
	struct iphdr *iph;
	__u32 frame_len;
	__u16 frag;

	ctx_pull(ctx, kind, PARSE_PULL_LEN);
	data = ctx_data(ctx, kind);
	end = ctx_data_end(ctx, kind);

	eth = data;
	if ((void *)(eth + 1) > end || eth->h_proto != bpf_htons(ETH_P_IP))
		return PARSE_NOT_IPV4;

	iph = (void *)(eth + 1);
	if ((void *)(iph + 1) > end)
		return PARSE_MALFORMED;
	frame_len = ctx_len(ctx, kind) - sizeof(*eth);
	p->l3_off = sizeof(*eth);
	p->ip_len = bpf_ntohs(iph->tot_len);
	if (iph->version != 4 || iph->ihl < 5 || p->ip_len < iph->ihl * 4 ||
	    p->ip_len > frame_len)
		return PARSE_MALFORMED;
	p->l4_off = p->l3_off + iph->ihl * 4;
	p->saddr = iph->saddr;
	p->daddr = iph->daddr;
	p->proto = iph->protocol;
	p->ip_id = iph->id;
	p->sport = 0;
	p->dport = 0;
	p->tcp_flags = 0;
	p->tcp_wscale = PKT_WSCALE_NONE;
	p->tcp_opt_len = 0;
	p->csum_off = 0;
	p->csum_flags = 0;
	p->kind = PKT_OTHER;

	frag = bpf_ntohs(iph->frag_off);
	p->first_fragment = (frag & (IP_MF | IP_OFFSET)) == IP_MF;
	if (frag & IP_OFFSET) {
		p->kind = PKT_LATER_FRAGMENT;
		return PARSE_OK;
	}
	if (parse_l4(data, end, p) != PARSE_OK)
		return PARSE_MALFORMED;
	if (p->proto == IPPROTO_TCP && (p->tcp_flags & TCPF_SYN))
		p->tcp_wscale = parse_wscale(ctx, kind,
					     p->l4_off + sizeof(struct tcphdr),
					     p->tcp_opt_len);
	return PARSE_OK;
}

#endif /* BPFMASQ_PARSE_H */
