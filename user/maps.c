// SPDX-License-Identifier: GPL-2.0
/* maps.c - map access shared by every command and by the program tests. */
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/random.h>
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "bpffs.h"
#include "bpfmasq.skel.h"
#include "log.h"
#include "maps.h"

#define STAT_NAME(name, str, verdict) [BPFMASQ_STAT_##name] = str,
const char *const stat_names[BPFMASQ_STAT_MAX] = { BPFMASQ_STATS(STAT_NAME) };
#undef STAT_NAME

const char *const ingress_names[BPFMASQ_INGRESS_MAX] = {
	[BPFMASQ_INGRESS_NATIVE] = "native",
	[BPFMASQ_INGRESS_GENERIC] = "generic",
	[BPFMASQ_INGRESS_TC] = "tc",
};

#define TIMEOUT_KEY(name, key, dflt, help) [BPFMASQ_TIMEOUT_##name] = key,
const char *const timeout_keys[BPFMASQ_TIMEOUT_MAX] = {
	BPFMASQ_TIMEOUTS(TIMEOUT_KEY)
};
#undef TIMEOUT_KEY

static const __u8 pool_protos[] = { BPFMASQ_PROTO_TCP, BPFMASQ_PROTO_UDP,
				    BPFMASQ_PROTO_ICMP };

