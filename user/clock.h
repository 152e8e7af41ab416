/* SPDX-License-Identifier: GPL-2.0 */
/* clock.h - the clock the data path stamps its state with. */
#ifndef BPFMASQ_USER_CLOCK_H
#define BPFMASQ_USER_CLOCK_H

#include <stdint.h>
#include <time.h>

#define NS_PER_S 1000000000ull

/* Boot-time clock, as bpf_ktime_get_boot_ns() reads it. */
static inline uint64_t now_boot_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_BOOTTIME, &ts);
	return (uint64_t)ts.tv_sec * NS_PER_S + ts.tv_nsec;
}

#endif /* BPFMASQ_USER_CLOCK_H */
