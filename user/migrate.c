// SPDX-License-Identifier: GPL-2.0
/*
 * migrate.c - attach over an instance of an older layout (BPFMASQ_LAYOUT_OLDEST
 * up). The maps whose definition is unchanged are reused as they are, by the
 * same load that reuses them on every re-attach; a map whose definition or
 * meaning has changed is unpinned before that load, which then creates and
 * pins it anew. Its entries are read into an image, which the steps below
 * bring up one layout at a time, and written into the new map: the flow
 * state once the new objects are loaded and before their programs are
 * attached, so that no packet of an existing flow finds it missing, the
 * counters once the old programs are gone and theirs are final.
 *
 * The pins of layouts 1 and 2 have no record of this build's size: they are
 * told apart by what is pinned and by the maps' key and value sizes.
 *
 * The steps, one per layout change:
 *   1 -> 2  (fb0b2f2) the config keeps what the data path reads (address,
 *           port range, filtering); the rest (interface, table size,
 *           timeouts, ingress mode, flags) goes to the new instance record.
 *           Counters: rewrite_failed appended (a layout 1 of 3a49333 has
 *           it already).
 *   2 -> 3  (7a22c7f, up to ca0a230) every port comes from the pool and
 *           goes to quarantine when released: owners get a state, mappings
 *           a millisecond clock and a count of inbound sessions instead of
 *           the nanoseconds of their last session and a "from the pool"
 *           flag, sessions lose created_ns and gain the TCP windows, the
 *           fragments a time (their state is not carried: its age is
 *           unknown), the config a bound of inbound sessions and loses
 *           the port range to the record, which gains up to two ranges
 *           and the tcp-close and quarantine timeouts. Counters: rows
 *           inserted in the middle, so they move by name. The pools are
 *           built again around the owned ports.
 *   3 -> 4  the counters map grows from its 22 rows to BPFMASQ_STAT_SLOTS;
 *           rows keep their index. Layout 3 has no SHARED or LENT session.
 *   4 -> 5  (be145dc on) frag_events, daemon, excluded_nets and
 *           fast_ifaces are new, and created by the load; no layout 4
 *           frags entry waits (inside address 0).
 *   5 -> 6  forwards and hairpin_ifaces are new, created by the load.
 *   6 -> 7  statics and hosts are new, created by the load (attach
 *           counts the mappings into hosts); the record's max_ports_per_host
 *           was padding, 0: no limit.
 *   7 -> 8  (90b3f91) address pools: ext_addrs and addr_pool are new,
 *           created by the load (attach fills them: a layout 7 instance
 *           with --address has a pool of that one address), and so is
 *           limits (0: no session limit); a host's entry gains the address
 *           it is paired with and a count of its sessions, so hosts is
 *           made anew and attach counts the mappings and sessions into it
 *           again; port_pools has room
 *           for BPFMASQ_MAX_POOLS pools, so the pools are built again
 *           (a removed address's too: it drains).
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "bpffs.h"
#include "config.h"
#include "log.h"
#include "migrate.h"
#include "pools.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define BIT(n) (1u << (n))

/* Layout 1 (c5336bd): one config for the data path and the loader. */
struct config_v1 {
	__be32 ext_addr;
	__u16 port_min; /* host order, inclusive */
	__u16 port_max;
	__u32 timeouts[4]; /* tcp-est, tcp-trans, udp, icmp: seconds */
	__u8 filtering;
	__u8 flags; /* CONFIG_V1_* */
	__u16 pad;
	__u32 ifindex;
	__u32 max_sessions;
	__u32 pad2;
};
_Static_assert(sizeof(struct config_v1) == 40, "layout 1 config");

enum {
	CONFIG_V1_OWN_CLSACT = 1 << 0,
	CONFIG_V1_XDP_GENERIC = 1 << 1,
	CONFIG_V1_FIXED_ADDR = 1 << 2,
	CONFIG_V1_INGRESS_TC = 1 << 3,
};

/* Layout 2 (fb0b2f2): the config the data path reads ... */
struct config_v2 {
	__be32 ext_addr;
	__u16 port_min;
	__u16 port_max;
	__u8 filtering;
	__u8 pad[3];
};
_Static_assert(sizeof(struct config_v2) == 12, "layout 2 config");

/* ... and the loader's record; its flags are this build's. */
struct instance_v2 {
	__u32 layout_version;
	__u32 ifindex;
	__u32 max_sessions;
	__u8 ingress; /* enum bpfmasq_ingress */
	__u8 flags;
	__u16 pad;
	__u32 timeouts[4]; /* as in layout 1 */
};
_Static_assert(sizeof(struct instance_v2) == 32, "layout 2 instance");

