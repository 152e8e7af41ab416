/* SPDX-License-Identifier: GPL-2.0 */
/*
 * migrate.h - taking over an instance that an older bpfmasq pinned, so that
 * an upgrade keeps every connection.
 */
#ifndef BPFMASQ_USER_MIGRATE_H
#define BPFMASQ_USER_MIGRATE_H

#include <linux/types.h>

#include "maps.h"

/* What a step set aside until the new programs run. */
struct migration {
	__u32 from; /* the pinned layout; BPFMASQ_LAYOUT_VERSION: none */
	char dir[4096]; /* the pins */
	int old_stats; /* the old counters map, unpinned; -1: none */
	__u32 old_stats_n; /* its entries */
};

/*
 * Before the new objects are loaded on the pins in @dir of layout @from:
 * set aside each pinned map whose definition has changed, so that the load
 * creates it anew. -errno with a message, the pins left as they were.
 */
int migrate_prepare(struct migration *mg, const char *dir, __u32 from);
/*
 * Once the new programs are attached on the maps @m: carry what was set
 * aside over into the new maps. Errors are reported, not returned: the
 * instance runs either way, only the old counters would be lost.
 */
void migrate_finish(struct migration *mg, const struct masq_maps *m);
/* The upgrade failed before the new programs ran: the old pins go back. */
void migrate_abort(struct migration *mg);

#endif /* BPFMASQ_USER_MIGRATE_H */
