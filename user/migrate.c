// SPDX-License-Identifier: GPL-2.0
/*
 * migrate.c - attach over an instance of an older layout (BPFMASQ_LAYOUT_OLDEST
 * up). The maps whose definition is unchanged are reused as they are, by the
 * same load that reuses them on every re-attach; a map whose definition has
 * changed is unpinned before that load, which then creates and pins it anew,
 * and its entries are carried over once the new programs run. Sessions,
 * mappings and port owners keep their layout, so connections keep their
 * external ports through the swap of programs.
 *
 * The steps, one per layout change:
 *   3 -> 4  the counters map grows from its 22 rows to BPFMASQ_STAT_SLOTS;
 *           rows keep their index. Layout 3 has no SHARED or LENT session.
 *   4 -> 5  frag_events and daemon are new, and created by the load; no
 *           layout 4 frags entry waits (inside address 0).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "bpffs.h"
#include "log.h"
#include "migrate.h"

/* Rows of the counters map in layout 3. */
#define LAYOUT3_STATS 22

static int stats_path(const struct migration *mg, char *path, size_t len)
{
	return pin_path(path, len, mg->dir, "stats");
}

int migrate_prepare(struct migration *mg, const char *dir, __u32 from)
{
	struct bpf_map_info info = {};
	__u32 len = sizeof(info);
	char path[4096];
	int fd, err;

	mg->from = from;
	mg->old_stats = -1;
	snprintf(mg->dir, sizeof(mg->dir), "%s", dir);
	if (from == BPFMASQ_LAYOUT_VERSION)
		return 0;
	if (from < BPFMASQ_LAYOUT_OLDEST || from > BPFMASQ_LAYOUT_VERSION) {
		pr_err("cannot upgrade from layout %u", from);
		return -EPROTO;
	}
	pr_info("upgrading the pinned state from layout %u to %u", from,
		BPFMASQ_LAYOUT_VERSION);
	/* 4 -> 5 only adds maps, which the load creates. */
	if (from >= 4)
		return 0;
	err = stats_path(mg, path, sizeof(path));
	if (err)
		return err;
	fd = bpf_obj_get(path);
	if (fd < 0 || bpf_obj_get_info_by_fd(fd, &info, &len)) {
		err = -errno;
		pr_err("cannot open pinned map %s: %s", path, strerror(errno));
		goto fail;
	}
	if (info.max_entries != LAYOUT3_STATS) {
		pr_err("pinned map %s has %u entries, layout %u has %u: cannot upgrade",
		       path, info.max_entries, from, LAYOUT3_STATS);
		err = -EPROTO;
		goto fail;
	}
	if (unlink(path)) {
		err = -errno;
		pr_err("cannot unpin %s: %s", path, strerror(errno));
		goto fail;
	}
	mg->old_stats = fd;
	mg->old_stats_n = info.max_entries;
	return 0;
fail:
	if (fd >= 0)
		close(fd);
	return err;
}

/* Add the old per-CPU counters into the new map's rows of the same index. */
static int stats_carry(int from, __u32 n, int to)
{
	int ncpu = libbpf_num_possible_cpus(), err = 0;
	__u64 *old, *cur;
	__u32 id;
	int c;

	if (ncpu <= 0)
		return ncpu ? ncpu : -EINVAL;
	old = calloc(ncpu, sizeof(*old));
	cur = calloc(ncpu, sizeof(*cur));
	if (!old || !cur) {
		err = -ENOMEM;
		goto out;
	}
	for (id = 0; id < n && !err; id++) {
		if (bpf_map_lookup_elem(from, &id, old) ||
		    bpf_map_lookup_elem(to, &id, cur)) {
			err = -errno;
			break;
		}
		for (c = 0; c < ncpu; c++)
			cur[c] += old[c];
		if (bpf_map_update_elem(to, &id, cur, BPF_EXIST))
			err = -errno;
	}
out:
	free(old);
	free(cur);
	return err;
}

void migrate_finish(struct migration *mg, const struct masq_maps *m)
{
	int err;

	if (mg->from == BPFMASQ_LAYOUT_VERSION)
		return;
	/* The old programs are detached now: their counters are final. */
	if (mg->old_stats >= 0) {
		err = stats_carry(mg->old_stats, mg->old_stats_n, m->stats);
		if (err)
			pr_err("the counters of layout %u could not be carried over: %s",
			       mg->from, strerror(-err));
		close(mg->old_stats);
		mg->old_stats = -1;
	}
	pr_info("upgraded the pinned state from layout %u to %u", mg->from,
		BPFMASQ_LAYOUT_VERSION);
}

void migrate_abort(struct migration *mg)
{
	char path[4096];

	if (mg->old_stats < 0)
		return;
	if (!stats_path(mg, path, sizeof(path))) {
		unlink(path); /* the new one, if the load pinned it */
		if (bpf_obj_pin(mg->old_stats, path))
			pr_err("cannot pin %s again: %s", path,
			       strerror(errno));
	}
	close(mg->old_stats);
	mg->old_stats = -1;
}