/* Layouts 1 and 2: a mapping knows when its last session started. */
struct mapping_v1 {
	__be32 ext_addr;
	__be16 ext_port;
	__u8 flags; /* 1: the port came from the pool */
	__u8 pad;
	__u64 last_ns; /* boot time */
};
_Static_assert(sizeof(struct mapping_v1) == 16, "layout 1 mapping");

/* Layouts 1 and 2: no TCP windows. */
struct session_v1 {
	__u64 last_ns;
	__u64 created_ns;
	__u64 packets_out;
	__u64 bytes_out;
	__u64 packets_in;
	__u64 bytes_in;
	__be32 ext_addr;
	__be16 ext_port;
	__u8 tcp_state; /* as in enum bpfmasq_tcp_state, up to CLOSED */
	__u8 flags; /* FIN_OUT, FIN_IN, INBOUND, REPLIED */
};
_Static_assert(sizeof(struct session_v1) == 56, "layout 1 session");

/* Rows of the counters map, by layout; a layout 1 may have 15. */
static const __u32 stats_rows[] = { [1] = 16,
				    [2] = 16,
				    [3] = 22,
				    [4] = BPFMASQ_STAT_SLOTS,
				    [5] = BPFMASQ_STAT_SLOTS,
				    [6] = BPFMASQ_STAT_SLOTS,
				    [7] = BPFMASQ_STAT_SLOTS,
				    [8] = BPFMASQ_STAT_SLOTS };
_Static_assert(ARRAY_SIZE(stats_rows) == BPFMASQ_LAYOUT_VERSION + 1,
	       "the counter rows of every layout");

/* Where the 16 rows of layout 2 are in layout 3, which 4 kept. */
static const __u32 stats_rows_2_3[16] = {
	BPFMASQ_STAT_TRANSLATED_OUT,  BPFMASQ_STAT_TRANSLATED_IN,
	BPFMASQ_STAT_NEW_MAPPING,     BPFMASQ_STAT_NEW_SESSION,
	BPFMASQ_STAT_PORT_POOL_EMPTY, BPFMASQ_STAT_TABLE_FULL,
	BPFMASQ_STAT_MALFORMED,	      BPFMASQ_STAT_NOT_OURS,
	BPFMASQ_STAT_UNSOLICITED,     BPFMASQ_STAT_FILTERED,
	BPFMASQ_STAT_NOT_INSIDE,      BPFMASQ_STAT_NO_ADDRESS,
	BPFMASQ_STAT_UNSUPPORTED,     BPFMASQ_STAT_FRAGMENT,
	BPFMASQ_STAT_NON_IPV4,	      BPFMASQ_STAT_REWRITE_FAILED,
};

/* A pinned map's name and the key and value size a layout gave it. */
struct pin_size {
	const char *name;
	__u32 key_size;
	__u32 value_size;
};

/* What tells the pins of layouts 1 and 2 apart: the maps both had ... */
static const struct pin_size pins_v1_v2[] = {
	{ "stats", sizeof(__u32), sizeof(__u64) },
	{ "sessions", sizeof(struct bpfmasq_session_key),
	  sizeof(struct session_v1) },
	{ "mappings", sizeof(struct bpfmasq_endpoint),
	  sizeof(struct mapping_v1) },
	{ "port_owners", sizeof(struct bpfmasq_endpoint),
	  sizeof(struct bpfmasq_endpoint) },
	{ "frags", sizeof(struct bpfmasq_frag_key), sizeof(__be32) },
	{},
};

/* ... and their config and record (layout 1 had none). */
static const struct pin_size pins_v1[] = {
	{ "config", sizeof(__u32), sizeof(struct config_v1) },
	{},
};

static const struct pin_size pins_v2[] = {
	{ "config", sizeof(__u32), sizeof(struct config_v2) },
	{ "instance", sizeof(__u32), sizeof(struct instance_v2) },
	{},
};

static const char *const map_names[MIGRATE_MAP_MAX] = {
	[MIGRATE_CONFIG] = "config",	 [MIGRATE_INSTANCE] = "instance",
	[MIGRATE_STATS] = "stats",	 [MIGRATE_SESSIONS] = "sessions",
	[MIGRATE_MAPPINGS] = "mappings", [MIGRATE_OWNERS] = "port_owners",
	[MIGRATE_POOLS] = "port_pools",	 [MIGRATE_FRAGS] = "frags",
	[MIGRATE_HOSTS] = "hosts",
};

/* One hash map's entries, as the layout the image is at has them. */
struct table {
	char *keys;
	char *vals;
	long n;
	__u32 key_size;
	__u32 value_size;
};

/* What was read of the old pins, brought up one layout at a time. */
struct image {
	__u32 layout;
	bool record; /* cfg and inst were read */
	union {
		struct config_v1 v1;
		struct config_v2 v2;
		struct bpfmasq_config cur; /* layout 3 up */
	} cfg;
	union {
		struct instance_v2 v2;
		struct bpfmasq_instance cur; /* layout 3 up */
	} inst;
	struct table t[MIGRATE_MAP_MAX]; /* the hash maps read; n 0: none */
	__u64 *stats; /* stats_n rows of ncpu counters; NULL: not read */
	__u32 stats_n;
	int ncpu;
};

