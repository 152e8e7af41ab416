// SPDX-License-Identifier: GPL-2.0
/*
 * gc.c - expire sessions, make room when the table is nearly full, release
 * mappings, end the quarantine of ports. Maps are read with batch lookups;
 * every change is made by the control program (ctl.bpf.c), which deletes
 * an entry only if it is still as it was read: a packet that refreshed it
 * meanwhile keeps it alive, and no pass can be cut between the check and
 * the change.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <bpf/bpf.h>

#include "clock.h"
#include "addrs.h"
#include "gc.h"
#include "hosts.h"
#include "netif.h"
#include "state.h"

#define NS_PER_MS 1000000ull

/* Delete session @k if it is still as last seen (last_ns @stamp). */
static int session_expire(const struct masq_maps *m,
			  const struct bpfmasq_session_key *k, uint64_t stamp)
{
	struct bpfmasq_ctl_args a = { .op = BPFMASQ_CTL_SESSION_EXPIRE,
				      .stamp = stamp,
				      .session = *k };

	return ctl_run(m, &a);
}

/*
 * Expire the sessions of batch @b (each deleted if still as last seen) and
 * take the results: an expired one counts in @res, one that a packet
 * refreshed meanwhile (-EBUSY) is live after all, its index (@idx, by
 * entry) added to @live. The batch is empty again after.
 */
static int expire_flush(const struct masq_maps *m, struct bpfmasq_ctl_batch *b,
			const long *idx, long *live, long *nlive,
			struct gc_result *res)
{
	int err = b->n ? ctl_expire_batch(m, b) : 0;
	__u32 i;

	for (i = 0; i < b->n && !err; i++) {
		if (!b->e[i].ret)
			res->sessions_expired++;
		else if (b->e[i].ret == -EBUSY)
			live[(*nlive)++] = idx[i];
	}
	b->n = 0;
	return err;
}

/* Run @op on endpoint @ep with @stamp at @now. */
static int ctl_ep(const struct masq_maps *m, enum bpfmasq_ctl_op op,
		  const struct bpfmasq_endpoint *ep, uint64_t stamp,
		  uint64_t now)
{
	struct bpfmasq_ctl_args a = {
		.op = op, .stamp = stamp, .now_ns = now, .ep = *ep
	};

	return ctl_run(m, &a);
}

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

/*
 * A set of inside endpoints, open addressing over their 64-bit packing, and
 * how many times each was added.
 */
struct ep_set {
	uint64_t *slots; /* 0 = empty; packed endpoints are never 0 */
	uint32_t *counts;
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
	s->counts = calloc(size, sizeof(*s->counts));
	s->mask = size - 1;
	return s->slots && s->counts ? 0 : -ENOMEM;
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
	size_t i = ep_slot(s, v);

	s->slots[i] = v;
	s->counts[i]++;
}

static uint32_t ep_set_count(const struct ep_set *s, uint64_t v)
{
	size_t i = ep_slot(s, v);

	return s->slots[i] == v ? s->counts[i] : 0;
}

static bool ep_set_has(const struct ep_set *s, uint64_t v)
{
	return s->slots[ep_slot(s, v)] == v;
}

static bool expired(uint64_t last_ns, uint32_t timeout_s, uint64_t now)
{
	return now > last_ns && now - last_ns >= timeout_s * NS_PER_S;
}

/* A set of session keys of a dump, by their index in it. */
struct key_set {
	long *slots; /* index + 1; 0 = empty */
	size_t mask;
	const struct bpfmasq_session_key *keys;
};

static size_t key_hash(const struct bpfmasq_session_key *k)
{
	uint64_t a, b;

	memcpy(&a, k, 8);
	memcpy(&b, (const char *)k + 8, 8);
	return ((a ^ (b * 0x9e3779b97f4a7c15ull)) * 0xc2b2ae3d27d4eb4full) >>
	       20;
}

static size_t key_slot(const struct key_set *s,
		       const struct bpfmasq_session_key *k)
{
	size_t i = key_hash(k);
	long at;

	while ((at = s->slots[i & s->mask]) &&
	       memcmp(&s->keys[at - 1], k, sizeof(*k)))
		i++;
	return i & s->mask;
}

