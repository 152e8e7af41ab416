/* SPDX-License-Identifier: GPL-2.0 */
/*
 * fast.h - the fast path: a translated packet goes straight to its next
 * hop instead of through the kernel's forwarding path. The route comes from
 * bpf_fib_lookup (the kernel's own tables and neighbours); the packet
 * leaves by a redirect with its TTL one less and the next hop's MAC
 * addresses, as the kernel would have sent it. Outbound, the LAN
 * interface's XDP program (bpfmasq_lan) translates with the same NAT code
 * as the WAN's egress; inbound, the WAN's ingress program sends on what it
 * translated. What the fast path cannot finish goes to the kernel unchanged,
 * on the normal path, counted by reason: a neighbour not resolved, a TTL
 * that runs out, a packet too big for the next hop, IP options, fragments.
 * A route that is not through a fast-path interface (a local destination
 * among them) is no business of the fast path's, and not counted.
 */
#ifndef BPFMASQ_FAST_H
#define BPFMASQ_FAST_H

#include <stdbool.h>
#include <linux/if_ether.h>
#include <linux/ip.h>

#include "ctx.h"
#include "maps.h"
#include "nat.h"
#include "parse.h"
#include "verdict.h"

#ifndef AF_INET
#define AF_INET 2
#endif

/* Where a packet goes next, from bpf_fib_lookup. */
struct fast_hop {
	__u32 ifindex;
	__u8 dmac[ETH_ALEN];
	__u8 smac[ETH_ALEN];
};

/* Is @ifindex a fast-path interface of @role (BPFMASQ_FAST_*)? */
static __always_inline bool fast_iface(__u32 ifindex, __u8 role)
{
	const struct bpfmasq_fast_iface *f =
		bpf_map_lookup_elem(&fast_ifaces, &ifindex);

	return f && f->role == role;
}

/*
 * The IPv4 header of the frame in @ctx, for the fields the forwarding
 * needs; NULL if it is not all there (the parser has seen to that).
 */
static __always_inline struct iphdr *fast_ip(void *ctx,
					     const enum ctx_kind kind)
{
	void *data = ctx_data(ctx, kind), *end = ctx_data_end(ctx, kind);
	struct iphdr *ip = data + sizeof(struct ethhdr);

	if ((void *)(ip + 1) > end)
		return NULL;
	return ip;
}

/* A FIB lookup of @ip's route, for a packet that came in on @ifindex. */
static __always_inline void fib_init(struct bpf_fib_lookup *fib,
				     const struct iphdr *ip, __u32 ifindex)
{
	fib->family = AF_INET;
	fib->tos = ip->tos;
	fib->l4_protocol = ip->protocol;
	fib->ipv4_src = ip->saddr;
	fib->ipv4_dst = ip->daddr;
	fib->ifindex = ifindex;
}

/* One hop on: TTL one less, the IP checksum to match. */
static __always_inline void ttl_dec(struct iphdr *ip)
{
	__u16 old = *(__u16 *)&ip->ttl, new;

	ip->ttl--;
	new = *(__u16 *)&ip->ttl;
	csum_replace2(&ip->check, old, new);
}

/*
 * May the kernel forward between @a and others at all? Not "this
 * network" (0/8), loopback, multicast, class E or the limited broadcast
 * (224/3 up): bpf_fib_lookup takes the default route for them, where the
 * kernel's own forwarding drops them (martians) or leaves them to a
 * multicast router.
 */
static __always_inline bool fast_unicast(__be32 a)
{
	__u8 first = bpf_ntohl(a) >> 24;

	return first && first != 127 && first < 224;
}

/* What fast_route finds, besides a reason the kernel has to finish it. */
#define FAST_GO BPFMASQ_STAT_MAX /* the fast path takes it, to @hop */
#define FAST_NOT_OURS (BPFMASQ_STAT_MAX + 1) /* not the fast path's route */

/*
 * The next hop of the frame in @ctx, which came in on @in_ifindex, if it
 * leaves through a fast-path interface of @role: FAST_GO with @hop;
 * FAST_NOT_OURS when the route goes elsewhere (a local destination too);
 * else the reason the kernel has to finish it (BPFMASQ_STAT_FAST_*).
 */
static __always_inline __u32 fast_route(void *ctx, const enum ctx_kind kind,
					__u32 in_ifindex, __u8 role,
					struct fast_hop *hop)
{
	struct bpf_fib_lookup fib = {};
	struct iphdr *ip = fast_ip(ctx, kind);
	long rc;

	if (!ip || !fast_unicast(ip->daddr) || !fast_unicast(ip->saddr))
		return FAST_NOT_OURS;
	fib_init(&fib, ip, in_ifindex);
	/*
	 * The next hop's MTU is checked against the length; an skb that GRO
	 * built is segmented again on the way out, and is not.
	 */
	if (kind == CTX_XDP || !((struct __sk_buff *)ctx)->gso_segs ||
	    ((struct __sk_buff *)ctx)->gso_segs == 1)
		fib.tot_len = bpf_ntohs(ip->tot_len);
	rc = bpf_fib_lookup(ctx, &fib, sizeof(fib), 0);
	/*
	 * The egress is known for these; no route, a blackhole, a prohibit
	 * or a local destination are the kernel's to answer for.
	 */
	if ((rc != BPF_FIB_LKUP_RET_SUCCESS &&
	     rc != BPF_FIB_LKUP_RET_NO_NEIGH &&
	     rc != BPF_FIB_LKUP_RET_FRAG_NEEDED) ||
	    !fast_iface(fib.ifindex, role))
		return FAST_NOT_OURS;
	ip = fast_ip(ctx, kind);
	if (!ip)
		return FAST_NOT_OURS;
	/* Options to act on (record route, ...): the kernel does. */
	if (ip->ihl != 5)
		return BPFMASQ_STAT_FAST_IP_OPTIONS;
	/* A datagram's fragments take one path, the kernel's. */
	if (ip->frag_off & bpf_htons(IP_MF | IP_OFFSET))
		return BPFMASQ_STAT_FAST_FRAGMENT;
	/* The kernel sends the time exceeded, and fragmentation needed. */
	if (ip->ttl <= 1)
		return BPFMASQ_STAT_FAST_TTL;
	if (rc == BPF_FIB_LKUP_RET_FRAG_NEEDED)
		return BPFMASQ_STAT_FAST_TOO_BIG;
	/* The kernel resolves the neighbour; the next packets go fast. */
	if (rc == BPF_FIB_LKUP_RET_NO_NEIGH)
		return BPFMASQ_STAT_FAST_NO_NEIGH;
	hop->ifindex = fib.ifindex;
	__builtin_memcpy(hop->dmac, fib.dmac, ETH_ALEN);
	__builtin_memcpy(hop->smac, fib.smac, ETH_ALEN);
	return FAST_GO;
}