static int pin_open(const char *dir, const char *name, char *path, size_t len)
{
	int fd, err = pin_path(path, len, dir, name);

	if (err)
		return err;
	fd = bpf_obj_get(path);
	return fd < 0 ? -errno : fd;
}

static int map_info(int fd, struct bpf_map_info *info)
{
	__u32 len = sizeof(*info);

	memset(info, 0, len);
	return bpf_obj_get_info_by_fd(fd, info, &len) ? -errno : 0;
}

/* Element 0 of the array map @fd, of @size bytes, into @val. */
static int elem0_read(int fd, void *val, __u32 size)
{
	struct bpf_map_info info;
	__u32 zero = 0;
	int err = map_info(fd, &info);

	if (!err && info.value_size != size)
		err = -EPROTO;
	if (!err && bpf_map_lookup_elem(fd, &zero, val))
		err = -errno;
	return err;
}

/* One line on pins of no layout this build knows, @why in words. */
static int pins_unknown(const char *dir, const char *why)
{
	pr_err("the pins in %s were pinned by another version, of no layout this bpfmasq upgrades (%s): detach them with detach --force",
	       dir, why);
	return -EPROTO;
}

/* Do the pins in @dir have the sizes @want gives layout @layout? */
static int pins_check(const char *dir, __u32 layout,
		      const struct pin_size *want)
{
	struct bpf_map_info info;
	char path[4096], why[160];
	int fd, err;

	for (; want->name; want++) {
		fd = pin_open(dir, want->name, path, sizeof(path));
		if (fd < 0) {
			snprintf(why, sizeof(why), "%s: %s", want->name,
				 strerror(-fd));
			return pins_unknown(dir, why);
		}
		err = map_info(fd, &info);
		close(fd);
		if (err) {
			pr_err("cannot inspect pinned map %s: %s", path,
			       strerror(-err));
			return err;
		}
		if (info.key_size != want->key_size ||
		    info.value_size != want->value_size ||
		    (!strcmp(want->name, "stats") &&
		     info.max_entries > stats_rows[layout])) {
			snprintf(
				why, sizeof(why),
				"%s has %u-byte keys, %u-byte values and %u entries; layout %u's has %u and %u",
				want->name, info.key_size, info.value_size,
				info.max_entries, layout, want->key_size,
				want->value_size);
			return pins_unknown(dir, why);
		}
	}
	return 0;
}

/*
 * Are the pins in @dir of layout 1 or 2, whose own maps are @want? Then
 * *@found is @layout; else one line and -EPROTO.
 */
static int pins_match(const char *dir, __u32 layout,
		      const struct pin_size *want, __u32 *found)
{
	int err = pins_check(dir, layout, want);

	if (!err)
		err = pins_check(dir, layout, pins_v1_v2);
	if (!err)
		*found = layout;
	return err;
}

/* The version a record of @size bytes in @fd says, into *@version. */
static int record_version(int fd, __u32 size, __u32 *version)
{
	__u32 zero = 0, *rec;
	int err = 0;

	rec = calloc(1, size > sizeof(*rec) ? size : sizeof(*rec));
	if (!rec)
		return -ENOMEM;
	if (bpf_map_lookup_elem(fd, &zero, rec))
		err = -errno;
	*version = rec[0];
	free(rec);
	return err;
}

int migrate_detect(const char *dir, __u32 *layout)
{
	struct bpf_map_info info;
	char path[4096], why[64];
	__u32 version;
	int fd, err;

	fd = pin_open(dir, "instance", path, sizeof(path));
	if (fd == -ENOENT)
		return pins_match(dir, 1, pins_v1, layout);
	if (fd < 0) {
		pr_err("cannot open pinned map %s: %s", path, strerror(-fd));
		return fd;
	}
	err = map_info(fd, &info);
	/* Every record has its version first. */
	if (!err && info.key_size == sizeof(__u32) && info.value_size >= 4)
		err = record_version(fd, info.value_size, &version);
	else if (!err)
		err = -EPROTO;
	close(fd);
	if (err) {
		pr_err("cannot read the instance record %s: %s", path,
		       strerror(-err));
		return err;
	}
	/* maps.c checks the rest, and refuses a newer layout. */
	if (version > BPFMASQ_LAYOUT_VERSION ||
	    (version >= MIGRATE_LAYOUT_READABLE &&
	     info.value_size == sizeof(struct bpfmasq_instance))) {
		*layout = version;
		return 0;
	}
	if (version == 2 && info.value_size == sizeof(struct instance_v2))
		return pins_match(dir, 2, pins_v2, layout);
	snprintf(why, sizeof(why), "a %u-byte record of layout %u",
		 info.value_size, version);
	return pins_unknown(dir, why);
}

