/* SPDX-License-Identifier: GPL-2.0 */
/*
 * ports.h - endpoint-independent mappings (RFC 4787 REQ-1) and the external
 * ports behind them. Each port of a pool is exactly one of: free (in its
 * pool's queue, no port_owners entry), owned by one mapping, or quarantined
 * after its release (RFC 6888 REQ-8). A port is claimed with a BPF_NOEXIST
 * insert into port_owners, the atomic step that makes allocation on
 * several CPUs safe. A mapping's used_ms changes by compare-and-swap only:
 * a session starts on a mapping after swapping its time in, the collector
 * releases one after swapping the time it saw for DYING (ctl.bpf.c), so
 * one of the two always loses.
 */
#ifndef BPFMASQ_PORTS_H
#define BPFMASQ_PORTS_H

#include <stdbool.h>

#include "addrs.h"
#include "conntrack.h"
#include "hosts.h"
#include "maps.h"
#include "verdict.h"

#ifndef EBUSY
#define EBUSY 16
#endif
#ifndef ENOENT
#define ENOENT 2
#endif

#define NS_PER_MS 1000000ull
#define NS_PER_S 1000000000ull

/* A mapping's clock: boot-time ms, modulo 2^32, never DYING. */
static __always_inline __u32 mapping_clock(__u64 now)
{
	__u32 ms = now / NS_PER_MS;

	return ms == BPFMASQ_MAPPING_DYING ? ms - 1 : ms;
}

/*
 * What port_owners says of @ext: its state (FREE when it has no entry),
 * and in @inside the inside endpoint it names (when its state names one:
 * bpfmasq_port_names()).
 */
static __always_inline __u8 port_state(const struct bpfmasq_endpoint *ext,
				       struct bpfmasq_endpoint *inside)
{
	const struct bpfmasq_owner *o = bpf_map_lookup_elem(&port_owners, ext);

	/*
	 * Written whatever the state: the verifier cannot always follow
	 * that a caller reads it only when the state names someone.
	 */
	if (!o) {
		endpoint_make(inside, 0, 0, 0);
		return BPFMASQ_PORT_FREE;
	}
	endpoint_make(inside, o->addr, o->port, o->proto);
	return o->state;
}

/*
 * The inside endpoint that replies to @ext go to, into @inside: its
 * mapping's or its forward's; false if none.
 */
static __always_inline bool port_owner(const struct bpfmasq_endpoint *ext,
				       struct bpfmasq_endpoint *inside)
{
	return bpfmasq_port_names(port_state(ext, inside));
}

/* An owner entry as the one 64-bit word that compare-and-swap takes. */
static __always_inline __u64 owner_word(__be32 addr, __be16 port, __u8 proto,
					__u8 state)
{
	struct bpfmasq_owner o = {
		.addr = addr, .port = port, .proto = proto, .state = state
	};
	__u64 w;

	__builtin_memcpy(&w, &o, sizeof(w));
	return w;
}

/* Change owner entry @o from @from to @to: true if it was @from. */
static __always_inline bool owner_swap(struct bpfmasq_owner *o, __u64 from,
				       __u64 to)
{
	return __sync_val_compare_and_swap((__u64 *)o, from, to) == from;
}

/*
 * Claim an external port for @inside: atomic across CPUs. 0 when claimed,
 * -EEXIST when it is owned or quarantined, another error when the table
 * is full.
 */
static __always_inline long port_claim(const struct bpfmasq_endpoint *ext,
				       const struct bpfmasq_endpoint *inside)
{
	struct bpfmasq_owner o = { .addr = inside->addr,
				   .port = inside->port,
				   .proto = inside->proto,
				   .state = BPFMASQ_PORT_OWNED };

	return bpf_map_update_elem(&port_owners, ext, &o, BPF_NOEXIST);
}

/* The free-port queue of @ext's (address, protocol), or NULL. */
static __always_inline void *pool_of(const struct bpfmasq_endpoint *ext)
{
	struct bpfmasq_pool_key pk = { .addr = ext->addr, .proto = ext->proto };

	return bpf_map_lookup_elem(&port_pools, &pk);
}

