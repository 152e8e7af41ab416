/* SPDX-License-Identifier: GPL-2.0 */
/*
 * unreach.h - RFC 6888 REQ-11: a new outbound flow that finds no free
 * external port is dropped, and its sender gets an ICMP destination
 * unreachable, code 1 (host unreachable), from the gateway's address on
 * the interface that leads to it. The error is built in place from the
 * dropped packet (its IP header and the start of its payload, RFC 792),
 * routed with the FIB and redirected to that interface's egress. A token
 * bucket per CPU limits the rate. TC egress only, and only on the
 * port_pool_empty path: the bucket is looked at first.
 */
#ifndef BPFMASQ_UNREACH_H
#define BPFMASQ_UNREACH_H

#include <stdbool.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/icmp.h>
#include <linux/in.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_endian.h>

#include "csum.h"
#include "maps.h"
#include "parse.h"

#define UNREACH_AF_INET 2
#define UNREACH_PERIOD_NS (1000000000ULL / BPFMASQ_UNREACH_RATE)
#define UNREACH_CREDIT_MAX (BPFMASQ_UNREACH_BURST * UNREACH_PERIOD_NS)
#define UNREACH_TTL 64
/* IPTOS_PREC_INTERNETCONTROL, as on the kernel's own ICMP errors. */
#define UNREACH_TOS 0xc0

/* The headers put in front of the quote. */
struct unreach_hdr {
	struct iphdr ip;
	struct icmphdr icmp;
};

/* One error's worth of credit from this CPU's bucket, if it has it. */
static __always_inline bool unreach_allowed(void)
{
	struct bpfmasq_unreach_bucket *b;
	__u64 now = bpf_ktime_get_ns();
	__u32 zero = 0;
	__u64 credit;

	b = bpf_map_lookup_elem(&unreach_bucket, &zero);
	if (!b)
		return false;
	credit = b->credit_ns;
	if (now > b->last_ns)
		credit += now - b->last_ns;
	if (credit > UNREACH_CREDIT_MAX)
		credit = UNREACH_CREDIT_MAX;
	b->last_ns = now;
	if (credit < UNREACH_PERIOD_NS) {
		b->credit_ns = credit;
		return false;
	}
	b->credit_ns = credit - UNREACH_PERIOD_NS;
	return true;
}

static __always_inline __u16 unreach_csum(__s64 sum)
{
	return (__u16)~csum_fold32((__u32)sum);
}

/*
 * Turn @skb, an outbound packet from an inside host that found no port,
 * into an ICMP host unreachable to that host and redirect it there.
 * TC_ACT_REDIRECT when sent; anything else leaves a packet to drop (it
 * may be cut short by then), counted only under its reason: no route
 * back, a GSO packet, headers that cannot be read. The quote is the IP header and 8 bytes of
 * payload, or the whole 20-byte TCP header for TCP: a TCP checksum left
 * to offload (CHECKSUM_PARTIAL) pins the packet's length past it. Such a
 * checksum still points at the quoted L4 header once the error is built,
 * so its field is rewritten to the value that completing it gives
 * (csum_fixed_point): the ICMP checksum, computed over the final bytes,
 * stays right whether or not anyone completes it.
 */