/* A fast_route answer other than FAST_GO: counted if it is a fallback. */
static __always_inline void fast_fallback(__u32 r)
{
	if (r < BPFMASQ_STAT_MAX)
		stat_inc(r);
}

/*
 * Send the frame in @ctx to @hop as the kernel forwards: TTL one less (the
 * IP checksum updated), the next hop's MAC addresses. The redirect's
 * return code, or -1 if the frame would not take it.
 */
static __always_inline int fast_send(void *ctx, const enum ctx_kind kind,
				     const struct fast_hop *hop)
{
	void *data = ctx_data(ctx, kind), *end = ctx_data_end(ctx, kind);
	struct ethhdr *eth = data;
	struct iphdr *ip = data + sizeof(*eth);

	if ((void *)(ip + 1) > end)
		return -1;
	ttl_dec(ip);
	__builtin_memcpy(eth->h_dest, hop->dmac, ETH_ALEN);
	__builtin_memcpy(eth->h_source, hop->smac, ETH_ALEN);
	return bpf_redirect(hop->ifindex, 0);
}

/*
 * A reply the WAN's ingress program translated (@reason TRANSLATED_IN):
 * straight to the LAN if its route is through a fast-path interface; else
 * the hook's @pass, to the kernel.
 */
static __always_inline int fast_in(void *ctx, const enum ctx_kind kind,
				   __u32 reason, int pass)
{
	const struct bpfmasq_config *cfg;
	struct fast_hop hop;
	__u32 in_ifindex, r;
	int rc;

	if (reason != BPFMASQ_STAT_TRANSLATED_IN)
		return pass;
	cfg = config_get();
	if (!cfg || !(cfg->flags & BPFMASQ_CFG_FAST_PATH))
		return pass;
	in_ifindex = kind == CTX_XDP
			     ? ((struct xdp_md *)ctx)->ingress_ifindex
			     : ((struct __sk_buff *)ctx)->ingress_ifindex;
	r = fast_route(ctx, kind, in_ifindex, BPFMASQ_FAST_LAN, &hop);
	if (r != FAST_GO) {
		fast_fallback(r);
		return pass;
	}
	rc = fast_send(ctx, kind, &hop);
	if (rc < 0)
		return pass;
	stat_inc(BPFMASQ_STAT_FAST_IN);
	return rc;
}

/* Is @p's source one of the instance's external addresses? */
static __always_inline bool fast_own_source(const struct pkt *p)
{
	const struct bpfmasq_config *cfg = config_get();

	return cfg && ext_addr_ours(cfg, p->saddr);
}

/*
 * A packet that came in on a fast-path LAN interface (XDP): if the kernel
 * would forward it out of the WAN, translate it here, as the WAN's egress
 * would, and send it there. Anything else goes to the kernel as it came,
 * and uncounted: the normal path counts what it does with it.
 */
static __always_inline int fast_out(struct xdp_md *ctx)
{
	struct fast_hop hop;
	struct pkt p;
	__u32 reason;
	int rc;

	if (nat_parse(ctx, CTX_XDP, &p) != NAT_CONTINUE ||
	    (p.kind != PKT_PORTS && p.kind != PKT_ECHO_REQUEST &&
	     p.kind != PKT_LATER_FRAGMENT))
		return XDP_PASS;
	reason = fast_route(ctx, CTX_XDP, ctx->ingress_ifindex,
			    BPFMASQ_FAST_WAN, &hop);
	if (reason != FAST_GO) {
		fast_fallback(reason);
		return XDP_PASS;
	}
	/* The gateway's own echo source, from a LAN: a martian, the kernel's. */
	if (p.kind == PKT_ECHO_REQUEST && fast_own_source(&p))
		return XDP_PASS;
	reason = nat_outbound_pkt(ctx, CTX_XDP, &p);
	/* The normal path would refuse it again, and count it twice. */
	if (reason == BPFMASQ_STAT_HOST_PORT_LIMIT ||
	    reason == BPFMASQ_STAT_HOST_SESSION_LIMIT) {
		nat_exit(reason);
		return XDP_DROP;
	}
	if (reason != BPFMASQ_STAT_TRANSLATED_OUT)
		return XDP_PASS;
	rc = fast_send(ctx, CTX_XDP, &hop);
	nat_exit(reason);
	/* Translated already: on the normal path, egress leaves it be. */
	if (rc < 0)
		return XDP_PASS;
	stat_inc(BPFMASQ_STAT_FAST_OUT);
	return rc;
}

#endif /* BPFMASQ_FAST_H */
