// SPDX-License-Identifier: GPL-2.0
/*
 * pkt.c - test frames and from-scratch checksums. Everything here is
 * written from the RFCs (791, 793, 768, 792, 1071), not from the data path,
 * so the two can disagree when the data path is wrong.
 */
#include <string.h>
#include <arpa/inet.h>

#include "pkt.h"

static const __u8 mac_dst[ETH_ALEN] = { 0x02, 0, 0, 0, 0, 0x01 };
static const __u8 mac_src[ETH_ALEN] = { 0x02, 0, 0, 0, 0, 0x02 };

/* One's complement sum of big-endian 16-bit words, odd byte zero-padded. */
static __u32 csum_add_buf(__u32 sum, const void *buf, size_t len)
{
	const __u8 *b = buf;
	size_t i;

	for (i = 0; i + 1 < len; i += 2)
		sum += (__u32)b[i] << 8 | b[i + 1];
	if (len & 1)
		sum += (__u32)b[len - 1] << 8;
	return sum;
}

static __u16 csum_fold(__u32 sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return sum;
}

static __u32 pseudo_sum(__be32 saddr, __be32 daddr, __u8 proto, size_t len)
{
	__u32 sum = 0;

	sum = csum_add_buf(sum, &saddr, 4);
	sum = csum_add_buf(sum, &daddr, 4);
	return sum + proto + (__u32)len;
}

int l4_csum_offset(__u8 proto)
{
	switch (proto) {
	case IPPROTO_TCP:
		return offsetof(struct tcphdr, check);
	case IPPROTO_UDP:
		return offsetof(struct udphdr, check);
	case IPPROTO_ICMP:
		return offsetof(struct icmphdr, checksum);
	}
	return -1;
}

/* Sum of the segment with its checksum field taken as zero. */
static __u32 l4_sum(__be32 saddr, __be32 daddr, __u8 proto, const __u8 *l4,
		    size_t len)
{
	int off = l4_csum_offset(proto);
	__u32 sum = 0;

	if (proto != IPPROTO_ICMP)
		sum = pseudo_sum(saddr, daddr, proto, len);
	sum = csum_add_buf(sum, l4, off);
	return csum_add_buf(sum, l4 + off + 2, len - off - 2);
}

__u16 l4_csum_compute(__be32 saddr, __be32 daddr, __u8 proto, const __u8 *l4,
		      size_t len)
{
	__u16 csum = ~csum_fold(l4_sum(saddr, daddr, proto, l4, len));

	if (proto == IPPROTO_UDP && csum == 0)
		csum = 0xffff;
	return csum;
}

__u16 ip_csum_compute(const struct iphdr *iph)
{
	const __u8 *b = (const void *)iph;
	size_t hlen = iph->ihl * 4;
	__u32 sum;

	sum = csum_add_buf(0, b, offsetof(struct iphdr, check));
	sum = csum_add_buf(sum, b + offsetof(struct iphdr, saddr),
			   hlen - offsetof(struct iphdr, saddr));
	return ~csum_fold(sum);
}

static size_t l4_header_build(const struct pkt_spec *s, __u8 *l4)
{
	switch (s->proto) {
	case IPPROTO_TCP: {
		struct tcphdr *th = (void *)l4;

		memset(th, 0, sizeof(*th));
		th->source = htons(s->sport);
		th->dest = htons(s->dport);
		th->seq = htonl(s->tcp_numbers ? s->tcp_seq : 0x01020304);
		if (s->tcp_numbers)
			th->ack_seq = htonl(s->tcp_ack);
		else if (s->tcp_flags & PKT_TCP_ACK)
			th->ack_seq = htonl(0x0a0b0c0d);
		th->doff = (sizeof(*th) + s->tcp_opts_len) / 4;
		l4[13] = s->tcp_flags;
		th->window = htons(s->tcp_numbers ? s->tcp_win : 64240);
		if (s->tcp_opts_len)
			memcpy(l4 + sizeof(*th), s->tcp_opts, s->tcp_opts_len);
		return sizeof(*th) + s->tcp_opts_len;
	}
	case IPPROTO_UDP: {
		struct udphdr *uh = (void *)l4;

		uh->source = htons(s->sport);
		uh->dest = htons(s->dport);
		uh->len = htons(sizeof(*uh) + s->payload_len);
		uh->check = 0;
		return sizeof(*uh);
	}
	case IPPROTO_ICMP: {
		struct icmphdr *ih = (void *)l4;

		memset(ih, 0, sizeof(*ih));
		ih->type = s->icmp_type;
		ih->un.echo.id = htons(s->sport);
		ih->un.echo.sequence = htons(1);
		return sizeof(*ih);
	}
	}
	return 0;
}

size_t l4_build(const struct pkt_spec *s, __u8 *l4)
{
	size_t len = l4_header_build(s, l4);
	int off = l4_csum_offset(s->proto);
	__u16 csum;

	if (s->payload_len)
		memcpy(l4 + len, s->payload, s->payload_len);
	len += s->payload_len;
	if (off < 0 || (s->proto == IPPROTO_UDP && s->udp_no_csum))
		return len;
	csum = htons(l4_csum_compute(s->saddr, s->daddr, s->proto, l4, len));
	memcpy(l4 + off, &csum, 2);
	return len;
}

static void eth_build(struct frame *f, __u16 ethertype)
{
	struct ethhdr *eth = (void *)f->data;

	memcpy(eth->h_dest, mac_dst, ETH_ALEN);
	memcpy(eth->h_source, mac_src, ETH_ALEN);
	eth->h_proto = htons(ethertype);
}

