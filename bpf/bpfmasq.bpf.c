// SPDX-License-Identifier: GPL-2.0
/*
 * bpfmasq.bpf.c - the entry points: TC on the WAN egress translates
 * outbound packets; XDP on the WAN ingress translates replies back, or TC
 * on the WAN ingress where XDP cannot see that a checksum is only partial
 * (frames from a local sender on veth or tun). The logic lives in nat.h;
 * each entry point counts the reason its packet ends under, once, and maps
 * the reason's verdict to its hook's code (verdict.h). A packet dropped
 * because its flow found no port may leave as an ICMP error to its sender
 * instead (unreach.h).
 */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

#include "fast.h"
#include "hairpin.h"
#include "nat.h"
#include "unreach.h"
#include "verdict.h"

SEC("tc")
int bpfmasq_egress(struct __sk_buff *skb)
{
	__u32 reason = nat_outbound(skb, CTX_SKB);

	if (reason == BPFMASQ_STAT_PORT_POOL_EMPTY &&
	    unreach_send(skb) == TC_ACT_REDIRECT) {
		nat_exit(reason);
		return TC_ACT_REDIRECT;
	}
	return nat_exit(reason) == NAT_DROP ? TC_ACT_SHOT : TC_ACT_OK;
}

SEC("xdp")
int bpfmasq_ingress(struct xdp_md *ctx)
{
	__u32 reason = nat_inbound(ctx, CTX_XDP);

	if (nat_exit(reason) == NAT_DROP)
		return XDP_DROP;
	return fast_in(ctx, CTX_XDP, reason, XDP_PASS);
}

SEC("tc")
int bpfmasq_ingress_tc(struct __sk_buff *skb)
{
	__u32 reason = nat_inbound(skb, CTX_SKB);

	if (nat_exit(reason) == NAT_DROP)
		return TC_ACT_SHOT;
	return fast_in(skb, CTX_SKB, reason, TC_ACT_OK);
}

/* On the XDP hook of each fast-path LAN interface (fast.h). */
SEC("xdp")
int bpfmasq_lan(struct xdp_md *ctx)
{
	return fast_out(ctx);
}

/* On the TC ingress of each --hairpin LAN interface (hairpin.h). */
SEC("tc")
int bpfmasq_hairpin(struct __sk_buff *skb)
{
	return hairpin(skb);
}

char LICENSE[] SEC("license") = "GPL";
