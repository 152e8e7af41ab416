/* SPDX-License-Identifier: GPL-2.0 */
/* hairpin.h - the --hairpin LAN interfaces, set by attach and run. */
#ifndef BPFMASQ_USER_HAIRPIN_H
#define BPFMASQ_USER_HAIRPIN_H

#include <linux/types.h>

#include "maps.h"
#include "opts.h"

/* The hairpin interfaces (ifindexes), up to @max. */
int hairpin_list(const struct masq_maps *m, __u32 *ifindex, int max);
/*
 * Make the hairpin interfaces what @o says (--hairpin, none, or kept):
 * @prog_fd on each one's TC ingress, those no longer wanted detached (with
 * the qdisc the loader made), hairpin_ifaces to match. -errno with a
 * message, with what it attached undone.
 */
int hairpin_sync(const struct masq_maps *m, int prog_fd,
		 const struct masq_opts *o, int wan_ifindex);
/* Detach every hairpin interface that the pins in @dir record. */
void hairpin_detach_pinned(const char *dir);

#endif /* BPFMASQ_USER_HAIRPIN_H */