/*
 * A popped port @ext that has an owner entry all the same: a forward's
 * that was taken while queued (FORWARD_QUEUED: the queue holds it no
 * more, so it is FORWARD now), or a forward's given back since (RETURNED:
 * free, claimed here for @inside). 0 when claimed; else it is not ours,
 * and dropped from the queue.
 */
static __always_inline long
port_claim_queued(const struct bpfmasq_endpoint *ext,
		  const struct bpfmasq_endpoint *inside)
{
	struct bpfmasq_owner *o = bpf_map_lookup_elem(&port_owners, ext);
	__u64 w;

	if (!o)
		return -EEXIST;
	__builtin_memcpy(&w, o, sizeof(w));
	if (o->state == BPFMASQ_PORT_FORWARD_QUEUED)
		owner_swap(o, w,
			   owner_word(o->addr, o->port, o->proto,
				      BPFMASQ_PORT_FORWARD));
	else if (o->state == BPFMASQ_PORT_RETURNED &&
		 owner_swap(o, w,
			    owner_word(inside->addr, inside->port,
				       inside->proto, BPFMASQ_PORT_OWNED)))
		return 0;
	return -EEXIST;
}

/*
 * Take a free port from the pool into @ext and claim it for @inside. An
 * empty pool costs one pop. A popped port that has an owner entry is a
 * forward's (port_claim_queued), or a stray second copy (a queue holds
 * free ports only): it is dropped, and one more is tried.
 */
static __always_inline long port_take(struct bpfmasq_endpoint *ext,
				      const struct bpfmasq_endpoint *inside)
{
	void *pool = pool_of(ext);
	__be16 port;
	long err;
	int i;

	if (!pool)
		return -ENOSPC;
	for (i = 0; i < BPFMASQ_POOL_TRIES; i++) {
		if (bpf_map_pop_elem(pool, &port))
			return -ENOSPC;
		ext->port = port;
		err = port_claim(ext, inside);
		if (err == -EEXIST)
			err = port_claim_queued(ext, inside);
		if (err != -EEXIST) {
			if (err) /* table full: the port stays free */
				bpf_map_push_elem(pool, &port, 0);
			return err;
		}
	}
	return -ENOSPC;
}

/*
 * Make @ext free again: its owner entry goes, the port back to its pool
 * (none when the address has changed: that pool is gone). For a port that
 * never carried a packet, and for a quarantine that is over.
 */
static __always_inline void port_return(const struct bpfmasq_endpoint *ext)
{
	__be16 port = ext->port;
	void *pool;

	if (bpf_map_delete_elem(&port_owners, ext))
		return;
	pool = pool_of(ext);
	if (pool)
		bpf_map_push_elem(pool, &port, 0);
}

/* Quarantine @ext's port, owned until now: it names no one from now on. */
static __always_inline void port_quarantine(const struct bpfmasq_endpoint *ext,
					    __u64 now)
{
	struct bpfmasq_owner q = { .released_s = now / NS_PER_S,
				   .state = BPFMASQ_PORT_QUARANTINED };

	bpf_map_update_elem(&port_owners, ext, &q, BPF_EXIST);
}

/*
 * The mapping of @inside in *@m, created on first use (then *@created is
 * set) on the address the host is paired with (addrs.h), which *@addr
 * says (0: none was needed). NAT_CONTINUE, or the reason it could not be
 * made.
 */