static __noinline int unreach_send(struct __sk_buff *skb)
{
	struct bpf_fib_lookup fib = {};
	struct unreach_hdr h = {};
	__u8 iph[60] = {};
	__u8 l4[20] = {};
	struct iphdr *ip = (void *)iph;
	__u32 ihl, qlen, fixed_off = 0;
	__u16 fixed = 0;
	__s64 sum;
	long ret;

	if (!unreach_allowed()) {
		stat_inc(BPFMASQ_STAT_ICMP_UNREACH_LIMITED);
		return TC_ACT_SHOT;
	}
	/* One datagram of many (GSO) cannot be answered on its own. */
	if (skb->gso_size)
		return TC_ACT_SHOT;
	if (bpf_skb_load_bytes(skb, ETH_HLEN, iph, sizeof(*ip)))
		return TC_ACT_SHOT;
	/* Only what reaches the port allocation: never a later fragment. */
	if (ip->version != 4 || ip->ihl < 5 ||
	    (ip->frag_off & bpf_htons(IP_OFFSET)))
		return TC_ACT_SHOT;
	ihl = ip->ihl * 4;
	/* With its options: 20 to 60 bytes. */
	if (ihl > sizeof(*ip) && bpf_skb_load_bytes(skb, ETH_HLEN, iph, ihl))
		return TC_ACT_SHOT;
	switch (ip->protocol) {
	case IPPROTO_TCP:
		qlen = 20;
		fixed_off = offsetof(struct tcphdr, check);
		break;
	case IPPROTO_UDP:
		qlen = 8;
		fixed_off = offsetof(struct udphdr, check);
		break;
	case IPPROTO_ICMP:
		qlen = 8;
		break;
	default:
		return TC_ACT_SHOT;
	}
	if (bpf_ntohs(ip->tot_len) < ihl + qlen ||
	    bpf_skb_load_bytes(skb, ETH_HLEN + ihl, l4, qlen))
		return TC_ACT_SHOT;
	/* Echo requests only: never an error about an error. */
	if (ip->protocol == IPPROTO_ICMP && l4[0] != ICMP_ECHO)
		return TC_ACT_SHOT;

	fib.family = UNREACH_AF_INET;
	fib.ipv4_dst = ip->saddr;
	fib.tot_len = sizeof(h) + ihl + qlen;
	/*
	 * The route a packet for the inside host arriving on the WAN would
	 * take: an ingress lookup, since an egress one (BPF_FIB_LOOKUP_OUTPUT)
	 * takes ifindex as the output device. It gives the LAN interface, the
	 * MACs and, with BPF_FIB_LOOKUP_SRC, the gateway's address there.
	 */
	fib.ifindex = skb->ifindex;
	ret = bpf_fib_lookup(skb, &fib, sizeof(fib), BPF_FIB_LOOKUP_SRC);
	if (ret != BPF_FIB_LKUP_RET_SUCCESS || fib.ifindex == skb->ifindex)
		return TC_ACT_SHOT;

	if (fixed_off == offsetof(struct tcphdr, check)) {
		*(__u16 *)(l4 + offsetof(struct tcphdr, check)) = 0;
		fixed = csum_fixed_point(
			csum_fold32(bpf_csum_diff(NULL, 0, (void *)l4, 20, 0)));
		*(__u16 *)(l4 + offsetof(struct tcphdr, check)) = fixed;
	} else if (fixed_off) {
		*(__u16 *)(l4 + offsetof(struct udphdr, check)) = 0;
		fixed = csum_fixed_point(
			csum_fold32(bpf_csum_diff(NULL, 0, (void *)l4, 8, 0)));
		*(__u16 *)(l4 + offsetof(struct udphdr, check)) = fixed;
	}

	h.ip.version = 4;
	h.ip.ihl = sizeof(h.ip) / 4;
	h.ip.tos = UNREACH_TOS;
	h.ip.tot_len = bpf_htons(sizeof(h) + ihl + qlen);
	h.ip.ttl = UNREACH_TTL;
	h.ip.protocol = IPPROTO_ICMP;
	h.ip.saddr = fib.ipv4_src;
	h.ip.daddr = ip->saddr;
	h.ip.check = unreach_csum(
		bpf_csum_diff(NULL, 0, (void *)&h.ip, sizeof(h.ip), 0));
	h.icmp.type = ICMP_DEST_UNREACH;
	h.icmp.code = ICMP_HOST_UNREACH;
	sum = bpf_csum_diff(NULL, 0, (void *)&h.icmp, sizeof(h.icmp), 0);
	sum = bpf_csum_diff(NULL, 0, (void *)iph, ihl & 63, (__u32)sum);
	/* Constant lengths: the verifier must see the quote's bound. */
	if (qlen == 20)
		sum = bpf_csum_diff(NULL, 0, (void *)l4, 20, (__u32)sum);
	else
		sum = bpf_csum_diff(NULL, 0, (void *)l4, 8, (__u32)sum);
	h.icmp.checksum = unreach_csum(sum);

	/* Cut to the quote, then make room for the new headers after Ethernet. */
	if (bpf_skb_change_tail(skb, ETH_HLEN + ihl + qlen, 0) ||
	    bpf_skb_adjust_room(skb, sizeof(h), BPF_ADJ_ROOM_MAC, 0))
		return TC_ACT_SHOT;
	if (bpf_skb_store_bytes(skb, ETH_HLEN, &h, sizeof(h),
				BPF_F_RECOMPUTE_CSUM))
		return TC_ACT_SHOT;
	if (fixed_off &&
	    bpf_skb_store_bytes(skb, ETH_HLEN + sizeof(h) + ihl + fixed_off,
				&fixed, sizeof(fixed), BPF_F_RECOMPUTE_CSUM))
		return TC_ACT_SHOT;
	if (bpf_skb_store_bytes(skb, 0, fib.dmac, ETH_ALEN, 0) ||
	    bpf_skb_store_bytes(skb, ETH_ALEN, fib.smac, ETH_ALEN, 0))
		return TC_ACT_SHOT;
	ret = bpf_redirect(fib.ifindex, 0);
	if (ret == TC_ACT_REDIRECT)
		stat_inc(BPFMASQ_STAT_ICMP_UNREACH_SENT);
	return ret;
}

#endif /* BPFMASQ_UNREACH_H */