static void table_free(struct table *t)
{
	free(t->keys);
	free(t->vals);
	memset(t, 0, sizeof(*t));
}

static void image_free(struct image *im)
{
	int i;

	for (i = 0; i < MIGRATE_MAP_MAX; i++)
		table_free(&im->t[i]);
	free(im->stats);
	im->stats = NULL;
}

/* Every entry of the hash map @fd into @t. */
static int table_read(struct table *t, int fd)
{
	struct bpf_map_info info;
	void *keys, *vals;
	int err = map_info(fd, &info);
	long n;

	if (err)
		return err;
	n = map_dump(fd, &keys, &vals);
	if (n < 0)
		return n;
	t->keys = keys;
	t->vals = vals;
	t->n = n;
	t->key_size = info.key_size;
	t->value_size = info.value_size;
	return 0;
}

static int table_write(const struct table *t, int fd, const char *name)
{
	long i;

	int err;

	for (i = 0; i < t->n; i++)
		if (bpf_map_update_elem(fd, t->keys + i * t->key_size,
					t->vals + i * t->value_size,
					BPF_NOEXIST)) {
			err = -errno;
			pr_err("cannot carry an entry of %s over: %s", name,
			       strerror(-err));
			return err;
		}
	return 0;
}

/* Convert each value of @t into a new one of @size bytes, by @fn. */
static int table_convert(struct table *t, __u32 size,
			 void (*fn)(void *to, const void *from, long i,
				    const void *ctx),
			 const void *ctx)
{
	char *vals = calloc(t->n ? t->n : 1, size);
	long i;

	if (!vals)
		return -ENOMEM;
	for (i = 0; i < t->n; i++)
		fn(vals + i * size, t->vals + i * t->value_size, i, ctx);
	free(t->vals);
	t->vals = vals;
	t->value_size = size;
	return 0;
}

/* The counters into @n rows: old row i goes to @rows[i] (NULL: to i). */
static int stats_remap(struct image *im, __u32 n, const __u32 *rows)
{
	__u64 *stats;
	__u32 i, to;
	int c;

	if (!im->stats)
		return 0;
	stats = calloc((size_t)n * im->ncpu, sizeof(*stats));
	if (!stats)
		return -ENOMEM;
	for (i = 0; i < im->stats_n; i++) {
		to = rows ? rows[i] : i;
		for (c = 0; c < im->ncpu && to < n; c++)
			stats[to * im->ncpu + c] = im->stats[i * im->ncpu + c];
	}
	free(im->stats);
	im->stats = stats;
	im->stats_n = n;
	return 0;
}

static void record_1_2(struct image *im)
{
	const struct config_v1 old = im->cfg.v1;
	struct instance_v2 *inst = &im->inst.v2;
	struct config_v2 *cfg = &im->cfg.v2;

	memset(cfg, 0, sizeof(*cfg));
	cfg->ext_addr = old.ext_addr;
	cfg->port_min = old.port_min;
	cfg->port_max = old.port_max;
	cfg->filtering = old.filtering;
	memset(inst, 0, sizeof(*inst));
	inst->layout_version = 2;
	inst->ifindex = old.ifindex;
	inst->max_sessions = old.max_sessions;
	inst->ingress = old.flags & CONFIG_V1_INGRESS_TC ? BPFMASQ_INGRESS_TC
			: old.flags & CONFIG_V1_XDP_GENERIC
				? BPFMASQ_INGRESS_GENERIC
				: BPFMASQ_INGRESS_NATIVE;
	if (old.flags & CONFIG_V1_OWN_CLSACT)
		inst->flags |= BPFMASQ_INST_OWN_CLSACT;
	if (old.flags & CONFIG_V1_FIXED_ADDR)
		inst->flags |= BPFMASQ_INST_FIXED_ADDR;
	memcpy(inst->timeouts, old.timeouts, sizeof(inst->timeouts));
}

static int step_1_2(struct image *im)
{
	if (im->record)
		record_1_2(im);
	return stats_remap(im, stats_rows[2], NULL);
}

