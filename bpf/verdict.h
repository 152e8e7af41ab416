/* SPDX-License-Identifier: GPL-2.0 */
/*
 * verdict.h - one exit for every packet. The NAT code returns a reason, a
 * row of BPFMASQ_STATS (bpfmasq.h), or NAT_CONTINUE while it has not
 * decided yet; the entry point counts the reason once and takes the verdict
 * from the same row, then maps it to its hook's return code.
 */
#ifndef BPFMASQ_VERDICT_H
#define BPFMASQ_VERDICT_H

#include <stdbool.h>

#include "maps.h"

/* Not decided yet: internal to the NAT code, never returned to a hook. */
#define NAT_CONTINUE BPFMASQ_STAT_MAX

enum nat_verdict {
	NAT_PASS,
	NAT_DROP,
};

/* The reasons whose verdict is DROP, one bit each, folded at compile time. */
#define REASON_DROP_BIT(name, str, verdict)                                    \
	| ((__u64)(BPFMASQ_VERDICT_##verdict == BPFMASQ_VERDICT_DROP)          \
	   << BPFMASQ_STAT_##name)
#define REASON_DROP_MASK (0 BPFMASQ_STATS(REASON_DROP_BIT))
_Static_assert(BPFMASQ_STAT_MAX <= 64, "one bit per reason in a __u64");

/* Is @reason's verdict DROP? What is not a reason is dropped. */
static __always_inline bool reason_drops(__u32 reason)
{
	return reason >= BPFMASQ_STAT_MAX || ((REASON_DROP_MASK >> reason) & 1);
}

/* Count @reason and return its verdict. */
static __always_inline enum nat_verdict nat_exit(__u32 reason)
{
	stat_inc(reason);
	return reason_drops(reason) ? NAT_DROP : NAT_PASS;
}

#endif /* BPFMASQ_VERDICT_H */
