/* SPDX-License-Identifier: GPL-2.0 */
/*
 * frag.h - IPv4 fragments after the first, which carry no L4 header.
 * Outbound, the source address alone is translated, in whatever order they
 * come. Inbound, a datagram's first fragment settles where its fragments
 * go, in the frags LRU map keyed by the datagram (source, destination,
 * protocol, id): to its inside host, or to the gateway's own stack. A
 * later fragment that comes first (RFC 4787 REQ-14) is handed whole to the
 * daemon to hold, while one runs; the datagram's entry waits with inside
 * address 0, and the CPU that settles it tells the daemon, which sends the
 * held fragments on.
 */
#ifndef BPFMASQ_FRAG_H
#define BPFMASQ_FRAG_H

#include <stdbool.h>

#include "addrs.h"
#include "ctx.h"
#include "maps.h"
#include "parse.h"
#include "policy.h"
#include "ports.h"
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

/*
 * A datagram's entry lives as the kernel's reassembly does. Past it, an IP
 * id used again by another datagram must not follow the first one's.
 */
static __always_inline bool frag_fresh(const struct bpfmasq_frag *f, __u64 now)
{
	return now - f->seen_ns <= BPFMASQ_FRAG_TIMEOUT_S * NS_PER_S;
}

/* Tell the daemon that the datagram @fk's fragments go to @inside. */
static __always_inline void frag_settled(const struct bpfmasq_frag_key *fk,
					 __be32 inside, __u64 now)
{
	struct bpfmasq_frag_event ev = { .type = BPFMASQ_FRAG_EV_SETTLED,
					 .dgram = *fk,
					 .inside_addr = inside,
					 .at_ns = now };

	bpf_ringbuf_output(&frag_events, &ev, sizeof(ev), 0);
}

/*
 * Settle a waiting entry @f to @inside: only one CPU's compare-and-swap
 * does, and that one tells the daemon.
 */
static __always_inline void
frag_settle_waiting(struct bpfmasq_frag *f, const struct bpfmasq_frag_key *fk,
		    __be32 inside, __u64 now)
{
	if (!__sync_val_compare_and_swap(&f->inside_addr, 0, inside))
		frag_settled(fk, inside, now);
}

/*
 * Does a live entry send the datagram of first fragment @p to a host other
 * than @inside? A look only, for a packet that has state to make first.
 */
static __always_inline bool frag_conflicts(const struct pkt *p, __be32 inside,
					   __u64 now)
{
	struct bpfmasq_frag_key fk = frag_key(p);
	struct bpfmasq_frag *f = bpf_map_lookup_elem(&frags, &fk);

	return f && frag_fresh(f, now) && f->inside_addr &&
	       f->inside_addr != inside;
}

/*
 * First fragment @p is translated to @inside at @now: the rest follow it.
 * False when its datagram's live entry sends them to another host (a
 * second first fragment, spoofed or of a datagram that used the id again
 * too soon): the first one's host keeps them.
 */
static __always_inline bool frag_settle(const struct pkt *p, __be32 inside,
					__u64 now)
{
	struct bpfmasq_frag_key fk = frag_key(p);
	struct bpfmasq_frag f = { .inside_addr = inside, .seen_ns = now };
	struct bpfmasq_frag *cur;

	cur = bpf_map_lookup_elem(&frags, &fk);
	if (!cur && !bpf_map_update_elem(&frags, &fk, &f, BPF_NOEXIST))
		return true;
	if (!cur)
		cur = bpf_map_lookup_elem(&frags, &fk);
	if (!cur || !frag_fresh(cur, now)) {
		bpf_map_update_elem(&frags, &fk, &f, BPF_ANY);
		return true;
	}
	frag_settle_waiting(cur, &fk, inside, now);
	return cur->inside_addr == inside;
}

/*
 * First fragment @p goes to the gateway's own stack, untranslated: if later
 * fragments of its datagram came first and are held, they go there too.
 */
static __always_inline void frag_first_passed(const struct pkt *p)
{
	struct bpfmasq_frag_key fk = frag_key(p);
	struct bpfmasq_frag *cur = bpf_map_lookup_elem(&frags, &fk);

	if (cur && !cur->inside_addr)
		frag_settle_waiting(cur, &fk, p->daddr,
				    bpf_ktime_get_boot_ns());
}