static __always_inline __u32 mapping_get(const struct bpfmasq_config *cfg,
					 const struct bpfmasq_endpoint *inside,
					 __u64 now, bool *created,
					 struct bpfmasq_mapping **m,
					 __be32 *addr)
{
	struct bpfmasq_endpoint ext = { .proto = inside->proto };
	struct bpfmasq_mapping val = { .used_ms = mapping_clock(now) };
	__u32 reason;
	long err;

	*m = bpf_map_lookup_elem(&mappings, inside);
	if (*m)
		return NAT_CONTINUE;

	ext.addr = ext_addr_of(cfg, inside->addr);
	*addr = ext.addr;
	if (!ext.addr)
		return BPFMASQ_STAT_NO_ADDRESS;
	err = port_take(&ext, inside);
	if (err)
		return err == -ENOSPC ? BPFMASQ_STAT_PORT_POOL_EMPTY
				      : BPFMASQ_STAT_TABLE_FULL;
	/*
	 * The host's count after the pop: a flow that finds the pool empty
	 * costs that one pop, nothing more; one at its limit gives it back.
	 */
	reason = host_port_take(inside->addr, ext.addr, now);
	if (reason != NAT_CONTINUE) {
		port_return(&ext);
		return reason;
	}
	val.ext_addr = ext.addr;
	val.ext_port = ext.port;

	err = bpf_map_update_elem(&mappings, inside, &val, BPF_NOEXIST);
	if (err) {
		/* Lost a race for the same inside endpoint, or table full. */
		port_return(&ext);
		host_port_put(inside->addr);
		if (err != -EEXIST)
			return BPFMASQ_STAT_TABLE_FULL;
	} else {
		stat_inc(BPFMASQ_STAT_NEW_MAPPING);
		*created = true;
	}
	*m = bpf_map_lookup_elem(&mappings, inside);
	return *m ? NAT_CONTINUE : BPFMASQ_STAT_TABLE_FULL;
}

/*
 * Before a session starts on mapping @m of @inside: swap the time in,
 * unless the collector has claimed the mapping. Then it must still be
 * @inside's: a preallocated hash map hands a deleted element out again at
 * once. NAT_CONTINUE, or MAPPING_RELEASED.
 */
static __always_inline __u32 mapping_use(const struct bpfmasq_endpoint *inside,
					 struct bpfmasq_mapping *m, __u64 now)
{
	__be32 addr = m->ext_addr;
	__be16 port = m->ext_port;
	__u32 seen = *(volatile __u32 *)&m->used_ms;

	if (seen == BPFMASQ_MAPPING_DYING ||
	    __sync_val_compare_and_swap(&m->used_ms, seen,
					mapping_clock(now)) ==
		    BPFMASQ_MAPPING_DYING)
		return BPFMASQ_STAT_MAPPING_RELEASED;
	if (bpf_map_lookup_elem(&mappings, inside) != m ||
	    m->ext_addr != addr || m->ext_port != port)
		return BPFMASQ_STAT_MAPPING_RELEASED;
	return NAT_CONTINUE;
}

/*
 * Release mapping @m of @inside if its used_ms is still @stamp (DYING too:
 * a release to finish). Its port goes to quarantine, or straight back to
 * the pool when it never carried a packet (@unused). 0, or -EBUSY when a
 * session started on it meanwhile.
 */
static __always_inline long
mapping_release(const struct bpfmasq_endpoint *inside,
		struct bpfmasq_mapping *m, __u32 stamp, bool unused, __u64 now)
{
	struct bpfmasq_endpoint ext, owner;
	__u32 old;

	/* A forward's goes with its forward only (ctl.bpf.c). */
	if (m->flags & BPFMASQ_MAP_FORWARD)
		return -EBUSY;
	old = __sync_val_compare_and_swap(&m->used_ms, stamp,
					  BPFMASQ_MAPPING_DYING);
	if (old != stamp)
		return -EBUSY;
	endpoint_make(&ext, m->ext_addr, m->ext_port, inside->proto);
	if (port_state(&ext, &owner) == BPFMASQ_PORT_OWNED &&
	    owner.addr == inside->addr && owner.port == inside->port) {
		if (unused)
			port_return(&ext);
		else
			port_quarantine(&ext, now);
	}
	bpf_map_delete_elem(&mappings, inside);
	host_port_put(inside->addr);
	return 0;
}

/*
 * The key of @owner's session with the remote of @key: where the LENT
 * entry of a port @owner lends for that remote lives (share.h).
 */
static __always_inline void lent_key(struct bpfmasq_session_key *lk,
				     const struct bpfmasq_endpoint *owner,
				     const struct bpfmasq_session_key *key)
{
	*lk = *key;
	lk->inside_addr = owner->addr;
	lk->inside_port = owner->port;
}

