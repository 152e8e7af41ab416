/* SPDX-License-Identifier: GPL-2.0 */
/*
 * hairpin.h - hairpinning (RFC 4787 REQ-9, RFC 5382 REQ-8): an inside host
 * that sends to the external address, to a port that a mapping or a
 * forward holds, reaches the inside endpoint behind it, and that one sees
 * the caller's external endpoint, never its inside one. On the TC ingress
 * of a --hairpin LAN interface, such a packet is translated out as if it
 * left by the WAN (its source becomes the caller's mapping), then in as if
 * it came back (its destination the port's inside endpoint, or a static's
 * inside host), with the same
 * NAT code and state as the WAN's programs, and leaves for that host
 * through the kernel's neighbour table with its TTL one less: the kernel
 * would not forward a packet from its own address. Everything else on the
 * interface (the gateway's own services on the external address among it)
 * is left to the kernel, uncounted.
 */
#ifndef BPFMASQ_HAIRPIN_H
#define BPFMASQ_HAIRPIN_H

#include <stdbool.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/pkt_cls.h>

#include "ctx.h"
#include "fast.h"
#include "maps.h"
#include "nat.h"
#include "parse.h"
#include "ports.h"
#include "verdict.h"

/*
 * Is @p, from a LAN, for an inside endpoint behind the external address,
 * or for a static's outside address?
 */
static __always_inline bool hairpin_wanted(const struct bpfmasq_config *cfg,
					   const struct pkt *p)
{
	struct bpfmasq_endpoint ext, inside;

	if (!cfg->ext_addr || p->kind != PKT_PORTS || p->first_fragment)
		return false;
	/* A static's outside address: its inside host, on every port. */
	if (!ext_addr_ours(cfg, p->daddr))
		return static_peer(cfg, p->daddr, BPFMASQ_STATIC_IN);
	endpoint_make(&ext, p->daddr, p->dport, p->proto);
	return port_owner(&ext, &inside);
}

/* Send the skb on to its (new) destination: TTL one less, by the FIB. */
static __always_inline __u32 hairpin_send(struct __sk_buff *skb, int *rc)
{
	struct bpf_fib_lookup fib = {};
	void *data = ctx_data(skb, CTX_SKB), *end = ctx_data_end(skb, CTX_SKB);
	struct iphdr *ip = data + sizeof(struct ethhdr);
	long r;

	if ((void *)(ip + 1) > end)
		return BPFMASQ_STAT_REWRITE_FAILED;
	if (ip->ttl <= 1)
		return BPFMASQ_STAT_HAIRPIN_REFUSED;
	fib_init(&fib, ip, skb->ingress_ifindex);
	r = bpf_fib_lookup(skb, &fib, sizeof(fib), 0);
	if (r != BPF_FIB_LKUP_RET_SUCCESS && r != BPF_FIB_LKUP_RET_NO_NEIGH)
		return BPFMASQ_STAT_HAIRPIN_REFUSED;
	data = ctx_data(skb, CTX_SKB);
	end = ctx_data_end(skb, CTX_SKB);
	ip = data + sizeof(struct ethhdr);
	if ((void *)(ip + 1) > end)
		return BPFMASQ_STAT_REWRITE_FAILED;
	ttl_dec(ip);
	*rc = bpf_redirect_neigh(fib.ifindex, NULL, 0, 0);
	return BPFMASQ_STAT_HAIRPINNED;
}

/*
 * The TC ingress of a --hairpin LAN interface: TC_ACT_OK for what is not
 * hairpinned, else the packet translated both ways and redirected, or
 * dropped (its one reason counted either way).
 */
static __always_inline int hairpin(struct __sk_buff *skb)
{
	const struct bpfmasq_config *cfg = config_get();
	int rc = TC_ACT_SHOT;
	struct pkt p;
	__u32 reason;

	if (!cfg || nat_parse(skb, CTX_SKB, &p) != NAT_CONTINUE ||
	    !hairpin_wanted(cfg, &p))
		return TC_ACT_OK;
	/* Out, as the WAN's egress would: the caller's mapping. */
	reason = nat_outbound_pkt(skb, CTX_SKB, &p);
	/* Untouched (not from inside, say): the kernel's, as it came. */
	if (reason != BPFMASQ_STAT_TRANSLATED_OUT)
		return nat_exit(reason) == NAT_DROP ? TC_ACT_SHOT : TC_ACT_OK;
	/* In, as the WAN's ingress would, from that external endpoint. */
	reason = nat_parse(skb, CTX_SKB, &p);
	if (reason == NAT_CONTINUE)
		reason = nat_inbound_l4(skb, CTX_SKB, &p);
	/* Translated out already: nowhere else to go. */
	if (reason != BPFMASQ_STAT_TRANSLATED_IN) {
		if (!reason_drops(reason))
			reason = BPFMASQ_STAT_HAIRPIN_REFUSED;
		goto out;
	}
	reason = hairpin_send(skb, &rc);
out:
	nat_exit(reason);
	return reason == BPFMASQ_STAT_HAIRPINNED ? rc : TC_ACT_SHOT;
}

#endif /* BPFMASQ_HAIRPIN_H */
