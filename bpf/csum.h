/* SPDX-License-Identifier: GPL-2.0 */
/*
 * csum.h - incremental Internet checksum updates (RFC 1624, eqn. 3) for
 * contexts without the kernel's checksum helpers. Fields are summed as they
 * lie in memory; the one's-complement sum does not care about byte order as
 * long as the checksum field is read the same way.
 */
#ifndef BPFMASQ_CSUM_H
#define BPFMASQ_CSUM_H

#include <linux/types.h>
#include <bpf/bpf_helpers.h>

#define CSUM_MANGLED_0 ((__sum16)0xffff)

static __always_inline __u16 csum_fold32(__u32 sum)
{
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (__u16)sum;
}

/* HC' = ~(~HC + ~m + m') for a 32-bit field m. */
static __always_inline void csum_replace4(__sum16 *sum, __u32 from, __u32 to)
{
	__u32 s = (__u16) ~*sum;

	from = ~from;
	s += (from >> 16) + (from & 0xffff);
	s += (to >> 16) + (to & 0xffff);
	*sum = (__sum16)~csum_fold32(s);
}

static __always_inline void csum_replace2(__sum16 *sum, __u32 from, __u32 to)
{
	__u32 s = (__u16) ~*sum;

	s += (__u16)~from;
	s += (__u16)to;
	*sum = (__sum16)~csum_fold32(s);
}

/*
 * The checksum field value V that completes to itself: a checksum left to
 * offload (CHECKSUM_PARTIAL) over a region whose other bytes sum to @sum
 * is written as ~(sum + V), and that is V when 2V = ~sum. Doubling in
 * one's complement is a rotation left by one bit, so V is ~sum rotated
 * right. Right in either byte order (a byte swap is a rotation too).
 */
static __always_inline __u16 csum_fixed_point(__u16 sum)
{
	__u16 v = ~sum;

	return (__u16)((v >> 1) | (v << 15));
}

#endif /* BPFMASQ_CSUM_H */
