/* SPDX-License-Identifier: GPL-2.0 */
/* fast.h - the fast path's interfaces, set by attach and run. */
#ifndef BPFMASQ_USER_FAST_H
#define BPFMASQ_USER_FAST_H

#include <linux/types.h>

#include "maps.h"
#include "opts.h"

/* The LAN interfaces of the fast path (ifindexes), up to @max. */
int fast_list(const struct masq_maps *m, __u32 *ifindex, int max);
/* Are the --fast-path interfaces of @o fit? -errno with a message. */
int fast_check(const struct masq_opts *o, int wan_ifindex);
/*
 * Make the fast path what @o says (--fast-path, none, or unchanged): the
 * program @prog_fd on each LAN interface's XDP hook, through links pinned
 * in @dir, those no longer wanted detached, fast_ifaces and the config flag
 * in @cfg (written) to match. -errno with a message, with what it attached
 * undone.
 */
int fast_sync(const struct masq_maps *m, int prog_fd, const char *dir,
	      const struct masq_opts *o, int wan_ifindex,
	      struct bpfmasq_config *cfg);

#endif /* BPFMASQ_USER_FAST_H */