static void record_2_3(struct image *im)
{
	const struct instance_v2 old = im->inst.v2;
	const struct config_v2 old_cfg = im->cfg.v2;
	struct bpfmasq_instance *inst = &im->inst.cur;
	struct bpfmasq_config *cfg = &im->cfg.cur;

	memset(cfg, 0, sizeof(*cfg));
	cfg->ext_addr = old_cfg.ext_addr;
	cfg->filtering = old_cfg.filtering;
	/* Layout 2 had no bound: the default one, as a fresh attach has. */
	cfg->max_inbound = BPFMASQ_DEFAULT_MAX_INBOUND;
	/*
	 * The timeouts layout 2 did not have get their defaults: the
	 * quarantine, and tcp-close, which tcp-trans covered (its value may
	 * be hours, too long for a closed session).
	 */
	instance_defaults(inst);
	inst->layout_version = 3;
	inst->ifindex = old.ifindex;
	inst->max_sessions = old.max_sessions;
	inst->ingress = old.ingress;
	inst->flags = old.flags;
	inst->timeouts[BPFMASQ_TIMEOUT_TCP_EST] = old.timeouts[0];
	inst->timeouts[BPFMASQ_TIMEOUT_TCP_TRANS] = old.timeouts[1];
	inst->timeouts[BPFMASQ_TIMEOUT_UDP] = old.timeouts[2];
	inst->timeouts[BPFMASQ_TIMEOUT_ICMP] = old.timeouts[3];
	/* The same range: another one would flush every mapping. */
	inst->ports[0].lo = old_cfg.port_min;
	inst->ports[0].hi = old_cfg.port_max;
}

static void session_2_3(void *to, const void *from, long i, const void *ctx)
{
	const struct session_v1 *o = from;
	struct bpfmasq_session *s = to;

	(void)i;
	(void)ctx;
	s->last_ns = o->last_ns;
	s->packets_out = o->packets_out;
	s->bytes_out = o->bytes_out;
	s->packets_in = o->packets_in;
	s->bytes_in = o->bytes_in;
	s->ext_addr = o->ext_addr;
	s->ext_port = o->ext_port;
	s->tcp_state = o->tcp_state;
	s->flags = o->flags;
	/*
	 * An inbound session was "replied" from its first packet; now only
	 * once the inside host answers, so that unanswered ones give way.
	 * The host has answered if it has sent anything.
	 */
	if (o->flags & BPFMASQ_SESS_INBOUND) {
		s->flags &= ~BPFMASQ_SESS_REPLIED;
		if (o->packets_out)
			s->flags |= BPFMASQ_SESS_REPLIED;
	}
	/*
	 * The windows were not tracked: both sides unseen, as a session
	 * picked up mid-stream has them. Their next acknowledgments fill
	 * them in; until then a RST or FIN is taken whatever its sequence
	 * number, as layout 2 took every one.
	 */
	s->u.tcp[0].wscale = BPFMASQ_WSCALE_MAX;
	s->u.tcp[1].wscale = BPFMASQ_WSCALE_MAX;
}

/* Mapping @i of the table, with the inbound sessions counted in @ctx. */
static void mapping_2_3(void *to, const void *from, long i, const void *ctx)
{
	const struct mapping_v1 *o = from;
	const __u32 *inbound = ctx;
	struct bpfmasq_mapping *m = to;
	__u32 ms = o->last_ns / 1000000;

	m->ext_addr = o->ext_addr;
	m->ext_port = o->ext_port;
	/* The data path's clock of a mapping: never DYING (ports.h). */
	m->used_ms = ms == BPFMASQ_MAPPING_DYING ? ms - 1 : ms;
	m->inbound = inbound[i];
}

/*
 * An owner named its inside endpoint only: every entry was an owned port.
 * Layouts 1 and 2 had no quarantine: a port released before the upgrade
 * was free at once, and stays so. One whose mapping is gone the collector
 * quarantines (OWNER_REPAIR).
 */
static void owner_2_3(void *to, const void *from, long i, const void *ctx)
{
	const struct bpfmasq_endpoint *o = from;
	struct bpfmasq_owner *w = to;

	(void)i;
	(void)ctx;
	w->addr = o->addr;
	w->port = o->port;
	w->proto = o->proto;
	w->state = BPFMASQ_PORT_OWNED;
}

/* Mapping keys, by the pointers to them that qsort() moves. */
static int key_cmp(const void *a, const void *b)
{
	return memcmp(*(char *const *)a, *(char *const *)b,
		      sizeof(struct bpfmasq_endpoint));
}

/* The index in @t of @key, by @order (its keys, sorted); -1 if none. */
static long key_find(const struct table *t, char *const *order, const void *key)
{
	long lo = 0, hi = t->n, mid;
	int c;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		c = memcmp(key, order[mid], t->key_size);
		if (!c)
			return (order[mid] - t->keys) / t->key_size;
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return -1;
}

/*
 * The inbound sessions of each mapping of @maps, into @count (one per
 * mapping): a session's inside endpoint is its mapping's key.
 */
