/* SPDX-License-Identifier: GPL-2.0 */
/* addrs.h - the address pool of an instance (--address): its maps kept. */
#ifndef BPFMASQ_USER_ADDRS_H
#define BPFMASQ_USER_ADDRS_H

#include <linux/types.h>

#include "maps.h"
#include "opts.h"

/*
 * A DRAINING address with nothing left on it goes when the collector finds
 * it so again at least this long after (a pass that saw it idle could not
 * see a data-path run that was pairing a host with it at that moment).
 */
#define ADDRS_IDLE_S 1

/* Every address of ext_addrs and its state, up to @max: how many, or -errno. */
int ext_addrs_read(const struct masq_maps *m, __be32 *addrs, __u32 *states,
		   int max);
/*
 * Forget @addr, on which nothing is left: its pools, the owner entries
 * (reserved, quarantined) that mention it, its ext_addrs entry.
 */
int ext_addr_forget(const struct masq_maps *m, __be32 addr);
/* Before anything changes: no address of @o may be a static's outside one. */
int addrs_check(const struct masq_maps *m, const struct masq_opts *o);
/*
 * With a pool (config flag POOL in @cfg), bring ext_addrs and addr_pool
 * to the addresses of @o (none given: the pool as it is, or @cfg's one
 * address for an instance that had none): new ones ACTIVE, with their
 * port pools made before addr_pool lists them; removed ones (and @old's
 * address when it followed the interface) DRAINING. -errno with a message.
 */
int addrs_sync(const struct masq_maps *m, const struct bpfmasq_config *old,
	       const struct bpfmasq_config *cfg, const struct masq_opts *o);
/*
 * The collector's part: forget each DRAINING address that it has found
 * with nothing on it (no port owned or forwarded, no host with mappings
 * paired with it) twice, ADDRS_IDLE_S apart. How many went, or -errno.
 */
long addrs_collect(const struct masq_maps *m, __u64 now);

#endif /* BPFMASQ_USER_ADDRS_H */
