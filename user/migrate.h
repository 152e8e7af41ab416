/* SPDX-License-Identifier: GPL-2.0 */
/*
 * migrate.h - taking over an instance that an older bpfmasq pinned, so that
 * an upgrade keeps every connection.
 */
#ifndef BPFMASQ_USER_MIGRATE_H
#define BPFMASQ_USER_MIGRATE_H

#include <stdbool.h>
#include <linux/types.h>

#include "maps.h"

/*
 * The oldest layout whose pins this build opens with its own map
 * definitions (maps.c); the pins of an older one only migrate.c reads.
 */
#define MIGRATE_LAYOUT_READABLE 3

/* The pinned maps that a step of the upgrade may set aside. */
enum migrate_map {
	MIGRATE_CONFIG,
	MIGRATE_INSTANCE,
	MIGRATE_STATS,
	MIGRATE_SESSIONS,
	MIGRATE_MAPPINGS,
	MIGRATE_OWNERS,
	MIGRATE_POOLS,
	MIGRATE_FRAGS,
	MIGRATE_HOSTS,
	MIGRATE_MAP_MAX,
};

/* What a step set aside until the new programs run. */
struct migration {
	__u32 from; /* the pinned layout; BPFMASQ_LAYOUT_VERSION: none */
	char dir[4096]; /* the pins */
	int old[MIGRATE_MAP_MAX]; /* the old maps, unpinned; -1: kept */
};

/*
 * The layout of the pins in @dir, into *@layout: the record's version, or,
 * for the layouts of the past that have no record of this build's size, the
 * one that the pinned maps' sizes identify. -EPROTO, with one line printed,
 * for pins that match no layout.
 */
int migrate_detect(const char *dir, __u32 *layout);
/*
 * The data-path config and the instance record of the pins in @dir, of
 * layout @from (older than MIGRATE_LAYOUT_READABLE), in this build's
 * layout. @cfg may be NULL.
 */
int migrate_read_record(const char *dir, __u32 from, struct bpfmasq_config *cfg,
			struct bpfmasq_instance *inst);
/*
 * Does a step from layout @from on change the definition of the map
 * @name? Then its pin has the old one, which attach sets aside.
 */
bool migrate_changes(const char *name, __u32 from);
/*
 * Before the new objects are loaded on the pins in @dir of layout @from:
 * set aside each pinned map whose definition has changed, so that the load
 * creates it anew. -errno with a message, the pins left as they were.
 */
int migrate_prepare(struct migration *mg, const char *dir, __u32 from);
/*
 * Once the new objects are loaded on the maps @m and the record and config
 * written, before the new programs are attached: the mappings, port owners
 * and sessions of the maps set aside, in this build's layout, into @m, and
 * the pools rebuilt around them. -errno with a message.
 */
int migrate_carry(struct migration *mg, const struct masq_maps *m,
		  const struct bpfmasq_config *cfg);
/*
 * Once the new programs are attached on the maps @m: carry the counters
 * over into the new maps. Errors are reported, not returned: the instance
 * runs either way, only the old counters would be lost.
 */
void migrate_finish(struct migration *mg, const struct masq_maps *m);
/* The upgrade failed before the new programs ran: the old pins go back. */
void migrate_abort(struct migration *mg);

#endif /* BPFMASQ_USER_MIGRATE_H */