/* A non-first fragment from inside: only the source address changes. */
static __always_inline __u32 nat_fragment_out(void *ctx,
					      const enum ctx_kind kind,
					      const struct bpfmasq_config *cfg,
					      const struct pkt *p)
{
	__be32 addr;

	if (!is_inside(p->saddr))
		return BPFMASQ_STAT_NOT_INSIDE;
	/* The host's address, as its first fragment's mapping has it. */
	addr = ext_addr_held(cfg, p->saddr);
	if (!addr)
		return BPFMASQ_STAT_NO_ADDRESS;
	if (nat_rewrite_src(ctx, kind, p, addr, 0))
		return BPFMASQ_STAT_REWRITE_FAILED;
	return BPFMASQ_STAT_TRANSLATED_OUT;
}

/* Fragment @p goes where its datagram was settled to: @inside. */
static __always_inline __u32 frag_follow(void *ctx, const enum ctx_kind kind,
					 const struct pkt *p, __be32 inside)
{
	if (inside == p->daddr)
		return inbound_unmatched(p, BPFMASQ_STAT_FRAGMENT);
	if (nat_rewrite_dst(ctx, kind, p, inside, 0))
		return BPFMASQ_STAT_REWRITE_FAILED;
	return BPFMASQ_STAT_TRANSLATED_IN;
}

/* Is a daemon there to hold @p, a fragment to the external address? */
static __always_inline bool frag_holding(const struct pkt *p, __u64 now)
{
	const struct bpfmasq_config *cfg = config_get();
	const struct bpfmasq_daemon *d;
	__u32 zero = 0;

	if (!cfg || !ext_addr_ours(cfg, p->daddr))
		return false;
	d = bpf_map_lookup_elem(&daemon, &zero);
	return d && d->alive_ns &&
	       now - d->alive_ns <= BPFMASQ_DAEMON_ALIVE_S * NS_PER_S;
}

/* Hand fragment @p, whole, to the daemon to hold; it is dropped here. */
static __always_inline __u32 frag_hold(void *ctx, const enum ctx_kind kind,
				       const struct pkt *p,
				       const struct bpfmasq_frag_key *fk,
				       __u64 now)
{
	struct bpfmasq_frag_held_event *e;
	__u32 len = p->ip_len;

	if (len < sizeof(struct iphdr) || len > BPFMASQ_FRAG_HOLD_BYTES)
		return BPFMASQ_STAT_FRAG_NOT_HELD;
	e = bpf_ringbuf_reserve(&frag_events, sizeof(*e), 0);
	if (!e)
		return BPFMASQ_STAT_FRAG_NOT_HELD;
	if (ctx_load_bytes(ctx, kind, p->l3_off, e->data, len)) {
		bpf_ringbuf_discard(e, 0);
		return BPFMASQ_STAT_FRAG_NOT_HELD;
	}
	e->ev = (struct bpfmasq_frag_event){ .type = BPFMASQ_FRAG_EV_HELD,
					     .len = len,
					     .dgram = *fk,
					     .at_ns = now };
	bpf_ringbuf_submit(e, 0);
	return BPFMASQ_STAT_FRAG_HELD;
}

/*
 * A non-first fragment from outside: follow its first fragment, if seen;
 * else hold it for it, if a daemon can.
 */
static __always_inline __u32 nat_fragment_in(void *ctx,
					     const enum ctx_kind kind,
					     const struct pkt *p)
{
	struct bpfmasq_frag_key fk = frag_key(p);
	__u64 now = bpf_ktime_get_boot_ns();
	struct bpfmasq_frag wait = { .seen_ns = now };
	struct bpfmasq_frag *f = bpf_map_lookup_elem(&frags, &fk);

	if (f && frag_fresh(f, now) && f->inside_addr)
		return frag_follow(ctx, kind, p, f->inside_addr);
	if (!frag_holding(p, now))
		return inbound_unmatched(p, BPFMASQ_STAT_FRAGMENT);
	/* The datagram waits for its first fragment. */
	if ((!f || !frag_fresh(f, now)) &&
	    bpf_map_update_elem(&frags, &fk, &wait,
				f ? BPF_EXIST : BPF_NOEXIST)) {
		/* Another CPU made the entry meanwhile: it may be settled. */
		f = bpf_map_lookup_elem(&frags, &fk);
		if (f && f->inside_addr)
			return frag_follow(ctx, kind, p, f->inside_addr);
	}
	return frag_hold(ctx, kind, p, &fk, now);
}

#endif /* BPFMASQ_FRAG_H */