static int inbound_count(const struct table *maps, const struct table *sess,
			 __u32 *count)
{
	char **order = calloc(maps->n ? maps->n : 1, sizeof(*order));
	const struct bpfmasq_session_key *k;
	const struct session_v1 *s;
	struct bpfmasq_endpoint ep;
	__u32 size = maps->key_size;
	long i, hit;

	if (!order)
		return -ENOMEM;
	for (i = 0; i < maps->n; i++)
		order[i] = maps->keys + i * size;
	qsort(order, maps->n, sizeof(*order), key_cmp);
	for (i = 0; i < sess->n; i++) {
		k = (const void *)(sess->keys + i * sess->key_size);
		s = (const void *)(sess->vals + i * sess->value_size);
		if (!(s->flags & BPFMASQ_SESS_INBOUND))
			continue;
		ep = (struct bpfmasq_endpoint){ .addr = k->inside_addr,
						.port = k->inside_port,
						.proto = k->proto };
		hit = key_find(maps, order, &ep);
		if (hit >= 0)
			count[hit]++;
	}
	free(order);
	return 0;
}

static int step_2_3(struct image *im)
{
	struct table *maps = &im->t[MIGRATE_MAPPINGS];
	__u32 *inbound;
	int err;

	if (im->record)
		record_2_3(im);
	inbound = calloc(maps->n ? maps->n : 1, sizeof(*inbound));
	if (!inbound)
		return -ENOMEM;
	err = inbound_count(maps, &im->t[MIGRATE_SESSIONS], inbound);
	if (!err)
		err = table_convert(maps, sizeof(struct bpfmasq_mapping),
				    mapping_2_3, inbound);
	free(inbound);
	if (!err)
		err = table_convert(&im->t[MIGRATE_SESSIONS],
				    sizeof(struct bpfmasq_session), session_2_3,
				    NULL);
	if (!err)
		err = table_convert(&im->t[MIGRATE_OWNERS],
				    sizeof(struct bpfmasq_owner), owner_2_3,
				    NULL);
	return err ? err : stats_remap(im, stats_rows[3], stats_rows_2_3);
}

/* Sessions, mappings, owners, config and record are layout 3's as they are. */
static int step_3_4(struct image *im)
{
	return stats_remap(im, stats_rows[4], NULL);
}

/*
 * Nothing changes: the new maps (frag_events, daemon, excluded_nets,
 * fast_ifaces) are created by the load, empty, and a layout 4 frags entry
 * never waits (inside address 0), so all are layout 5's as they are.
 */
static int step_4_5(struct image *im)
{
	(void)im;
	return 0;
}

/*
 * Nothing changes either: forwards and hairpin_ifaces are new (made by
 * the load, empty), and
 * the owner states, mapping flag and session flag that layout 6 adds are
 * values layout 5 never wrote.
 */
static int step_5_6(struct image *im)
{
	(void)im;
	return 0;
}

/*
 * Nothing changes: statics and hosts are new (made by the load, empty;
 * attach counts the mappings into hosts), config flag STATICS, which
 * layout 6 never set, stays clear, and the record's max_ports_per_host was
 * padding (0: no limit).
 */
static int step_6_7(struct image *im)
{
	(void)im;
	return 0;
}

/* hosts: counted anew by attach (hosts_rebuild), with the addresses. */
static int step_7_8(struct image *im)
{
	(void)im;
	return 0;
}

/* One step: the maps whose definition or meaning it changes, and the work. */
struct step {
	__u32 changes; /* BIT(enum migrate_map) */
	int (*run)(struct image *im);
};

/* steps[N]: from layout N to N + 1. */
static const struct step steps[] = {
	[1] = { BIT(MIGRATE_CONFIG) | BIT(MIGRATE_STATS), step_1_2 },
	[2] = { BIT(MIGRATE_CONFIG) | BIT(MIGRATE_INSTANCE) |
			BIT(MIGRATE_STATS) | BIT(MIGRATE_SESSIONS) |
			BIT(MIGRATE_MAPPINGS) | BIT(MIGRATE_OWNERS) |
			BIT(MIGRATE_POOLS) | BIT(MIGRATE_FRAGS),
		step_2_3 },
	[3] = { BIT(MIGRATE_STATS), step_3_4 },
	[4] = { 0, step_4_5 },
	[5] = { 0, step_5_6 },
	[6] = { 0, step_6_7 },
	[7] = { BIT(MIGRATE_POOLS) | BIT(MIGRATE_HOSTS), step_7_8 },
};
_Static_assert(ARRAY_SIZE(steps) == BPFMASQ_LAYOUT_VERSION,
	       "a step to every layout");

/* Bring @im up to this build's layout. */
static int image_up(struct image *im)
{
	int err = 0;

	for (; im->layout < BPFMASQ_LAYOUT_VERSION && !err; im->layout++)
		err = steps[im->layout].run(im);
	return err;
}

/* The maps some step from layout @from on changes. */
static __u32 changed_since(__u32 from)
{
	__u32 changes = 0;

	for (; from < BPFMASQ_LAYOUT_VERSION; from++)
		changes |= steps[from].changes;
	return changes;
}

