// SPDX-License-Identifier: GPL-2.0
/* maps.c - map access shared by every command and by the program tests. */
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "bpffs.h"
#include "bpfmasq.h" /* before the skeletons: their .bss types */
#include "bpfmasq.skel.h"
#include "ctl.skel.h"
#include "log.h"
#include "maps.h"
#include "migrate.h"

#define STAT_NAME(name, str, verdict) [BPFMASQ_STAT_##name] = str,
const char *const stat_names[BPFMASQ_STAT_MAX] = { BPFMASQ_STATS(STAT_NAME) };
#undef STAT_NAME

const char *const ingress_names[BPFMASQ_INGRESS_MAX] = {
	[BPFMASQ_INGRESS_NATIVE] = "native",
	[BPFMASQ_INGRESS_GENERIC] = "generic",
	[BPFMASQ_INGRESS_TC] = "tc",
};

#define TIMEOUT_KEY(name, opt, key, dflt, what) [BPFMASQ_TIMEOUT_##name] = key,
const char *const timeout_keys[BPFMASQ_TIMEOUT_MAX] = { BPFMASQ_TIMEOUTS(
	TIMEOUT_KEY) };
#undef TIMEOUT_KEY

/* Every map of an instance: its name, its field and the sizes it must have. */
static const struct map_desc {
	const char *name;
	size_t field;
	__u32 key_size;
	__u32 value_size;
	__u32 since; /* the layout that added it */
} map_descs[] = {
#define MAP_DESC(name, ksz, vsz, since)                                        \
	{ #name, offsetof(struct masq_maps, name), ksz, vsz, since },
	MASQ_MAPS(MAP_DESC)
#undef MAP_DESC
};

#define N_MAPS (sizeof(map_descs) / sizeof(map_descs[0]))

/*
 * The list above is the skeleton's: each name is a map of it (or this does
 * not compile) and it has no other, but for the load-time constants
 * (.rodata, set by skel_prepare()).
 */
_Static_assert(sizeof(((struct bpfmasq *)0)->maps) ==
		       (N_MAPS + 1) * sizeof(struct bpf_map *),
	       "MASQ_MAPS lists every map of bpf/maps.h");

void skel_prepare(struct bpfmasq *skel, const struct bpfmasq_instance *inst)
{
	struct bpfmasq__rodata *ro = skel->rodata;
	int i;

	bpf_map__set_max_entries(skel->maps.sessions, inst->max_sessions);
	bpf_map__set_max_entries(skel->maps.mappings, inst->max_sessions);
	ro->share_ports = 0;
	for (i = 0; i < BPFMASQ_MAX_PORT_RANGES; i++) {
		const struct bpfmasq_port_range *r = &inst->ports[i];

		ro->share_lo[i] = r->lo;
		ro->share_n[i] = r->lo ? r->hi - r->lo + 1 : 0;
		ro->share_ports += ro->share_n[i];
	}
	if (inst->flags & BPFMASQ_INST_NO_SHARING)
		ro->share_ports = 0;
	ro->host_max_ports = inst->max_ports_per_host;
}

static int *map_fd(struct masq_maps *m, const struct map_desc *d)
{
	return (int *)((char *)m + d->field);
}

/* The fd in @m of the map called @name, or -1. */
static int map_fd_by_name(struct masq_maps *m, const char *name)
{
	size_t i;

	for (i = 0; i < N_MAPS; i++)
		if (!strcmp(map_descs[i].name, name))
			return *map_fd(m, &map_descs[i]);
	return -1;
}

/* Load the control program on the maps of @m, into m->ctl. */
static int ctl_load(struct masq_maps *m)
{
	struct ctl *skel = ctl__open();
	struct bpf_map *map;
	int err = 0, fd;

	if (!skel) {
		err = -errno;
		pr_err("cannot open the control program: %s", strerror(errno));
		return err;
	}
	bpf_object__for_each_map(map, skel->obj)
	{
		if (bpf_map__is_internal(map))
			continue;
		fd = map_fd_by_name(m, bpf_map__name(map));
		if (fd < 0 || bpf_map__reuse_fd(map, fd)) {
			err = fd < 0 ? -ENOENT : -errno;
			pr_err("cannot give map %s to the control program: %s",
			       bpf_map__name(map), strerror(-err));
			goto out;
		}
	}
	err = ctl__load(skel);
	if (err) {
		pr_err("cannot load the control program: %s", strerror(-err));
		goto out;
	}
	m->ctl = dup(bpf_program__fd(skel->progs.bpfmasq_ctl));
	m->ctl_batch = dup(bpf_map__fd(skel->maps.bss));
	if (m->ctl < 0 || m->ctl_batch < 0)
		err = -errno;
out:
	ctl__destroy(skel);
	return err;
}

int maps_from_skel(const struct bpfmasq *skel, struct masq_maps *m)
{
#define FROM_SKEL(name, ksz, vsz, since) m->name = bpf_map__fd(skel->maps.name);
	MASQ_MAPS(FROM_SKEL)
#undef FROM_SKEL
	m->ctl = -1;
	m->ctl_batch = -1;
	return ctl_load(m);
}

int ctl_run(const struct masq_maps *m, struct bpfmasq_ctl_args *a)
{
	LIBBPF_OPTS(bpf_test_run_opts, opts, .ctx_in = a,
		    .ctx_size_in = sizeof(*a));

	if (bpf_prog_test_run_opts(m->ctl, &opts))
		return -errno;
	return a->ret;
}

int ctl_expire_batch(const struct masq_maps *m, struct bpfmasq_ctl_batch *b)
{
	struct bpfmasq_ctl_args a = { .op = BPFMASQ_CTL_SESSION_EXPIRE_BATCH };
	__u32 zero = 0;
	int err;

	if (bpf_map_update_elem(m->ctl_batch, &zero, b, BPF_ANY))
		return -errno;
	err = ctl_run(m, &a);
	if (err)
		return err;
	if (bpf_map_lookup_elem(m->ctl_batch, &zero, b))
		return -errno;
	return 0;
}

/* A pinned map must have the key and value this build reads and writes. */
static int map_check(int fd, const struct map_desc *d, const char *path)
{
	struct bpf_map_info info = {};
	__u32 len = sizeof(info);

	if (bpf_obj_get_info_by_fd(fd, &info, &len)) {
		pr_err("cannot inspect pinned map %s: %s", path,
		       strerror(errno));
		return -errno;
	}
	if (info.key_size != d->key_size || info.value_size != d->value_size) {
		pr_err("pinned map %s has %u-byte keys and %u-byte values, this bpfmasq expects %u and %u: it was pinned by another version",
		       path, info.key_size, info.value_size, d->key_size,
		       d->value_size);
		return -EPROTO;
	}
	return 0;
}

/* One line on a record of another layout than this build's. */
static int layout_refuse(__u32 layout)
{
	if (layout > BPFMASQ_LAYOUT_VERSION)
		pr_err("the instance has pinned layout %u, newer than this bpfmasq's %u: detach it with the bpfmasq that attached it, or with detach --force",
		       layout, BPFMASQ_LAYOUT_VERSION);
	else if (layout >= BPFMASQ_LAYOUT_OLDEST)
		pr_err("the instance has pinned layout %u, this bpfmasq reads layout %u: attach upgrades it in place",
		       layout, BPFMASQ_LAYOUT_VERSION);
	else
		pr_err("the instance has pinned layout %u, this bpfmasq reads layout %u and upgrades from %u: detach it with detach --force",
		       layout, BPFMASQ_LAYOUT_VERSION, BPFMASQ_LAYOUT_OLDEST);
	return -EPROTO;
}

int maps_open_pinned(const char *dir, struct masq_maps *m)
{
	return maps_open_pinned_layout(dir, m, NULL);
}

int maps_open_pinned_layout(const char *dir, struct masq_maps *m, __u32 *layout)
{
	char path[PATH_MAX];
	__u32 found = 0;
	size_t i;
	int err, *fd;

	for (i = 0; i < N_MAPS; i++)
		*map_fd(m, &map_descs[i]) = -1;
	m->ctl = -1;
	m->ctl_batch = -1;
	/* Sizes can match across layouts: the record, or the pins, say. */
	err = migrate_detect(dir, &found);
	if (err)
		return err;
	if (found > BPFMASQ_LAYOUT_VERSION)
		return layout_refuse(found);
	/* Pins this build's definitions cannot read: migrate.c reads them. */
	if (found < MIGRATE_LAYOUT_READABLE) {
		if (!layout)
			return layout_refuse(found);
		*layout = found;
		return 0;
	}
	for (i = 0; i < N_MAPS; i++) {
		fd = map_fd(m, &map_descs[i]);
		err = pin_path(path, sizeof(path), dir, map_descs[i].name);
		if (err)
			goto fail;
		*fd = bpf_obj_get(path);
		/* Added since the pinned layout: attach upgrades it. */
		if (*fd < 0 && errno == ENOENT && map_descs[i].since > found)
			continue;
		if (*fd < 0) {
			err = -errno;
			pr_err("cannot open pinned map %s: %s", path,
			       strerror(errno));
			goto fail;
		}
		/* Its old definition: attach sets it aside (migrate.c). */
		if (found < BPFMASQ_LAYOUT_VERSION &&
		    migrate_changes(map_descs[i].name, found))
			continue;
		err = map_check(*fd, &map_descs[i], path);
		if (err)
			goto fail;
	}
	if (layout) {
		*layout = found;
		return 0;
	}
	if (found != BPFMASQ_LAYOUT_VERSION) {
		err = layout_refuse(found);
		goto fail;
	}
	err = ctl_load(m);
	if (err)
		goto fail;
	return 0;
fail:
	maps_close(m);
	return err;
}

void maps_close(struct masq_maps *m)
{
	size_t i;
	int *fd;

	for (i = 0; i < N_MAPS; i++) {
		fd = map_fd(m, &map_descs[i]);
		if (*fd >= 0)
			close(*fd);
		*fd = -1;
	}
	ctl_close(m);
}

void ctl_close(struct masq_maps *m)
{
	if (m->ctl >= 0)
		close(m->ctl);
	if (m->ctl_batch >= 0)
		close(m->ctl_batch);
	m->ctl = -1;
	m->ctl_batch = -1;
}

int config_read(const struct masq_maps *m, struct bpfmasq_config *cfg)
{
	__u32 zero = 0;

	if (bpf_map_lookup_elem(m->config, &zero, cfg))
		return -errno;
	return 0;
}

int config_write(const struct masq_maps *m, const struct bpfmasq_config *cfg)
{
	__u32 zero = 0;

	if (bpf_map_update_elem(m->config, &zero, cfg, BPF_ANY))
		return -errno;
	return 0;
}

int instance_read(const struct masq_maps *m, struct bpfmasq_instance *inst)
{
	__u32 zero = 0;

	if (bpf_map_lookup_elem(m->instance, &zero, inst))
		return -errno;
	if (inst->layout_version != BPFMASQ_LAYOUT_VERSION)
		return layout_refuse(inst->layout_version);
	return 0;
}

int instance_write(const struct masq_maps *m,
		   const struct bpfmasq_instance *inst)
{
	__u32 zero = 0;

	if (bpf_map_update_elem(m->instance, &zero, inst, BPF_ANY))
		return -errno;
	return 0;
}

const char *proto_name(__u8 proto)
{
	switch (proto) {
	case BPFMASQ_PROTO_TCP:
		return "tcp";
	case BPFMASQ_PROTO_UDP:
		return "udp";
	case BPFMASQ_PROTO_ICMP:
		return "icmp";
	}
	return "?";
}

bool ports_contain(const struct bpfmasq_instance *inst, __u16 port)
{
	int i;

	for (i = 0; i < BPFMASQ_MAX_PORT_RANGES; i++)
		if (inst->ports[i].lo && port >= inst->ports[i].lo &&
		    port <= inst->ports[i].hi)
			return true;
	return false;
}

const char *ports_str(const struct bpfmasq_instance *inst, char *buf,
		      size_t len)
{
	size_t n = 0;
	int i;

	buf[0] = '\0';
	for (i = 0; i < BPFMASQ_MAX_PORT_RANGES && n < len; i++)
		if (inst->ports[i].lo)
			n += snprintf(buf + n, len - n, "%s%u-%u", n ? "," : "",
				      inst->ports[i].lo, inst->ports[i].hi);
	return buf;
}

bool ports_equal(const struct bpfmasq_instance *a,
		 const struct bpfmasq_instance *b)
{
	return !memcmp(a->ports, b->ports, sizeof(a->ports));
}

/* Sum counter @id over the CPUs, with @vals room for each CPU's. */
static int stat_sum(const struct masq_maps *m, __u32 id, __u64 *vals, int ncpu,
		    uint64_t *total)
{
	int c;

	if (bpf_map_lookup_elem(m->stats, &id, vals))
		return -errno;
	for (*total = 0, c = 0; c < ncpu; c++)
		*total += vals[c];
	return 0;
}

/* Counters @first..@first + @n - 1, summed, into @totals. */
static int stats_sum(const struct masq_maps *m, __u32 first, __u32 n,
		     uint64_t *totals)
{
	int ncpu = libbpf_num_possible_cpus(), err = 0;
	__u64 *vals;
	__u32 i;

	if (ncpu < 0)
		return ncpu;
	vals = calloc(ncpu, sizeof(*vals));
	if (!vals)
		return -ENOMEM;
	for (i = 0; i < n && !err; i++)
		err = stat_sum(m, first + i, vals, ncpu, &totals[i]);
	free(vals);
	return err;
}

int stats_read(const struct masq_maps *m, uint64_t *totals)
{
	return stats_sum(m, 0, BPFMASQ_STAT_MAX, totals);
}

int stat_read(const struct masq_maps *m, enum bpfmasq_stat id, uint64_t *total)
{
	return stats_sum(m, id, 1, total);
}

int stat_add(const struct masq_maps *m, enum bpfmasq_stat id, uint64_t n)
{
	int ncpu = libbpf_num_possible_cpus(), err = 0;
	__u32 key = id;
	__u64 *vals;

	if (ncpu < 0)
		return ncpu;
	vals = calloc(ncpu, sizeof(*vals));
	if (!vals)
		return -ENOMEM;
	if (bpf_map_lookup_elem(m->stats, &key, vals))
		err = -errno;
	vals[0] += n;
	if (!err && bpf_map_update_elem(m->stats, &key, vals, BPF_EXIST))
		err = -errno;
	free(vals);
	return err;
}

bool addr_translated(const struct masq_maps *m, __be32 addr)
{
	struct bpfmasq_lpm_key key = { .prefixlen = 32, .addr = addr };
	__u8 v;

	return !bpf_map_lookup_elem(m->internal_nets, &key, &v) &&
	       bpf_map_lookup_elem(m->local_addrs, &addr, &v);
}

long map_dump(int fd, void **keys, void **vals)
{
	struct bpf_map_info info = {};
	__u32 info_len = sizeof(info), chunk = 4096, count;
	char in[64], out[64];
	char *k = NULL, *v = NULL;
	bool first = true;
	long n = 0, cap = 0;
	int err;

	if (bpf_obj_get_info_by_fd(fd, &info, &info_len))
		return -errno;
	for (;;) {
		if (n + chunk > cap) {
			void *nk, *nv;

			cap = (n + chunk) * 2;
			nk = realloc(k, cap * info.key_size);
			nv = realloc(v, cap * info.value_size);
			if (nk)
				k = nk;
			if (nv)
				v = nv;
			if (!nk || !nv) {
				err = -ENOMEM;
				goto fail;
			}
		}
		count = chunk;
		err = bpf_map_lookup_batch(
			fd, first ? NULL : in, out, k + n * info.key_size,
			v + n * info.value_size, &count, NULL);
		if (err && errno != ENOENT) {
			err = -errno;
			goto fail;
		}
		n += count;
		if (err)
			break;
		memcpy(in, out, sizeof(in));
		first = false;
	}
	*keys = k;
	if (vals)
		*vals = v;
	else
		free(v);
	return n;
fail:
	free(k);
	free(v);
	return err;
}

long map_count(int fd)
{
	void *keys;
	long n = map_dump(fd, &keys, NULL);

	if (n >= 0)
		free(keys);
	return n;
}

long map_clear(int fd)
{
	void *keys;
	struct bpf_map_info info = {};
	__u32 info_len = sizeof(info);
	long n = map_dump(fd, &keys, NULL), i, deleted = 0;
	int err = 0;

	if (n <= 0)
		return n;
	/*
	 * One by one: a batch delete stops at the first key that is gone
	 * already (expired by the GC, evicted from an LRU map meanwhile).
	 */
	if (bpf_obj_get_info_by_fd(fd, &info, &info_len))
		err = -errno;
	for (i = 0; !err && i < n; i++) {
		if (!bpf_map_delete_elem(fd, (char *)keys + i * info.key_size))
			deleted++;
		else if (errno != ENOENT)
			err = -errno;
	}
	free(keys);
	return err ? err : deleted;
}
