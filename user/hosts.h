/* SPDX-License-Identifier: GPL-2.0 */
/*
 * hosts.h - the hosts map (bpf/hosts.h counts each inside host's ports):
 * the hosts that hit --max-ports-per-host, the collector's deletion of
 * entries that count nothing, and the count made again from the mappings
 * when a layout without the map is taken over.
 */
#ifndef BPFMASQ_USER_HOSTS_H
#define BPFMASQ_USER_HOSTS_H

#include "maps.h"

/* How long an entry that counts no port is kept after its last refusal. */
#define HOSTS_KEEP_LIMITED_S 600

struct host_row {
	__be32 addr;
	struct bpfmasq_host h;
};

/* The hosts refused at the limit, by address: how many, or -errno. */
long hosts_limited(const struct masq_maps *m, struct host_row **rows);
/*
 * Delete, through the control program, the entries that count no port
 * (and hit the limit over HOSTS_KEEP_LIMITED_S ago) at @now: how many.
 */
long hosts_collect(const struct masq_maps *m, __u64 now);
/*
 * Count the flows' mappings (not the forwards') into hosts again, as
 * the only writer (before the programs that count are attached).
 */
int hosts_rebuild(const struct masq_maps *m);

#endif /* BPFMASQ_USER_HOSTS_H */