bool migrate_changes(const char *name, __u32 from)
{
	__u32 changes = changed_since(from);
	int i;

	for (i = 0; i < MIGRATE_MAP_MAX; i++)
		if ((changes & BIT(i)) && !strcmp(map_names[i], name))
			return true;
	return false;
}

/* The config and record of layout @from in @dir, into @im. */
static int record_read(struct image *im, const char *dir, __u32 from)
{
	char path[4096];
	int fd, err;

	fd = pin_open(dir, "config", path, sizeof(path));
	err = fd < 0 ? fd
		     : elem0_read(fd, &im->cfg,
				  from == 1 ? sizeof(struct config_v1)
					    : sizeof(struct config_v2));
	if (fd >= 0)
		close(fd);
	if (!err && from == 2) {
		fd = pin_open(dir, "instance", path, sizeof(path));
		err = fd < 0 ? fd
			     : elem0_read(fd, &im->inst,
					  sizeof(struct instance_v2));
		if (fd >= 0)
			close(fd);
	}
	if (err)
		pr_err("cannot read the layout %u record %s: %s", from, path,
		       strerror(-err));
	im->record = !err;
	return err;
}

int migrate_read_record(const char *dir, __u32 from, struct bpfmasq_config *cfg,
			struct bpfmasq_instance *inst)
{
	struct image im = { .layout = from };
	int err;

	if (from < BPFMASQ_LAYOUT_OLDEST || from >= MIGRATE_LAYOUT_READABLE)
		return -EINVAL;
	err = record_read(&im, dir, from);
	if (!err)
		err = image_up(&im);
	if (!err && cfg)
		*cfg = im.cfg.cur;
	if (!err)
		*inst = im.inst.cur;
	image_free(&im);
	return err;
}

/* Each map of this build, and the layout that added it. */
static const struct {
	const char *name;
	__u32 since;
} added[] = {
#define MAP_ADDED(name, ksz, vsz, since) { #name, since },
	MASQ_MAPS(MAP_ADDED)
#undef MAP_ADDED
};

/* The layout that added the map @name. */
static __u32 map_since(const char *name)
{
	size_t j;

	for (j = 0; j < ARRAY_SIZE(added); j++)
		if (!strcmp(added[j].name, name))
			return added[j].since;
	return 1;
}

/* Unpin the old map @i, keeping it open in @mg. */
static int set_aside(struct migration *mg, enum migrate_map i)
{
	struct bpf_map_info info;
	char path[4096];
	int fd, err;

	fd = pin_open(mg->dir, map_names[i], path, sizeof(path));
	/* The old layout had no such map (the record came with layout 2). */
	if (fd == -ENOENT && map_since(map_names[i]) > mg->from)
		return 0;
	if (fd < 0) {
		pr_err("cannot open pinned map %s: %s", path, strerror(-fd));
		return fd;
	}
	err = map_info(fd, &info);
	if (!err && i == MIGRATE_STATS &&
	    info.max_entries > stats_rows[mg->from]) {
		pr_err("pinned map %s has %u entries, layout %u has %u: cannot upgrade",
		       path, info.max_entries, mg->from, stats_rows[mg->from]);
		err = -EPROTO;
	} else if (!err && unlink(path)) {
		err = -errno;
		pr_err("cannot unpin %s: %s", path, strerror(errno));
	}
	if (err) {
		close(fd);
		return err;
	}
	mg->old[i] = fd;
	return 0;
}

int migrate_prepare(struct migration *mg, const char *dir, __u32 from)
{
	__u32 changes;
	int i, err;

	mg->from = from;
	for (i = 0; i < MIGRATE_MAP_MAX; i++)
		mg->old[i] = -1;
	snprintf(mg->dir, sizeof(mg->dir), "%s", dir);
	if (from == BPFMASQ_LAYOUT_VERSION)
		return 0;
	if (from < BPFMASQ_LAYOUT_OLDEST || from > BPFMASQ_LAYOUT_VERSION) {
		pr_err("cannot upgrade from layout %u", from);
		return -EPROTO;
	}
	changes = changed_since(from);
	for (i = 0; i < MIGRATE_MAP_MAX; i++) {
		if (!(changes & BIT(i)))
			continue;
		err = set_aside(mg, i);
		if (err) {
			migrate_abort(mg);
			return err;
		}
	}
	pr_info("upgrading the pinned state from layout %u to %u", from,
		BPFMASQ_LAYOUT_VERSION);
	return 0;
}

/* The flow tables set aside, each as @m has it. */
static const struct {
	enum migrate_map map;
	size_t field; /* of struct masq_maps */
} flow_tables[] = {
	{ MIGRATE_OWNERS, offsetof(struct masq_maps, port_owners) },
	{ MIGRATE_MAPPINGS, offsetof(struct masq_maps, mappings) },
	{ MIGRATE_SESSIONS, offsetof(struct masq_maps, sessions) },
};

