// SPDX-License-Identifier: GPL-2.0
/*
 * gc.c - expire sessions, make room when the table is nearly full, and
 * release mappings. Maps are read with batch lookups; every entry is looked
 * up again just before it is deleted, so a packet that refreshed it
 * meanwhile keeps it alive.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>

#include "gc.h"
#include "pools.h"

#define NS_PER_S 1000000000ull

uint32_t session_timeout(const struct bpfmasq_instance *inst,
			 const struct bpfmasq_session_key *key,
			 const struct bpfmasq_session *s)
{
	switch (key->proto) {
	case BPFMASQ_PROTO_TCP:
		switch (s->tcp_state) {
		case BPFMASQ_TCP_ESTABLISHED:
			return inst->timeouts[BPFMASQ_TIMEOUT_TCP_EST];
		case BPFMASQ_TCP_RST_SEEN:
		case BPFMASQ_TCP_CLOSED:
			return inst->timeouts[BPFMASQ_TIMEOUT_TCP_CLOSE];
		}
		return inst->timeouts[BPFMASQ_TIMEOUT_TCP_TRANS];
	case BPFMASQ_PROTO_UDP:
		return inst->timeouts[BPFMASQ_TIMEOUT_UDP];
	default:
		return inst->timeouts[BPFMASQ_TIMEOUT_ICMP];
	}
}

/* A set of inside endpoints, open addressing over their 64-bit packing. */
struct ep_set {
	uint64_t *slots; /* 0 = empty; packed endpoints are never 0 */
	size_t mask;
};

static uint64_t ep_pack(__be32 addr, __be16 port, __u8 proto)
{
	return (uint64_t)addr << 32 | (uint64_t)port << 16 | proto;
}

static int ep_set_init(struct ep_set *s, size_t n)
{
	size_t size = 16;

	while (size < n * 2)
		size <<= 1;
	s->slots = calloc(size, sizeof(*s->slots));
	s->mask = size - 1;
	return s->slots ? 0 : -ENOMEM;
}

static size_t ep_slot(const struct ep_set *s, uint64_t v)
{
	size_t i = (v * 0x9e3779b97f4a7c15ull) >> 20;

	while (s->slots[i & s->mask] && s->slots[i & s->mask] != v)
		i++;
	return i & s->mask;
}

static void ep_set_add(struct ep_set *s, uint64_t v)
{
	s->slots[ep_slot(s, v)] = v;
}

static bool ep_set_has(const struct ep_set *s, uint64_t v)
{
	return s->slots[ep_slot(s, v)] == v;
}

static bool expired(uint64_t last_ns, uint32_t timeout_s, uint64_t now)
{
	return now > last_ns && now - last_ns >= timeout_s * NS_PER_S;
}

/*
 * Room under pressure (RFC 6888 REQ-11): past this share of the table, the
 * sessions that give way are removed, oldest first, down to the second.
 */
#define PRESSURE_HIGH_PCT 90
#define PRESSURE_LOW_PCT 80

/*
 * A session that never saw a reply, or a TCP connection that is closed or
 * reset, gives way first; an answered one is never evicted.
 */
static bool gives_way(const struct bpfmasq_session_key *k,
		      const struct bpfmasq_session *s)
{
	if (!(s->flags & BPFMASQ_SESS_REPLIED))
		return true;
	return k->proto == BPFMASQ_PROTO_TCP &&
	       (s->tcp_state == BPFMASQ_TCP_CLOSED ||
		s->tcp_state == BPFMASQ_TCP_RST_SEEN);
}

struct victim {
	uint64_t last_ns;
	long idx;
};

static int victim_cmp(const void *a, const void *b)
{
	const struct victim *x = a, *y = b;

	return x->last_ns < y->last_ns ? -1 : x->last_ns > y->last_ns;
}

/*
 * With @live[0..@n) the sessions left after expiry, make room if the table
 * is nearly full: delete those that give way, oldest first, unless a packet
 * refreshed them since they were read. Marks the deleted in @gone.
 */
