/* SPDX-License-Identifier: GPL-2.0 */
/*
 * ports.h - endpoint-independent mappings (RFC 4787 REQ-1) and the external
 * ports behind them: a port is claimed in port_owners with BPF_NOEXIST,
 * the atomic step that makes allocation on several CPUs safe; the inside
 * port is kept when it is in range and free, else one comes from the
 * per-(address, protocol) free-port queue.
 */
#ifndef BPFMASQ_PORTS_H
#define BPFMASQ_PORTS_H

#include <stdbool.h>

#include "conntrack.h"
#include "maps.h"
#include "verdict.h"

/*
 * Claim an external port for @inside: atomic across CPUs. 0 when claimed,
 * -EEXIST when someone holds it, another error when the table is full.
 */
static __always_inline long port_claim(const struct bpfmasq_endpoint *ext,
				       const struct bpfmasq_endpoint *inside)
{
	return bpf_map_update_elem(&port_owners, ext, inside, BPF_NOEXIST);
}

/* Keep the inside port when it is in range and nobody holds it. */
static __always_inline long port_preserve(const struct bpfmasq_config *cfg,
					  struct bpfmasq_endpoint *ext,
					  const struct bpfmasq_endpoint *inside)
{
	__u16 port = bpf_ntohs(inside->port);

	if (port < cfg->port_min || port > cfg->port_max)
		return -EEXIST;
	ext->port = inside->port;
	return port_claim(ext, inside);
}

/* The free-port queue of @ext's (address, protocol), or NULL. */
static __always_inline void *pool_of(const struct bpfmasq_endpoint *ext)
{
	struct bpfmasq_pool_key pk = { .addr = ext->addr, .proto = ext->proto };

	return bpf_map_lookup_elem(&port_pools, &pk);
}

/*
 * Take a port from the pool. A popped port may be held by a mapping that
 * preserved it: preserved ports never leave the pool (they are not pushed
 * again on release), so it goes back to the tail. Bounded: an unlucky run
 * fails one new flow, never an existing one.
 */
static __always_inline long
port_from_pool(struct bpfmasq_endpoint *ext,
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
		if (!err)
			return 0;
		bpf_map_push_elem(pool, &port, 0);
		if (err != -EEXIST)
			return err; /* table full: the port stays free */
	}
	return -ENOSPC;
}

static __always_inline void port_release(const struct bpfmasq_endpoint *ext,
					 __u8 flags)
{
	__be16 port = ext->port;
	void *pool;

	bpf_map_delete_elem(&port_owners, ext);
	if (!(flags & BPFMASQ_MAP_FROM_POOL))
		return;
	pool = pool_of(ext);
	if (pool)
		bpf_map_push_elem(pool, &port, 0);
}

/* An external port for @inside, in @ext; the mapping flags in @flags. */
static __always_inline long port_alloc(const struct bpfmasq_config *cfg,
				       struct bpfmasq_endpoint *ext,
				       const struct bpfmasq_endpoint *inside,
				       __u8 *flags)
{
	long err = port_preserve(cfg, ext, inside);

	if (err != -EEXIST)
		return err;
	*flags = BPFMASQ_MAP_FROM_POOL;
	return port_from_pool(ext, inside);
}

/*
 * The mapping of @inside in *@m, created on first use (then *@created is
 * set). NAT_CONTINUE, or the reason it could not be made.
 */
static __always_inline __u32 mapping_get(const struct bpfmasq_config *cfg,
					 const struct bpfmasq_endpoint *inside,
					 __u64 now, bool *created,
					 struct bpfmasq_mapping **m)
{
	struct bpfmasq_endpoint ext = { .addr = cfg->ext_addr,
					.proto = inside->proto };
	struct bpfmasq_mapping val = { .ext_addr = cfg->ext_addr,
				       .last_ns = now };
	long err;

	*m = bpf_map_lookup_elem(&mappings, inside);
	if (*m)
		return NAT_CONTINUE;

	err = port_alloc(cfg, &ext, inside, &val.flags);
	if (err)
		return err == -ENOSPC ? BPFMASQ_STAT_PORT_POOL_EMPTY
				      : BPFMASQ_STAT_TABLE_FULL;
	val.ext_port = ext.port;

	err = bpf_map_update_elem(&mappings, inside, &val, BPF_NOEXIST);
	if (err) {
		/* Lost a race for the same inside endpoint, or table full. */
		port_release(&ext, val.flags);
		if (err != -EEXIST)
			return BPFMASQ_STAT_TABLE_FULL;
	} else {
		stat_inc(BPFMASQ_STAT_NEW_MAPPING);
		*created = true;
	}
	*m = bpf_map_lookup_elem(&mappings, inside);
	return *m ? NAT_CONTINUE : BPFMASQ_STAT_TABLE_FULL;
}

/* Undo a mapping made for a flow that could not get a session. */
static __always_inline void mapping_drop(const struct bpfmasq_endpoint *inside,
					 const struct bpfmasq_mapping *m)
{
	struct bpfmasq_endpoint ext = { .addr = m->ext_addr,
					.port = m->ext_port,
					.proto = inside->proto };
	__u8 flags = m->flags;

	if (bpf_map_delete_elem(&mappings, inside) == 0)
		port_release(&ext, flags);
}

/*
 * Is the session's mapping still there? The garbage collector releases a
 * mapping no session uses; one may have been released between our finding
 * it and storing the session. (It re-checks last_ns, which we set, just
 * before it deletes, so the window left after this check is a few
 * instructions of its own.)
 */
static __always_inline bool mapping_holds(const struct bpfmasq_endpoint *inside,
					  const struct bpfmasq_session *s)
{
	struct bpfmasq_mapping *m = bpf_map_lookup_elem(&mappings, inside);

	return m && m->ext_addr == s->ext_addr && m->ext_port == s->ext_port;
}

#endif /* BPFMASQ_PORTS_H */