/* The SHARED sessions among @idx[0..@n) of @keys, @vals. */
static int shared_set(struct key_set *s, const struct bpfmasq_session_key *keys,
		      const struct bpfmasq_session *vals, const long *idx,
		      long n)
{
	size_t size = 16;
	long i;

	while (size < (size_t)n * 2)
		size <<= 1;
	s->slots = calloc(size, sizeof(*s->slots));
	if (!s->slots)
		return -ENOMEM;
	s->mask = size - 1;
	s->keys = keys;
	for (i = 0; i < n; i++)
		if (vals[idx[i]].flags & BPFMASQ_SESS_SHARED)
			s->slots[key_slot(s, &keys[idx[i]])] = idx[i] + 1;
	return 0;
}

/* Does the SHARED session that LENT entry @l (key @k) names still exist? */
static bool lent_held(const struct key_set *s,
		      const struct bpfmasq_session_key *k,
		      const struct bpfmasq_session *l)
{
	struct bpfmasq_session_key b = *k;

	b.inside_addr = l->u.lent_to.addr;
	b.inside_port = l->u.lent_to.port;
	return s->slots[key_slot(s, &b)] != 0;
}

/*
 * Room under pressure (RFC 6888 REQ-11): past this share of the table, the
 * sessions that give way are removed, oldest first, down to the second.
 */
#define PRESSURE_HIGH_PCT 90
#define PRESSURE_LOW_PCT 80

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
 * Of the sessions @live[0..@n) not @gone, those that give way, oldest
 * first, into *@out: their number, or -ENOMEM.
 */
static long victims(const struct bpfmasq_session_key *keys,
		    const struct bpfmasq_session *vals, const long *live,
		    long n, const bool *gone, struct victim **out)
{
	struct victim *v = calloc(n ? n : 1, sizeof(*v));
	long nv = 0, i;

	if (!v)
		return -ENOMEM;
	for (i = 0; i < n; i++)
		if (!gone[live[i]] &&
		    bpfmasq_gives_way(keys[live[i]].proto, &vals[live[i]]))
			v[nv++] = (struct victim){ vals[live[i]].last_ns,
						   live[i] };
	qsort(v, nv, sizeof(*v), victim_cmp);
	*out = v;
	return nv;
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
	struct victim *v;
	long nv, i, evicted = 0;

	if (n <= high)
		return 0;
	nv = victims(keys, vals, live, n, gone, &v);
	if (nv < 0)
		return nv;
	for (i = 0; i < nv && n - evicted > low; i++) {
		const struct bpfmasq_session_key *k = &keys[v[i].idx];

		/* Not refreshed since it was read: it still gives way. */
		if (session_expire(m, k, v[i].last_ns))
			continue;
		gone[v[i].idx] = true;
		evicted++;
	}
	free(v);
	return evicted;
}

/*
 * Past this share of the table, a pass queues the oldest sessions that give
 * way for the data path, which deletes one when a new flow from inside
 * finds the table full (bpf/room.h).
 */
#define EVICT_QUEUE_PCT 50

static bool mapping_idle(__u32 used_ms, uint64_t now);

static bool quarantine_over(const struct bpfmasq_instance *inst,
			    const struct bpfmasq_owner *o, uint64_t now)
{
	return now / NS_PER_S >=
	       (uint64_t)o->released_s +
		       inst->timeouts[BPFMASQ_TIMEOUT_QUARANTINE];
}

/*
 * The victim entry of session @k: marked the last of its mapping when @used
 * counts no other session of its inside endpoint and no session has started
 * on the mapping for the grace period before @now, when the sessions were
 * read (so every session on it was in what was read).
 */
static struct bpfmasq_victim victim_make(const struct masq_maps *m,
					 const struct bpfmasq_session_key *k,
					 const struct ep_set *used,
					 uint64_t now)
{
	struct bpfmasq_endpoint in = { .addr = k->inside_addr,
				       .port = k->inside_port,
				       .proto = k->proto };
	struct bpfmasq_victim v = { .key = *k };
	struct bpfmasq_mapping map;

	if (ep_set_count(used, ep_pack(in.addr, in.port, in.proto)) == 1 &&
	    !bpf_map_lookup_elem(m->mappings, &in, &map) &&
	    map.used_ms != BPFMASQ_MAPPING_DYING &&
	    mapping_idle(map.used_ms, now)) {
		v.map_stamp = map.used_ms;
		v.flags = BPFMASQ_VICTIM_LAST;
	}
	return v;
}