/* Options: a Router Alert (RFC 2113), NOPs, an End of Options list. */
static void ip_options_build(__u8 *opt, size_t len)
{
	static const __u8 router_alert[] = { 0x94, 0x04, 0x00, 0x00 };

	memset(opt, 0x01, len);
	memcpy(opt, router_alert, sizeof(router_alert));
	if (len > sizeof(router_alert))
		opt[len - 1] = 0x00;
}

void frame_wrap(struct frame *f, const struct pkt_spec *s, const __u8 *l4,
		size_t l4_len)
{
	struct iphdr *iph = (void *)(f->data + ETH_HLEN);
	size_t hlen = (s->ihl ? s->ihl : 5) * 4;

	memset(f, 0, sizeof(*f));
	eth_build(f, ETH_P_IP);
	iph->version = 4;
	iph->ihl = hlen / 4;
	iph->tot_len = htons(hlen + l4_len);
	iph->id = htons(s->ip_id ? s->ip_id : 0x4242);
	iph->frag_off = htons(s->frag);
	iph->ttl = 64;
	iph->protocol = s->proto;
	iph->saddr = s->saddr;
	iph->daddr = s->daddr;
	ip_options_build((__u8 *)iph + sizeof(*iph), hlen - sizeof(*iph));
	memcpy((__u8 *)iph + hlen, l4, l4_len);
	iph->check = htons(ip_csum_compute(iph));
	f->len = ETH_HLEN + hlen + l4_len;
	/* Not zeros: padding must be left out of every checksum. */
	for (; f->len < s->pad_to; f->len++)
		f->data[f->len] = 0x5a;
}

void frame_build(struct frame *f, const struct pkt_spec *s)
{
	__u8 l4[FRAME_MAX];
	size_t len = l4_build(s, l4);

	frame_wrap(f, s, l4, len);
}

void frame_build_icmp_error(struct frame *f, const struct icmp_error_spec *e,
			    const struct frame *quoted)
{
	const struct iphdr *qiph = (const void *)(quoted->data + ETH_HLEN);
	const struct pkt_spec s = { .saddr = e->saddr,
				    .daddr = e->daddr,
				    .proto = IPPROTO_ICMP,
				    .pad_to = e->pad_to };
	size_t qlen = e->quote_len ? e->quote_len : ntohs(qiph->tot_len);
	__u8 l4[FRAME_MAX];
	struct icmphdr *ih = (void *)l4;
	__u16 csum;

	memset(ih, 0, sizeof(*ih));
	ih->type = e->type;
	ih->code = e->code;
	ih->un.gateway = htonl(e->rest);
	memcpy(l4 + sizeof(*ih), qiph, qlen);
	csum = htons(l4_csum_compute(e->saddr, e->daddr, IPPROTO_ICMP, l4,
				     sizeof(*ih) + qlen));
	memcpy(&ih->checksum, &csum, 2);
	frame_wrap(f, &s, l4, sizeof(*ih) + qlen);
}

void frame_build_ethertype(struct frame *f, __u16 ethertype)
{
	/* IPv6 UDP 2001:db8::2.40000 > 2001:db8::9.53, length 4. */
	static const __u8 ipv6_udp[] = {
		0x60, 0,    0,	  0,   0,    12,   IPPROTO_UDP, 64,   0x20,
		0x01, 0x0d, 0xb8, 0,   0,    0,	   0,		0,    0,
		0,    0,    0,	  0,   0,    2,	   0x20,	0x01, 0x0d,
		0xb8, 0,    0,	  0,   0,    0,	   0,		0,    0,
		0,    0,    0,	  9,   0x9c, 0x40, 0,		53,   0,
		12,   0x12, 0x34, 'p', 'i',  'n',  'g',
	};
	/* ARP who-has 10.0.0.1 tell 10.0.0.2. */
	static const __u8 arp_request[] = {
		0,  1, 0x08, 0x00, 6, 4, 0, 1, 0x02, 0, 0,  0, 0, 0x02,
		10, 0, 0,    2,	   0, 0, 0, 0, 0,    0, 10, 0, 0, 1,
	};
	const __u8 *body = ethertype == ETH_P_IPV6 ? ipv6_udp : arp_request;
	size_t len = ethertype == ETH_P_IPV6 ? sizeof(ipv6_udp)
					     : sizeof(arp_request);

	memset(f, 0, sizeof(*f));
	eth_build(f, ethertype);
	memcpy(f->data + ETH_HLEN, body, len);
	f->len = ETH_HLEN + len;
}

struct iphdr *frame_ip(struct frame *f)
{
	return (void *)(f->data + ETH_HLEN);
}

void *frame_l4(struct frame *f)
{
	return (__u8 *)frame_ip(f) + frame_ip(f)->ihl * 4;
}

size_t frame_l4_len(struct frame *f)
{
	return ntohs(frame_ip(f)->tot_len) - frame_ip(f)->ihl * 4;
}

void frame_fix_ip_csum(struct frame *f)
{
	frame_ip(f)->check = htons(ip_csum_compute(frame_ip(f)));
}

__u16 udp_word_for_zero_csum(const struct pkt_spec *s)
{
	static const __u8 zero[2];
	struct pkt_spec t = *s;
	__u8 l4[FRAME_MAX];
	size_t len;

	t.payload = zero;
	t.payload_len = sizeof(zero);
	len = l4_build(&t, l4);
	/* The word w with sum + w == 0xffff makes ~sum == 0. */
	return 0xffff - csum_fold(l4_sum(t.saddr, t.daddr, t.proto, l4, len));
}