/* Every map of an instance: its name, its field and the sizes it must have. */
static const struct map_desc {
	const char *name;
	size_t field;
	__u32 key_size;
	__u32 value_size;
} map_descs[] = {
#define MAP_DESC(name, ksz, vsz)                                             \
	{ #name, offsetof(struct masq_maps, name), ksz, vsz },
	MASQ_MAPS(MAP_DESC)
#undef MAP_DESC
};

#define N_MAPS (sizeof(map_descs) / sizeof(map_descs[0]))

/*
 * The list above is the skeleton's: each name is a map of it (or this does
 * not compile) and it has no other.
 */
_Static_assert(sizeof(((struct bpfmasq *)0)->maps) ==
		       N_MAPS * sizeof(struct bpf_map *),
	       "MASQ_MAPS lists every map of bpf/maps.h");

static int *map_fd(struct masq_maps *m, const struct map_desc *d)
{
	return (int *)((char *)m + d->field);
}

void maps_from_skel(const struct bpfmasq *skel, struct masq_maps *m)
{
#define FROM_SKEL(name, ksz, vsz) m->name = bpf_map__fd(skel->maps.name);
	MASQ_MAPS(FROM_SKEL)
#undef FROM_SKEL
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

int maps_open_pinned(const char *dir, struct masq_maps *m)
{
	char path[PATH_MAX];
	size_t i;
	int err, *fd;

	for (i = 0; i < N_MAPS; i++)
		*map_fd(m, &map_descs[i]) = -1;
	for (i = 0; i < N_MAPS; i++) {
		fd = map_fd(m, &map_descs[i]);
		err = pin_path(path, sizeof(path), dir, map_descs[i].name);
		if (err)
			goto fail;
		*fd = bpf_obj_get(path);
		if (*fd < 0) {
			err = -errno;
			pr_err("cannot open pinned map %s: %s", path,
			       strerror(errno));
			goto fail;
		}
		err = map_check(*fd, &map_descs[i], path);
		if (err)
			goto fail;
	}
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
	if (inst->layout_version != BPFMASQ_LAYOUT_VERSION) {
		pr_err("the instance has pinned layout %u, this bpfmasq reads layout %u",
		       inst->layout_version, BPFMASQ_LAYOUT_VERSION);
		return -EPROTO;
	}
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

uint64_t now_boot_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_BOOTTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

static uint32_t random_below(uint32_t n)
{
	uint32_t r;

	if (getrandom(&r, sizeof(r), 0) != sizeof(r))
		r = (uint32_t)rand();
	return (uint32_t)(((uint64_t)r * n) >> 32);
}

/*
 * Ports of pool (@addr, @proto) that mappings took out of it: not free.
 * Preserved ports never leave their pool (nat.h), so they stay in.
 */
static int held_ports(const struct masq_maps *m, __be32 addr, __u8 proto,
		      uint8_t *held)
{
	struct bpfmasq_endpoint *ext, *inside;
	struct bpfmasq_mapping map;
	long n, i;

	n = map_dump(m->port_owners, (void **)&ext, (void **)&inside);
	if (n < 0)
		return n;
	for (i = 0; i < n; i++) {
		if (ext[i].addr != addr || ext[i].proto != proto ||
		    bpf_map_lookup_elem(m->mappings, &inside[i], &map) ||
		    !(map.flags & BPFMASQ_MAP_FROM_POOL))
			continue;
		held[ntohs(ext[i].port)] = 1;
	}
	free(ext);
	free(inside);
	return 0;
}

static int pool_create(const struct masq_maps *m,
		       const struct bpfmasq_config *cfg, __u8 proto)
{
	struct bpfmasq_pool_key pk = { .addr = cfg->ext_addr, .proto = proto };
	uint32_t n = cfg->port_max - cfg->port_min + 1, count = 0, i;
	uint8_t *held = calloc(65536, 1);
	__be16 *ports = calloc(n, sizeof(*ports));
	char name[16];
	int fd = -1, err = 0;

	if (!held || !ports) {
		err = -ENOMEM;
		goto out;
	}
	err = held_ports(m, cfg->ext_addr, proto, held);
	if (err)
		goto out;
	for (i = 0; i < n; i++) {
		uint16_t port = cfg->port_min + i;

		if (!held[port])
			ports[count++] = htons(port);
	}
	/* Fisher-Yates: the order of allocation must not be predictable. */
	for (i = count; i > 1; i--) {
		uint32_t j = random_below(i);
		__be16 t = ports[i - 1];

		ports[i - 1] = ports[j];
		ports[j] = t;
	}

	snprintf(name, sizeof(name), "masq_pool_%u", proto);
	fd = bpf_map_create(BPF_MAP_TYPE_QUEUE, name, 0, sizeof(__be16), n,
			    NULL);
	if (fd < 0) {
		err = -errno;
		pr_err("cannot create port pool map: %s", strerror(errno));
		goto out;
	}
	for (i = 0; i < count; i++) {
		if (bpf_map_update_elem(fd, NULL, &ports[i], BPF_ANY)) {
			err = -errno;
			pr_err("cannot fill port pool: %s", strerror(errno));
			goto out;
		}
	}
	if (bpf_map_update_elem(m->port_pools, &pk, &fd, BPF_ANY)) {
		err = -errno;
		pr_err("cannot install port pool: %s", strerror(errno));
	}
out:
	if (fd >= 0)
		close(fd);
	free(held);
	free(ports);
	return err;
}

int pools_create(const struct masq_maps *m, const struct bpfmasq_config *cfg)
{
	size_t i;
	int err;

	if (!cfg->ext_addr)
		return 0;
	for (i = 0; i < sizeof(pool_protos); i++) {
		err = pool_create(m, cfg, pool_protos[i]);
		if (err)
			return err;
	}
	return 0;
}

int pools_delete(const struct masq_maps *m, __be32 addr)
{
	struct bpfmasq_pool_key pk = { .addr = addr };
	size_t i;

	for (i = 0; i < sizeof(pool_protos); i++) {
		pk.proto = pool_protos[i];
		if (bpf_map_delete_elem(m->port_pools, &pk) && errno != ENOENT)
			return -errno;
	}
	return 0;
}

int pool_push(const struct masq_maps *m, const struct bpfmasq_endpoint *ext)
{
	struct bpfmasq_pool_key pk = { .addr = ext->addr, .proto = ext->proto };
	__u32 inner_id;
	int fd, err = 0;

	if (bpf_map_lookup_elem(m->port_pools, &pk, &inner_id))
		return errno == ENOENT ? 0 : -errno; /* pool gone: nothing owed */
	fd = bpf_map_get_fd_by_id(inner_id);
	if (fd < 0)
		return -errno;
	if (bpf_map_update_elem(fd, NULL, &ext->port, BPF_ANY))
		err = -errno;
	close(fd);
	return err;
}

static bool cidr_listed(const struct bpfmasq_lpm_key *k,
			const struct cidr *cidrs, int n)
{
	int i;

	for (i = 0; i < n; i++)
		if (cidrs[i].addr == k->addr && cidrs[i].plen == k->prefixlen)
			return true;
	return false;
}

int lpm_set(int fd, const struct cidr *cidrs, int n)
{
	struct bpfmasq_lpm_key key, next;
	void *prev = NULL;
	__u8 one = 1;
	int i;

	for (i = 0; i < n; i++) {
		key.prefixlen = cidrs[i].plen;
		key.addr = cidrs[i].addr;
		if (bpf_map_update_elem(fd, &key, &one, BPF_ANY))
			return -errno;
	}
	/* LPM tries have no batch operations; they are small. */
	while (!bpf_map_get_next_key(fd, prev, &next)) {
		if (!cidr_listed(&next, cidrs, n)) {
			if (bpf_map_delete_elem(fd, &next))
				return -errno;
			prev = NULL; /* the walk restarts after a delete */
			continue;
		}
		key = next;
		prev = &key;
	}
	return 0;
}

int local_addrs_set(const struct masq_maps *m, const __be32 *addrs, int n)
{
	__be32 key, next;
	void *prev = NULL;
	__u8 one = 1;
	int i;

	for (i = 0; i < n; i++)
		if (bpf_map_update_elem(m->local_addrs, &addrs[i], &one,
					BPF_ANY))
			return -errno;
	/* Then drop the addresses the gateway no longer has. */
	while (!bpf_map_get_next_key(m->local_addrs, prev, &next)) {
		for (i = 0; i < n && addrs[i] != next; i++)
			;
		if (i == n) {
			bpf_map_delete_elem(m->local_addrs, &next);
			continue; /* restart from the same predecessor */
		}
		key = next;
		prev = &key;
	}
	return 0;
}

int stats_read(const struct masq_maps *m, uint64_t *totals)
{
	int ncpu = libbpf_num_possible_cpus();
	__u64 *vals;
	__u32 id;
	int c;

	if (ncpu < 0)
		return ncpu;
	vals = calloc(ncpu, sizeof(*vals));
	if (!vals)
		return -ENOMEM;
	for (id = 0; id < BPFMASQ_STAT_MAX; id++) {
		totals[id] = 0;
		if (bpf_map_lookup_elem(m->stats, &id, vals)) {
			free(vals);
			return -errno;
		}
		for (c = 0; c < ncpu; c++)
			totals[id] += vals[c];
	}
	free(vals);
	return 0;
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
		err = bpf_map_lookup_batch(fd, first ? NULL : in, out,
					   k + n * info.key_size,
					   v + n * info.value_size, &count,
					   NULL);
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

int state_flush(const struct masq_maps *m)
{
	int fds[] = { m->sessions, m->mappings, m->port_owners, m->frags };
	struct bpfmasq_config cfg;
	size_t i;
	long n;
	int err;

	/* The pools come back even if a table could not be emptied. */
	for (i = 0, err = 0; i < sizeof(fds) / sizeof(fds[0]); i++) {
		n = map_clear(fds[i]);
		if (n < 0 && !err)
			err = n;
	}
	if (config_read(m, &cfg) == 0) {
		int perr = pools_create(m, &cfg);

		err = err ? err : perr;
	}
	return err;
}
