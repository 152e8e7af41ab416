/* SPDX-License-Identifier: GPL-2.0 */
/*
 * static.h - static NAT (1:1): a packet from a static's inside address that
 * no session knows leaves with its outside address, and any packet to the
 * outside address reaches the inside one, every port and protocol, ports
 * unchanged, with no state (policy.h has the lookup, icmp.h the errors).
 * A session of the inside host that was there first (a masqueraded flow
 * from before the static) keeps its own translation until it ends.
 */
#ifndef BPFMASQ_STATIC_H
#define BPFMASQ_STATIC_H

#include "ctx.h"
#include "icmp.h"
#include "maps.h"
#include "parse.h"
#include "policy.h"
#include "rewrite.h"
#include "verdict.h"

/*
 * Outbound @p (no ICMP error), that no session knows: from a static's
 * inside address, its source becomes the outside one. NAT_CONTINUE if
 * it is from no static's.
 */
static __always_inline __u32 nat_static_out(void *ctx, const enum ctx_kind kind,
					    const struct bpfmasq_config *cfg,
					    const struct pkt *p)
{
	__be32 outside = static_peer(cfg, p->saddr, BPFMASQ_STATIC_OUT);

	if (!outside)
		return NAT_CONTINUE;
	if (is_excluded(p->daddr))
		return BPFMASQ_STAT_EXCLUDED;
	if (nat_rewrite_src(ctx, kind, p, outside, p->sport))
		return BPFMASQ_STAT_REWRITE_FAILED;
	stat_inc(BPFMASQ_STAT_STATIC_OUT);
	return BPFMASQ_STAT_TRANSLATED_OUT;
}

/*
 * Inbound @p to a static's outside address: its destination becomes the
 * inside one, whatever it is (filtering does not apply: that is what 1:1
 * means). The external address of the masquerade is never a static's.
 * NAT_CONTINUE if it is to no static's.
 */
static __always_inline __u32 nat_static_in(void *ctx, const enum ctx_kind kind,
					   const struct pkt *p)
{
	const struct bpfmasq_config *cfg = config_get();
	__be32 inside;

	if (!cfg || p->daddr == cfg->ext_addr)
		return NAT_CONTINUE;
	inside = static_peer(cfg, p->daddr, BPFMASQ_STATIC_IN);
	if (!inside)
		return NAT_CONTINUE;
	if (p->kind == PKT_ICMP_ERROR)
		return nat_icmp_error_in_static(ctx, kind, p, inside);
	if (nat_rewrite_dst(ctx, kind, p, inside, p->dport))
		return BPFMASQ_STAT_REWRITE_FAILED;
	stat_inc(BPFMASQ_STAT_STATIC_IN);
	return BPFMASQ_STAT_TRANSLATED_IN;
}

#endif /* BPFMASQ_STATIC_H */