/*
 * Queue the oldest sessions that give way, in place of what the queue
 * held, once the table is more than EVICT_QUEUE_PCT full.
 */
static int gc_queue_victims(const struct masq_maps *m,
			    const struct bpfmasq_instance *inst,
			    const struct bpfmasq_session_key *keys,
			    const struct bpfmasq_session *vals,
			    const long *live, long n, const bool *gone,
			    const struct ep_set *used, uint64_t now)
{
	struct bpfmasq_victim old, e;
	struct victim *v;
	long nv, i;

	if (n <= (long)inst->max_sessions * EVICT_QUEUE_PCT / 100)
		return 0;
	nv = victims(keys, vals, live, n, gone, &v);
	if (nv < 0)
		return nv;
	/* Bounded: the data path pops too, nothing else pushes. */
	for (i = 0; i < BPFMASQ_EVICT_QUEUE; i++)
		if (bpf_map_lookup_and_delete_elem(m->evict_queue, NULL, &old))
			break;
	for (i = 0; i < nv && i < BPFMASQ_EVICT_QUEUE; i++) {
		e = victim_make(m, &keys[v[i].idx], used, now);
		if (bpf_map_update_elem(m->evict_queue, NULL, &e, BPF_ANY))
			break;
	}
	free(v);
	return 0;
}

/*
 * Of the live sessions @live[0..*@n), remove the LENT entries that no SHARED
 * session names any more (left by a borrower that lost a race), once they
 * are old enough that their borrower is not being made just now.
 */
static int gc_lent(const struct masq_maps *m,
		   const struct bpfmasq_session_key *keys,
		   const struct bpfmasq_session *vals, long *live, long *n,
		   uint64_t now, struct gc_result *res)
{
	struct key_set shared;
	long i, kept = 0;
	int err;

	err = shared_set(&shared, keys, vals, live, *n);
	if (err)
		return err;
	for (i = 0; i < *n; i++) {
		const struct bpfmasq_session *s = &vals[live[i]];

		if ((s->flags & BPFMASQ_SESS_LENT) &&
		    !lent_held(&shared, &keys[live[i]], s) &&
		    expired(s->last_ns, BPFMASQ_MAPPING_GRACE_S, now) &&
		    !session_expire(m, &keys[live[i]], s->last_ns)) {
			res->lent_freed++;
			continue;
		}
		live[kept++] = live[i];
	}
	*n = kept;
	free(shared.slots);
	return 0;
}

/*
 * Delete expired sessions, then make room if the table is nearly full;
 * record the inside endpoints still in use. LENT entries do not expire:
 * they go with the session they are lent to, which is deleted with them.
 */
static int gc_sessions(const struct masq_maps *m,
		       const struct bpfmasq_instance *inst, uint64_t now,
		       bool expire, struct ep_set *used,
		       struct ep_set *ext_used, struct gc_result *res)
{
	struct bpfmasq_ctl_batch *batch = NULL;
	struct bpfmasq_session_key *keys;
	struct bpfmasq_session *vals;
	long n, i, nlive = 0, evicted;
	long idx[BPFMASQ_CTL_BATCH];
	bool *gone = NULL;
	long *live = NULL;
	int err;

	n = map_dump(m->sessions, (void **)&keys, (void **)&vals);
	if (n < 0)
		return n;
	err = ep_set_init(used, n);
	if (!err)
		err = ep_set_init(ext_used, n);
	live = calloc(n + 1, sizeof(*live));
	gone = calloc(n + 1, sizeof(*gone));
	batch = calloc(1, sizeof(*batch));
	if (err || !live || !gone || !batch) {
		err = -ENOMEM;
		goto out;
	}
	for (i = 0; i < n && !err; i++) {
		const struct bpfmasq_session_key *k = &keys[i];

		if (!expire || (vals[i].flags & BPFMASQ_SESS_LENT) ||
		    !expired(vals[i].last_ns,
			     session_timeout(inst, k, &vals[i]), now)) {
			live[nlive++] = i;
			continue;
		}
		idx[batch->n] = i;
		batch->e[batch->n++] =
			(struct bpfmasq_ctl_expire){ .session = *k,
						     .stamp = vals[i].last_ns };
		if (batch->n == BPFMASQ_CTL_BATCH)
			err = expire_flush(m, batch, idx, live, &nlive, res);
	}
	if (!err)
		err = expire_flush(m, batch, idx, live, &nlive, res);
	if (!err && expire)
		err = gc_lent(m, keys, vals, live, &nlive, now, res);
	if (err)
		goto out;
	evicted = expire ? gc_pressure(m, inst, keys, vals, live, nlive, gone)
			 : 0;
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
		if (!(vals[live[i]].flags & BPFMASQ_SESS_LENT))
			ep_set_add(ext_used,
				   ep_pack(vals[live[i]].ext_addr,
					   vals[live[i]].ext_port, k->proto));
		/* A shared flow is on another's port, not its own mapping. */
		if (vals[live[i]].flags & BPFMASQ_SESS_SHARED)
			continue;
		ep_set_add(used,
			   ep_pack(k->inside_addr, k->inside_port, k->proto));
	}
	if (expire)
		err = gc_queue_victims(m, inst, keys, vals, live, nlive, gone,
				       used, now);