static long gc_pressure(const struct masq_maps *m,
			const struct bpfmasq_instance *inst,
			const struct bpfmasq_session_key *keys,
			const struct bpfmasq_session *vals, const long *live,
			long n, bool *gone)
{
	long high = (long)inst->max_sessions * PRESSURE_HIGH_PCT / 100;
	long low = (long)inst->max_sessions * PRESSURE_LOW_PCT / 100;
	struct bpfmasq_session cur;
	struct victim *v;
	long nv = 0, i, evicted = 0;

	if (n <= high)
		return 0;
	v = calloc(n, sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (i = 0; i < n; i++)
		if (gives_way(&keys[live[i]], &vals[live[i]]))
			v[nv++] = (struct victim){ vals[live[i]].last_ns,
						   live[i] };
	qsort(v, nv, sizeof(*v), victim_cmp);
	for (i = 0; i < nv && n - evicted > low; i++) {
		const struct bpfmasq_session_key *k = &keys[v[i].idx];

		if (bpf_map_lookup_elem(m->sessions, k, &cur) ||
		    cur.last_ns != v[i].last_ns || !gives_way(k, &cur) ||
		    bpf_map_delete_elem(m->sessions, k))
			continue;
		gone[v[i].idx] = true;
		evicted++;
	}
	free(v);
	return evicted;
}

/*
 * Delete expired sessions, then make room if the table is nearly full;
 * record the inside endpoints still in use.
 */
static int gc_sessions(const struct masq_maps *m,
		       const struct bpfmasq_instance *inst, uint64_t now,
		       struct ep_set *used, struct gc_result *res)
{
	struct bpfmasq_session_key *keys;
	struct bpfmasq_session *vals, cur;
	long n, i, nlive = 0, evicted;
	bool *gone = NULL;
	long *live = NULL;
	int err;

	n = map_dump(m->sessions, (void **)&keys, (void **)&vals);
	if (n < 0)
		return n;
	err = ep_set_init(used, n);
	live = calloc(n + 1, sizeof(*live));
	gone = calloc(n + 1, sizeof(*gone));
	if (err || !live || !gone) {
		err = -ENOMEM;
		goto out;
	}
	for (i = 0; i < n; i++) {
		const struct bpfmasq_session_key *k = &keys[i];

		if (expired(vals[i].last_ns, session_timeout(inst, k, &vals[i]),
			    now) &&
		    !bpf_map_lookup_elem(m->sessions, k, &cur) &&
		    expired(cur.last_ns, session_timeout(inst, k, &cur), now) &&
		    !bpf_map_delete_elem(m->sessions, k)) {
			res->sessions_expired++;
			continue;
		}
		live[nlive++] = i;
	}
	evicted = gc_pressure(m, inst, keys, vals, live, nlive, gone);
	if (evicted < 0) {
		err = evicted;
		goto out;
	}
	res->sessions_evicted = evicted;
	for (i = 0; i < nlive; i++) {
		const struct bpfmasq_session_key *k = &keys[live[i]];

		if (gone[live[i]])
			continue;
		res->sessions++;
		ep_set_add(used,
			   ep_pack(k->inside_addr, k->inside_port, k->proto));
	}
out:
	free(live);
	free(gone);
	free(keys);
	free(vals);
	return err;
}

/* Release a mapping: forget it, free its port, return the port to its pool. */
static int mapping_release(const struct masq_maps *m,
			   const struct bpfmasq_endpoint *inside,
			   const struct bpfmasq_mapping *map,
			   struct gc_result *res)
{
	struct bpfmasq_endpoint ext = { .addr = map->ext_addr,
					.port = map->ext_port,
					.proto = inside->proto };

	if (bpf_map_delete_elem(m->mappings, inside))
		return errno == ENOENT ? 0 : -errno;
	res->mappings_freed++;
	bpf_map_delete_elem(m->port_owners, &ext);
	if (!(map->flags & BPFMASQ_MAP_FROM_POOL))
		return 0; /* a preserved port never left its pool */
	if (pool_push(m, &ext))
		return -errno;
	res->ports_returned++;
	return 0;
}

static int gc_mappings(const struct masq_maps *m, uint64_t now,
		       const struct ep_set *used, struct gc_result *res)
{
	struct bpfmasq_endpoint *keys;
	struct bpfmasq_mapping *vals, cur;
	long n, i;
	int err = 0;

	n = map_dump(m->mappings, (void **)&keys, (void **)&vals);
	if (n < 0)
		return n;
	for (i = 0; i < n && !err; i++) {
		const struct bpfmasq_endpoint *k = &keys[i];

		if (ep_set_has(used, ep_pack(k->addr, k->port, k->proto)))
			continue;
		/* A session may be on its way: the mapping's clock says so. */
		if (!expired(vals[i].last_ns, BPFMASQ_MAPPING_GRACE_S, now) ||
		    bpf_map_lookup_elem(m->mappings, k, &cur) ||
		    !expired(cur.last_ns, BPFMASQ_MAPPING_GRACE_S, now))
			continue;
		err = mapping_release(m, k, &cur, res);
	}
	free(keys);
	free(vals);
	return err;
}

/* Forget inbound first fragments older than the reassembly timeout. */
static int gc_frags(const struct masq_maps *m, uint64_t now,
		    struct gc_result *res)
{
	struct bpfmasq_frag_key *keys;
	struct bpfmasq_frag *vals, cur;
	long n, i;

	n = map_dump(m->frags, (void **)&keys, (void **)&vals);
	if (n < 0)
		return n;
	for (i = 0; i < n; i++)
		if (expired(vals[i].seen_ns, BPFMASQ_FRAG_TIMEOUT_S, now) &&
		    !bpf_map_lookup_elem(m->frags, &keys[i], &cur) &&
		    expired(cur.seen_ns, BPFMASQ_FRAG_TIMEOUT_S, now) &&
		    !bpf_map_delete_elem(m->frags, &keys[i]))
			res->frags_expired++;
	free(keys);
	free(vals);
	return 0;
}

/*
 * How long an owner without its mapping must stay so before it is taken
 * for a leftover: the data path claims the owner an instant before it
 * inserts the mapping.
 */
#define ORPHAN_SETTLE_US 20000

/* Does @ext's owner @inside lack the mapping that names @ext? */
static bool owner_orphaned(const struct masq_maps *m,
			   const struct bpfmasq_endpoint *ext,
			   const struct bpfmasq_endpoint *inside)
{
	struct bpfmasq_mapping map;

	return bpf_map_lookup_elem(m->mappings, inside, &map) ||
	       map.ext_addr != ext->addr || map.ext_port != ext->port;
}

/*
 * Owners whose mapping is gone: what a pass killed between deleting a
 * mapping and its owner leaves. Still so a moment later, the owner goes
 * and its port returns to the pool, unless it was the inside port kept
 * (a preserved port never leaves its pool).
 */
static int gc_owners(const struct masq_maps *m, struct gc_result *res)
{
	struct bpfmasq_endpoint *ext, *inside, cur;
	long n, i, suspects = 0;
	int err = 0;

	n = map_dump(m->port_owners, (void **)&ext, (void **)&inside);
	if (n < 0)
		return n;
	for (i = 0; i < n; i++)
		if (owner_orphaned(m, &ext[i], &inside[i]))
			ext[suspects] = ext[i], inside[suspects++] = inside[i];
	if (suspects)
		usleep(ORPHAN_SETTLE_US);
	for (i = 0; i < suspects && !err; i++) {
		if (bpf_map_lookup_elem(m->port_owners, &ext[i], &cur) ||
		    memcmp(&cur, &inside[i], sizeof(cur)) ||
		    !owner_orphaned(m, &ext[i], &inside[i]) ||
		    bpf_map_delete_elem(m->port_owners, &ext[i]))
			continue;
		res->owners_repaired++;
		if (ext[i].port != inside[i].port)
			err = pool_push(m, &ext[i]);
	}
	free(ext);
	free(inside);
	return err;
}

int gc_pass(const struct masq_maps *m, uint64_t now, struct gc_result *res)
{
	struct bpfmasq_instance inst;
	struct ep_set used = {};
	int err;

	memset(res, 0, sizeof(*res));
	err = instance_read(m, &inst);
	if (!err)
		err = gc_sessions(m, &inst, now, &used, res);
	if (!err)
		err = gc_mappings(m, now, &used, res);
	if (!err)
		err = gc_frags(m, now, res);
	if (!err)
		err = gc_owners(m, res);
	free(used.slots);
	return err;
}
