/* SPDX-License-Identifier: GPL-2.0 */
/* state.h - prefixes and addresses the data path knows of, and flushing. */
#ifndef BPFMASQ_USER_STATE_H
#define BPFMASQ_USER_STATE_H

#include "maps.h"

/*
 * Make the LPM trie @fd hold exactly @cidrs: new prefixes are added before
 * stale ones go, so no address is left out in between.
 */
int lpm_set(int fd, const struct cidr *cidrs, int n);
/* Make local_addrs hold exactly @addrs. */
int local_addrs_set(const struct masq_maps *m, const __be32 *addrs, int n);

/* The prefixes in the LPM trie @fd, at most @max; returns the count. */
int lpm_get(int fd, struct cidr *out, int max);
/*
 * Refresh what the data path knows of the gateway's own addresses (never
 * translated) and of the prefixes behind it (never reached unsolicited):
 * its other interfaces' prefixes, the routes through them and the inside
 * prefixes given with --internal (already in internal_nets).
 */
int host_addrs_sync(const struct masq_maps *m, const char *wan);

/*
 * Drop all translation state and start over with @cfg (a new address or
 * port range; the pools of @old_addr go): config flag FLUSHING stops the
 * data path from making mappings and sessions, the tables are emptied,
 * the pools refilled, then the flag is cleared. Killed in between, the
 * flag stays and the next collector pass runs it again.
 */
int state_reset(const struct masq_maps *m, const struct bpfmasq_config *cfg,
		__be32 old_addr);
/* state_reset() with the config as it is. */
int state_flush(const struct masq_maps *m);

/*
 * Forget the flows that found no port lately (share_misses, every CPU's
 * slots): after ports, pairs to share or room came free, their next packet
 * tries again at once instead of at the end of BPFMASQ_SHARE_MISS_MS.
 */
int misses_forget(const struct masq_maps *m);

#endif /* BPFMASQ_USER_STATE_H */
