/* SPDX-License-Identifier: GPL-2.0 */
/*
 * frag.h - IPv4 fragments after the first, which carry no L4 header.
 * Outbound, the source address alone is translated. Inbound, a translated
 * first fragment leaves its inside address in the frags LRU map, keyed by
 * the datagram (source, destination, protocol, id), for the fragments that
 * follow it.
 */
#ifndef BPFMASQ_FRAG_H
#define BPFMASQ_FRAG_H

#include "maps.h"
#include "parse.h"
#include "policy.h"
#include "rewrite.h"
#include "verdict.h"

/* The datagram a fragment belongs to. */
static __always_inline struct bpfmasq_frag_key frag_key(const struct pkt *p)
{
	return (struct bpfmasq_frag_key){ .saddr = p->saddr,
					  .daddr = p->daddr,
					  .id = p->ip_id,
					  .proto = p->proto };
}

/* A first fragment was translated to @inside at @now: the rest follow it. */
static __always_inline void frag_remember(const struct pkt *p, __be32 inside,
					  __u64 now)
{
	struct bpfmasq_frag_key fk = frag_key(p);
	struct bpfmasq_frag f = { .inside_addr = inside, .seen_ns = now };

	bpf_map_update_elem(&frags, &fk, &f, BPF_ANY);
}

/* A non-first fragment from inside: only the source address changes. */
static __always_inline __u32 nat_fragment_out(void *ctx,
					      const enum ctx_kind kind,
					      const struct bpfmasq_config *cfg,
					      const struct pkt *p)
{
	if (!is_inside(p->saddr))
		return BPFMASQ_STAT_NOT_INSIDE;
	if (!cfg->ext_addr)
		return BPFMASQ_STAT_NO_ADDRESS;
	if (nat_rewrite_src(ctx, kind, p, cfg->ext_addr, 0))
		return BPFMASQ_STAT_REWRITE_FAILED;
	return BPFMASQ_STAT_TRANSLATED_OUT;
}

/* A non-first fragment from outside: follow its first fragment, if seen. */
static __always_inline __u32 nat_fragment_in(void *ctx,
					     const enum ctx_kind kind,
					     const struct pkt *p)
{
	struct bpfmasq_frag_key fk = frag_key(p);
	struct bpfmasq_frag *f = bpf_map_lookup_elem(&frags, &fk);

	/* The first fragment's state expires as the kernel's reassembly does. */
	if (!f || bpf_ktime_get_boot_ns() - f->seen_ns >
			  BPFMASQ_FRAG_TIMEOUT_S * 1000000000ull)
		return inbound_unmatched(p, BPFMASQ_STAT_FRAGMENT);
	if (nat_rewrite_dst(ctx, kind, p, f->inside_addr, 0))
		return BPFMASQ_STAT_REWRITE_FAILED;
	return BPFMASQ_STAT_TRANSLATED_IN;
}

#endif /* BPFMASQ_FRAG_H */