out:
	free(batch);
	free(live);
	free(gone);
	free(keys);
	free(vals);
	return err;
}

/*
 * A pass reads the mappings this long after it read its clock, at most: a
 * mapping's stamp that far ahead of the pass's clock was made during it.
 */
#define PASS_AHEAD_MS (10 * 60 * 1000u)

/*
 * Has @used_ms, a mapping's clock, been still for the grace period? The
 * clock wraps (every 49 days), so differences are taken modulo 2^32. A
 * mapping stamped after the pass began (its session may have been made
 * after the sessions were read) is ahead of @now, and never idle.
 */
static bool mapping_idle(__u32 used_ms, uint64_t now)
{
	__u32 now_ms = now / NS_PER_MS;

	if (used_ms - now_ms <= PASS_AHEAD_MS)
		return false;
	return now_ms - used_ms >= BPFMASQ_MAPPING_GRACE_S * 1000;
}

/*
 * Release the mappings no session uses, unless one has started on it since
 * they were read: their ports go to quarantine.
 */
static int gc_mappings(const struct masq_maps *m, uint64_t now,
		       const struct ep_set *used, struct gc_result *res)
{
	struct bpfmasq_endpoint *keys;
	struct bpfmasq_mapping *vals;
	long n, i;
	int err = 0;

	n = map_dump(m->mappings, (void **)&keys, (void **)&vals);
	if (n < 0)
		return n;
	for (i = 0; i < n && err >= 0; i++) {
		const struct bpfmasq_endpoint *k = &keys[i];

		/* A forward's goes with its port (gc_forwards). */
		if (vals[i].flags & BPFMASQ_MAP_FORWARD)
			continue;
		/* A release begun (DYING) is finished, whatever uses it. */
		if (vals[i].used_ms != BPFMASQ_MAPPING_DYING &&
		    (ep_set_has(used, ep_pack(k->addr, k->port, k->proto)) ||
		     !mapping_idle(vals[i].used_ms, now)))
			continue;
		err = ctl_ep(m, BPFMASQ_CTL_MAPPING_RELEASE, k, vals[i].used_ms,
			     now);
		if (!err)
			res->mappings_freed++;
		else if (err == -EBUSY || err == -ENOENT)
			err = 0;
	}
	free(keys);
	free(vals);
	return err < 0 ? err : 0;
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
 * The forwards as a pass began, sorted by (protocol, port): the CLI alone
 * changes them, under the instance lock that the pass holds too, but a
 * packet may still be opening a session through one that `forward del`
 * deleted just before. Only a forward gone before the pass read the
 * sessions has no session on the way that the pass did not see.
 */
struct fwd_entry {
	struct bpfmasq_forward_key key;
	struct bpfmasq_forward val;
};

struct fwd_snap {
	struct fwd_entry *e;
	long n;
};

static uint32_t fwd_pack(__be16 port, __u8 proto)
{
	return (uint32_t)proto << 16 | ntohs(port);
}

/* Orders entries (and a bare key, their first field) by protocol, port. */
static int fwd_key_cmp(const void *a, const void *b)
{
	const struct bpfmasq_forward_key *x = a, *y = b;
	uint32_t px = fwd_pack(x->port, x->proto),
		 py = fwd_pack(y->port, y->proto);

	return px < py ? -1 : px > py;
}

static int fwd_snap_read(const struct masq_maps *m, struct fwd_snap *fs)
{
	struct bpfmasq_forward_key *keys;
	struct bpfmasq_forward *vals;
	long n, i;

	n = map_dump(m->forwards, (void **)&keys, (void **)&vals);
	if (n < 0)
		return n;
	fs->e = calloc(n ? n : 1, sizeof(*fs->e));
	for (i = 0; fs->e && i < n; i++)
		fs->e[i] = (struct fwd_entry){ keys[i], vals[i] };
	free(keys);
	free(vals);
	if (!fs->e)
		return -ENOMEM;
	fs->n = n;
	qsort(fs->e, n, sizeof(*fs->e), fwd_key_cmp);
	return 0;
}

static void fwd_snap_free(struct fwd_snap *fs)
{
	free(fs->e);
}

/* The forward of @ext in @fs, or NULL. */
static const struct bpfmasq_forward *
fwd_find(const struct fwd_snap *fs, const struct bpfmasq_endpoint *ext)
{
	struct bpfmasq_forward_key k = { .port = ext->port,
					 .proto = ext->proto };
	const struct fwd_entry *at;

	at = fs->n ? bsearch(&k, fs->e, fs->n, sizeof(*fs->e), fwd_key_cmp)
		   : NULL;
	return at ? &at->val : NULL;
}

/* Bit 0 of the forward control steps' stamp: @ext is in a pool's range. */
static uint64_t fwd_stamp(const struct bpfmasq_instance *inst,
			  const struct bpfmasq_endpoint *ext, uint64_t stamp)
{
	return stamp << 1 | ports_contain(inst, ntohs(ext->port));
}

/*
 * Forward port @ext (owner @o, naming its inside endpoint): give its
 * inside endpoint the mapping if the forward still names it and it has
 * none; else let the port go once nothing is on it.
 */
static int
fwd_owner(const struct masq_maps *m, const struct bpfmasq_instance *inst,
	  const struct fwd_snap *fs, const struct bpfmasq_endpoint *ext,
	  const struct bpfmasq_owner *o, const struct ep_set *used,
	  const struct ep_set *ext_used, uint64_t now, struct gc_result *res)
{
	const struct bpfmasq_forward *f = fwd_find(fs, ext);
	struct bpfmasq_endpoint in = { .addr = o->addr,
				       .port = o->port,
				       .proto = o->proto };
	struct bpfmasq_mapping map;
	bool has_map = !bpf_map_lookup_elem(m->mappings, &in, &map);
	uint64_t stamp = 0;
	int err;

	if (f && f->inside_addr == in.addr && f->inside_port == in.port) {
		if (has_map)
			return 0;
		err = ctl_ep(m, BPFMASQ_CTL_FORWARD_TAKE, ext,
			     fwd_stamp(inst, ext, 0), now);
		res->forwards_taken += !err;
		return err;
	}
	if (ep_set_has(ext_used, ep_pack(ext->addr, ext->port, ext->proto)))
		return 0; /* its connections go on until they end */
	if (has_map && map.ext_addr == ext->addr && map.ext_port == ext->port) {
		if (ep_set_has(used, ep_pack(in.addr, in.port, in.proto)) ||
		    !mapping_idle(map.used_ms, now))
			return 0;
		stamp = map.used_ms;
	}
	err = ctl_ep(m, BPFMASQ_CTL_FORWARD_DROP, ext,
		     fwd_stamp(inst, ext, stamp), now);
	res->forwards_dropped += !err;
	return err;
}

/* Take the port of forward @k (of @fs) if it is free or may be had. */
static int fwd_take(const struct masq_maps *m,
		    const struct bpfmasq_instance *inst, __be32 addr,
		    const struct bpfmasq_forward_key *k, uint64_t now,
		    struct gc_result *res)
{
	struct bpfmasq_endpoint ext = { .addr = addr,
					.port = k->port,
					.proto = k->proto };
	struct bpfmasq_owner o;
	uint64_t stamp = 0;
	int err;

	if (!bpf_map_lookup_elem(m->port_owners, &ext, &o)) {
		if (o.state == BPFMASQ_PORT_QUARANTINED &&
		    quarantine_over(inst, &o, now))
			stamp = o.released_s;
		else if (o.state != BPFMASQ_PORT_RETURNED)
			return 0; /* held: it waits (forward list says why) */
	}
	err = ctl_ep(m, BPFMASQ_CTL_FORWARD_TAKE, &ext,
		     fwd_stamp(inst, &ext, stamp), now);
	res->forwards_taken += !err;
	return err;
}

/* The forward ports: see gc_forwards_now() in gc.h. */
static int gc_forwards(const struct masq_maps *m,
		       const struct bpfmasq_instance *inst,
		       const struct bpfmasq_config *cfg,
		       const struct fwd_snap *fs, const struct ep_set *used,
		       const struct ep_set *ext_used, uint64_t now,
		       struct gc_result *res)
{
	struct bpfmasq_endpoint *ext;
	struct bpfmasq_owner *own;
	long n, i;
	int err = 0;

	if (!cfg->ext_addr)
		return 0;
	n = map_dump(m->port_owners, (void **)&ext, (void **)&own);
	if (n < 0)
		return n;
	for (i = 0; i < n && err >= 0; i++) {
		if (own[i].state != BPFMASQ_PORT_FORWARD &&
		    own[i].state != BPFMASQ_PORT_FORWARD_QUEUED)
			continue;
		err = fwd_owner(m, inst, fs, &ext[i], &own[i], used, ext_used,
				now, res);
		if (err == -EBUSY || err == -ENOENT)
			err = 0;
	}
	for (i = 0; i < fs->n && err >= 0; i++) {
		err = fwd_take(m, inst, cfg->ext_addr, &fs->e[i].key, now, res);
		if (err == -EBUSY || err == -ENOENT)
			err = 0;
	}
	free(ext);
	free(own);
	return err < 0 ? err : 0;
}

/*
 * How long an owner without its mapping must stay so before it is taken
 * for a leftover: the data path claims the owner an instant before it
 * inserts the mapping.
 */
#define ORPHAN_SETTLE_US 20000

/* Does owned port @ext's owner @o lack the mapping that names @ext? */
static bool owner_orphaned(const struct masq_maps *m,
			   const struct bpfmasq_endpoint *ext,
			   const struct bpfmasq_owner *o)
{
	struct bpfmasq_endpoint inside = { .addr = o->addr,
					   .port = o->port,
					   .proto = o->proto };
	struct bpfmasq_mapping map;

	return bpf_map_lookup_elem(m->mappings, &inside, &map) ||
	       map.ext_addr != ext->addr || map.ext_port != ext->port;
}

/*
 * Reserved ports (@ext[0..@n)) whose socket of the gateway's own has gone
 * go back to their pools: the sockets are looked up once a pass, and only
 * when some port is reserved.
 */
static int gc_reserved(const struct masq_maps *m,
		       const struct bpfmasq_endpoint *ext, long n,
		       struct gc_result *res)
{
	uint8_t *own[2] = { NULL, NULL };
	const __u8 protos[2] = { BPFMASQ_PROTO_TCP, BPFMASQ_PROTO_UDP };
	long i;
	int err = 0, p;

	for (p = 0; p < 2 && !err; p++) {
		own[p] = calloc(65536, 1);
		err = own[p] ? netif_own_ports(protos[p], own[p]) : -ENOMEM;
	}
	for (i = 0; i < n && err >= 0; i++) {
		p = ext[i].proto == BPFMASQ_PROTO_TCP ? 0 : 1;
		if (ext[i].proto != protos[p] || own[p][ntohs(ext[i].port)])
			continue;
		err = ctl_ep(m, BPFMASQ_CTL_PORT_UNRESERVE, &ext[i], 0, 0);
		if (!err)
			res->ports_unreserved++;
		else if (err == -EBUSY || err == -ENOENT)
			err = 0;
	}
	free(own[0]);
	free(own[1]);
	return err < 0 ? err : 0;
}

/*
 * Ports whose quarantine is over go back to their pools. Owned ports whose
 * mapping is gone (left by hand, or by an older version), still so a
 * moment later, go to quarantine.
 */
static int gc_owners(const struct masq_maps *m,
		     const struct bpfmasq_instance *inst,
		     const struct fwd_snap *fs, uint64_t now,
		     struct gc_result *res)
{
	struct bpfmasq_endpoint *ext, *reserved = NULL;
	struct bpfmasq_owner *own;
	long n, i, suspects = 0, nres = 0;
	int err = 0;

	n = map_dump(m->port_owners, (void **)&ext, (void **)&own);
	if (n < 0)
		return n;
	for (i = 0; i < n && err >= 0; i++) {
		if (own[i].state == BPFMASQ_PORT_OWNED) {
			if (owner_orphaned(m, &ext[i], &own[i]))
				ext[suspects++] = ext[i];
			continue;
		}
		if (own[i].state == BPFMASQ_PORT_RESERVED) {
			if (!reserved)
				reserved = calloc(n, sizeof(*reserved));
			if (!reserved)
				err = -ENOMEM;
			else
				reserved[nres++] = ext[i];
			continue;
		}
		/* A forward's to be is taken by gc_forwards, not freed. */
		if (own[i].state != BPFMASQ_PORT_QUARANTINED ||
		    !quarantine_over(inst, &own[i], now) ||
		    fwd_find(fs, &ext[i]))
			continue;
		err = ctl_ep(m, BPFMASQ_CTL_PORT_FREE, &ext[i],
			     own[i].released_s, now);
		if (!err)
			res->ports_returned++;
		else if (err == -EBUSY || err == -ENOENT)
			err = 0;
	}
	if (nres && err >= 0)
		err = gc_reserved(m, reserved, nres, res);
	free(reserved);
	if (suspects && err >= 0)
		usleep(ORPHAN_SETTLE_US);
	for (i = 0; i < suspects && err >= 0; i++) {
		err = ctl_ep(m, BPFMASQ_CTL_OWNER_REPAIR, &ext[i], 0, now);
		if (!err)
			res->owners_repaired++;
		else if (err == -EBUSY || err == -ENOENT)
			err = 0;
	}
	free(ext);
	free(own);
	return err < 0 ? err : 0;
}

static void ep_set_free(struct ep_set *s)
{
	free(s->slots);
	free(s->counts);
}

/* Did pass @res free anything a flow that found no port may use? */
static bool gc_freed(const struct gc_result *res)
{
	return res->sessions_expired || res->sessions_evicted ||
	       res->ports_returned || res->lent_freed ||
	       res->ports_unreserved || res->forwards_dropped;
}

/*
 * A pass (@full), or its forwards' part alone: the forwards read first,
 * then the sessions (expired and pressed only in a full pass).
 */
static int gc_run(const struct masq_maps *m, uint64_t now, bool full,
		  struct gc_result *res)
{
	struct ep_set used = {}, ext_used = {};
	struct bpfmasq_instance inst;
	struct bpfmasq_config cfg;
	struct fwd_snap fs = {};
	int err;

	memset(res, 0, sizeof(*res));
	err = instance_read(m, &inst);
	if (!err)
		err = config_read(m, &cfg);
	if (err)
		return err;
	if (cfg.flags & BPFMASQ_CFG_FLUSHING) {
		if (!full)
			return 0; /* the flush's end installs the forwards */
		/* A flush was killed half-way: it is finished first. */
		res->flush_finished = true;
		return state_flush(m);
	}
	err = fwd_snap_read(m, &fs);
	if (!err)
		err = gc_sessions(m, &inst, now, full, &used, &ext_used, res);
	if (!err && full)
		err = gc_mappings(m, now, &used, res);
	if (!err && full)
		err = gc_frags(m, now, res);
	if (!err)
		err = gc_forwards(m, &inst, &cfg, &fs, &used, &ext_used, now,
				  res);
	if (!err && full)
		err = gc_owners(m, &inst, &fs, now, res);
	if (!err && full) {
		long n = hosts_collect(m, now);

		err = n < 0 ? n : 0;
	}
	if (!err && full) {
		long n = addrs_collect(m, now);

		err = n < 0 ? n : 0;
		res->addrs_forgotten = n > 0 ? n : 0;
	}
	if (!err && gc_freed(res))
		err = misses_forget(m);
	ep_set_free(&used);
	ep_set_free(&ext_used);
	fwd_snap_free(&fs);
	return err;
}

int gc_pass(const struct masq_maps *m, uint64_t now, struct gc_result *res)
{
	return gc_run(m, now, true, res);
}

int gc_forwards_now(const struct masq_maps *m, uint64_t now,
		    struct gc_result *res)
{
	return gc_run(m, now, false, res);
}
