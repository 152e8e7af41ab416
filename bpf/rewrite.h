/* SPDX-License-Identifier: GPL-2.0 */
/*
 * rewrite.h - rewrite one address and its port (or ICMP echo id) in place,
 * with incremental updates of the IP checksum and of the L4 checksum, which
 * for TCP and UDP covers the address too, through the pseudo-header.
 */
#ifndef BPFMASQ_REWRITE_H
#define BPFMASQ_REWRITE_H

#include <stdbool.h>
#include <stddef.h>

#include "ctx.h"
#include "parse.h"

/*
 * Rewrite one address (at @addr_off) and, for TCP/UDP/ICMP echo, one port
 * or id (at @port_off), fixing the IP checksum and the L4 checksum. The L4
 * checksum covers the address through the pseudo-header for TCP and UDP,
 * not for ICMP. Non-zero when the frame would not take the change.
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
	if (p->kind <= PKT_ECHO_REPLY && from_port != to_port) {
		if (ctx_l4_csum_replace(ctx, kind, csum, from_port, to_port,
					flags | 2))
			return -1;
		if (ctx_store(ctx, kind, port_off, &to_port, 2))
			return -1;
	}
	if (ctx_l3_csum_replace(ctx, kind,
				p->l3_off + offsetof(struct iphdr, check),
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

#endif /* BPFMASQ_REWRITE_H */