/* Delete LENT entry @lk if it is lent to @inside. */
static __always_inline void lent_return(const struct bpfmasq_session_key *lk,
					const struct bpfmasq_endpoint *inside)
{
	struct bpfmasq_session *l = bpf_map_lookup_elem(&sessions, lk);

	if (l && (l->flags & BPFMASQ_SESS_LENT) &&
	    l->u.lent_to.addr == inside->addr &&
	    l->u.lent_to.port == inside->port)
		bpf_map_delete_elem(&sessions, lk);
}

/*
 * The SHARED session @key, on port @ext_port of @ext_addr, has gone: the
 * LENT entry its port's owner holds for it goes too.
 */
static __always_inline void share_end(const struct bpfmasq_session_key *key,
				      __be32 ext_addr, __be16 ext_port)
{
	struct bpfmasq_endpoint ext, owner, inside;
	struct bpfmasq_session_key lk;

	endpoint_make(&ext, ext_addr, ext_port, key->proto);
	if (!port_owner(&ext, &owner))
		return;
	endpoint_make(&inside, key->inside_addr, key->inside_port, key->proto);
	lent_key(&lk, &owner, key);
	lent_return(&lk, &inside);
}

/*
 * The session a packet from the remote of @key to external @ext_port of
 * @ext_addr belongs to, @key naming the port's owner: the owner's own, or
 * the SHARED session that a LENT entry there names (@key is then changed
 * to its key). It must be on that port. NULL when there is none; *@held is
 * set when the owner's key with that remote is taken all the same: by a
 * LENT entry, or by a flow of the owner's on another port (a shared one,
 * made before it had a mapping). No session may be opened there then.
 */
static __always_inline struct bpfmasq_session *
session_of_reply(struct bpfmasq_session_key *key, __be32 ext_addr,
		 __be16 ext_port, bool *held)
{
	struct bpfmasq_session *s = bpf_map_lookup_elem(&sessions, key);

	if (!s)
		return NULL;
	if (s->flags & BPFMASQ_SESS_LENT) {
		key->inside_addr = s->u.lent_to.addr;
		key->inside_port = s->u.lent_to.port;
		s = bpf_map_lookup_elem(&sessions, key);
		if (s && !(s->flags & BPFMASQ_SESS_SHARED))
			s = NULL;
	}
	if (!s || s->ext_addr != ext_addr || s->ext_port != ext_port) {
		*held = true;
		return NULL;
	}
	return s;
}

/* One session fewer opened from outside on its mapping. */
static __always_inline void inbound_done(const struct bpfmasq_session_key *k,
					 __be32 ext_addr, __be16 ext_port)
{
	struct bpfmasq_endpoint inside;
	struct bpfmasq_mapping *m;

	endpoint_make(&inside, k->inside_addr, k->inside_port, k->proto);
	m = bpf_map_lookup_elem(&mappings, &inside);
	if (m && m->ext_addr == ext_addr && m->ext_port == ext_port &&
	    __sync_fetch_and_add(&m->inbound, -1) == 0)
		__sync_fetch_and_add(&m->inbound, 1);
}

/*
 * Delete session @k (@s) with what hangs on it: the inbound count of its
 * mapping, the LENT entry of its shared port. 0, or -ENOENT when it had
 * gone already.
 */
static __always_inline long session_remove(const struct bpfmasq_session_key *k,
					   const struct bpfmasq_session *s)
{
	__be32 ext_addr = s->ext_addr;
	__be16 ext_port = s->ext_port;
	__u8 flags = s->flags;

	if (bpf_map_delete_elem(&sessions, k))
		return -ENOENT;
	/* The host's own flow (session_create_out() counted it). */
	if (bpfmasq_host_counts(flags))
		host_session_put(k->inside_addr);
	if ((flags & (BPFMASQ_SESS_INBOUND | BPFMASQ_SESS_FORWARDED)) ==
	    BPFMASQ_SESS_INBOUND)
		inbound_done(k, ext_addr, ext_port);
	if (flags & BPFMASQ_SESS_SHARED)
		share_end(k, ext_addr, ext_port);
	return 0;
}

#endif /* BPFMASQ_PORTS_H */