/*
 * The old programs run on the old maps until the swap: a flow they start
 * after this read is not carried, and the new programs take it up anew.
 */
int migrate_carry(struct migration *mg, const struct masq_maps *m,
		  const struct bpfmasq_config *cfg)
{
	struct image im = { .layout = mg->from };
	enum migrate_map i;
	size_t j;
	int err = 0;

	for (j = 0; j < ARRAY_SIZE(flow_tables) && !err; j++) {
		i = flow_tables[j].map;
		if (mg->old[i] >= 0)
			err = table_read(&im.t[i], mg->old[i]);
	}
	if (!err)
		err = image_up(&im);
	for (j = 0; j < ARRAY_SIZE(flow_tables) && !err; j++) {
		i = flow_tables[j].map;
		if (mg->old[i] >= 0)
			err = table_write(&im.t[i],
					  *(const int *)((const char *)m +
							 flow_tables[j].field),
					  map_names[i]);
	}
	image_free(&im);
	if (err) {
		pr_err("cannot carry the flows of layout %u over: %s", mg->from,
		       strerror(-err));
		return err;
	}
	/* Every port not owned is free again, or reserved (pools.c). */
	return mg->old[MIGRATE_POOLS] >= 0 ? pools_create(m, cfg) : 0;
}

/* The per-CPU counters of the old map @fd into @im. */
static int stats_read_old(struct image *im, int fd)
{
	struct bpf_map_info info;
	__u32 id;
	int err;

	im->ncpu = libbpf_num_possible_cpus();
	if (im->ncpu <= 0)
		return im->ncpu ? im->ncpu : -EINVAL;
	err = map_info(fd, &info);
	if (err)
		return err;
	im->stats =
		calloc((size_t)info.max_entries * im->ncpu, sizeof(*im->stats));
	if (!im->stats)
		return -ENOMEM;
	im->stats_n = info.max_entries;
	for (id = 0; id < im->stats_n; id++)
		if (bpf_map_lookup_elem(fd, &id, im->stats + id * im->ncpu))
			return -errno;
	return 0;
}

/* Add the counters of @im into the new map's rows of the same index. */
static int stats_add(const struct image *im, int to)
{
	__u64 *cur = calloc(im->ncpu, sizeof(*cur));
	int err = 0, c;
	__u32 id;

	if (!cur)
		return -ENOMEM;
	for (id = 0; id < im->stats_n && !err; id++) {
		if (bpf_map_lookup_elem(to, &id, cur)) {
			err = -errno;
			break;
		}
		for (c = 0; c < im->ncpu; c++)
			cur[c] += im->stats[id * im->ncpu + c];
		if (bpf_map_update_elem(to, &id, cur, BPF_EXIST))
			err = -errno;
	}
	free(cur);
	return err;
}

static void close_old(struct migration *mg)
{
	int i;

	for (i = 0; i < MIGRATE_MAP_MAX; i++) {
		if (mg->old[i] >= 0)
			close(mg->old[i]);
		mg->old[i] = -1;
	}
}

void migrate_finish(struct migration *mg, const struct masq_maps *m)
{
	struct image im = { .layout = mg->from };
	int err;

	if (mg->from == BPFMASQ_LAYOUT_VERSION)
		return;
	/* The old programs are detached now: their counters are final. */
	err = mg->old[MIGRATE_STATS] >= 0
		      ? stats_read_old(&im, mg->old[MIGRATE_STATS])
		      : 0;
	if (!err && im.stats)
		err = image_up(&im);
	if (!err && im.stats)
		err = stats_add(&im, m->stats);
	if (err)
		pr_err("the counters of layout %u could not be carried over: %s",
		       mg->from, strerror(-err));
	image_free(&im);
	close_old(mg);
	pr_info("upgraded the pinned state from layout %u to %u", mg->from,
		BPFMASQ_LAYOUT_VERSION);
}

void migrate_abort(struct migration *mg)
{
	char path[4096];
	size_t j;
	int i;

	if (mg->from == BPFMASQ_LAYOUT_VERSION)
		return;
	/* The old layout had no such pin: the load made it. */
	for (j = 0; j < ARRAY_SIZE(added); j++)
		if (added[j].since > mg->from &&
		    !pin_path(path, sizeof(path), mg->dir, added[j].name))
			unlink(path);
	for (i = 0; i < MIGRATE_MAP_MAX; i++) {
		if (mg->old[i] < 0 ||
		    pin_path(path, sizeof(path), mg->dir, map_names[i]))
			continue;
		unlink(path); /* the new one, if the load pinned it */
		if (bpf_obj_pin(mg->old[i], path))
			pr_err("cannot pin %s again: %s", path,
			       strerror(errno));
	}
	close_old(mg);
}
