/* SPDX-License-Identifier: GPL-2.0 */
/*
 * ctx.h - a small shim over the two program contexts, so that the NAT logic
 * is written once and compiled into both XDP and TC entry points. Every
 * function takes the context kind as a compile-time constant; after inlining
 * only the branch for that kind is left.
 */
#ifndef BPFMASQ_CTX_H
#define BPFMASQ_CTX_H

#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

#include "csum.h"

enum ctx_kind {
	CTX_XDP,
	CTX_SKB,
};

/*
 * Every field the NAT writes lies within this many bytes of the frame's
 * start (Ethernet, two IPv4 headers with options, an L4 header): a bound
 * that also tells the verifier an offset is small.
 */
#define CTX_HDR_MAX 512

/*
 * @off, bounded where the verifier sees it: clang may test a bound on one
 * copy of a value and add another to the packet pointer, and an offset
 * the verifier cannot bound makes every access through it invalid.
 */
static __always_inline __u64 ctx_off(__u32 off)
{
	__u64 o = off;

	asm volatile("%0 &= 1023" : "+r"(o));
	return o;
}

/*
 * The context's fields are read through the context pointer itself, with
 * a barrier: clang may otherwise keep &ctx->data_end in a register of its
 * own, and the verifier refuses a load through a context pointer moved.
 */
static __always_inline void *ctx_data(void *ctx, const enum ctx_kind kind)
{
	asm volatile("" : "+r"(ctx));
	if (kind == CTX_XDP)
		return (void *)(long)((struct xdp_md *)ctx)->data;
	return (void *)(long)((struct __sk_buff *)ctx)->data;
}

static __always_inline void *ctx_data_end(void *ctx, const enum ctx_kind kind)
{
	asm volatile("" : "+r"(ctx));
	if (kind == CTX_XDP)
		return (void *)(long)((struct xdp_md *)ctx)->data_end;
	return (void *)(long)((struct __sk_buff *)ctx)->data_end;
}

/* Length of the whole packet, including a non-linear skb's paged part. */
static __always_inline __u32 ctx_len(void *ctx, const enum ctx_kind kind)
{
	if (kind == CTX_XDP)
		return ctx_data_end(ctx, kind) - ctx_data(ctx, kind);
	return ((struct __sk_buff *)ctx)->len;
}

/*
 * Make the first @len bytes directly readable. XDP frames are linear; an skb
 * may carry headers in its paged part, which the data path must not misread
 * as truncated.
 */
static __always_inline void ctx_pull(void *ctx, const enum ctx_kind kind,
				     __u32 len)
{
	__u32 have = ctx_data_end(ctx, kind) - ctx_data(ctx, kind);
	__u32 total = ctx_len(ctx, kind);

	if (kind == CTX_XDP || have >= len || have >= total)
		return;
	bpf_skb_pull_data(ctx, len < total ? len : total);
}

/* Copy @len bytes from @off, linear or not; 0 or a negative error. */
static __always_inline long ctx_load_bytes(void *ctx, const enum ctx_kind kind,
					   __u32 off, void *to, __u32 len)
{
	if (kind == CTX_XDP)
		return bpf_xdp_load_bytes(ctx, off, to, len);
	return bpf_skb_load_bytes(ctx, off, to, len);
}

/*
 * Store 2 or 4 bytes at @off. Direct writes for both kinds: for TC the
 * verifier makes a cloned skb's head private once, before the program runs,
 * which is cheaper than a helper call per field.
 */
static __always_inline int ctx_store(void *ctx, const enum ctx_kind kind,
				     __u32 off, const void *from, __u32 len)
{
	void *data, *end;

	if (off > CTX_HDR_MAX)
		return -1;
	data = ctx_data(ctx, kind);
	end = ctx_data_end(ctx, kind);
	data += ctx_off(off);
	if (len == 4) {
		if (data + 4 > end)
			return -1;
		*(__u32 *)data = *(const __u32 *)from;
	} else {
		if (data + 2 > end)
			return -1;
		*(__u16 *)data = *(const __u16 *)from;
	}
	return 0;
}

/*
 * Incremental update, in place, of the 16-bit checksum at @off for a 2- or
 * 4-byte field changing from @from to @to: the size is in the low bits of
 * @flags (BPF_F_HDR_FIELD_MASK) and BPF_F_MARK_MANGLED_0 keeps a zero
 * (absent) UDP checksum zero, as with bpf_l4_csum_replace(). Right for any
 * checksum the NIC does not complete: the IPv4 header's, ICMP's, anything
 * quoted inside an ICMP error, and every checksum XDP sees.
 */
static __always_inline int ctx_csum_replace(void *ctx, const enum ctx_kind kind,
					    __u32 off, __u32 from, __u32 to,
					    __u64 flags)
{
	void *data = ctx_data(ctx, kind);
	void *end = ctx_data_end(ctx, kind);
	__sum16 *sum;

	if (off > CTX_HDR_MAX)
		return -1;
	sum = data + ctx_off(off);
	if ((void *)(sum + 1) > end)
		return -1;
	if ((flags & BPF_F_MARK_MANGLED_0) && !*sum)
		return 0;
	if ((flags & BPF_F_HDR_FIELD_MASK) == 4)
		csum_replace4(sum, from, to);
	else
		csum_replace2(sum, from, to);
	if ((flags & BPF_F_MARK_MANGLED_0) && !*sum)
		*sum = CSUM_MANGLED_0;
	return 0;
}

/*
 * The TCP/UDP checksum. On TC the packet may be CHECKSUM_PARTIAL, where the
 * field holds only the pseudo-header sum: BPF_F_PSEUDO_HDR marks a
 * pseudo-header field, and only the kernel knows which case it is.
 */
static __always_inline int ctx_l4_csum_replace(void *ctx,
					       const enum ctx_kind kind,
					       __u32 off, __u32 from, __u32 to,
					       __u64 flags)
{
	if (kind == CTX_SKB)
		return bpf_l4_csum_replace(ctx, off, from, to, flags);
	return ctx_csum_replace(ctx, kind, off, from, to, flags);
}

/* The IPv4 header checksum is never left to the NIC. */
static __always_inline int ctx_l3_csum_replace(void *ctx,
					       const enum ctx_kind kind,
					       __u32 off, __u32 from, __u32 to)
{
	return ctx_csum_replace(ctx, kind, off, from, to, 4);
}

#endif /* BPFMASQ_CTX_H */
