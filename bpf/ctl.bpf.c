// SPDX-License-Identifier: GPL-2.0
/*
 * ctl.bpf.c - the collector's atomic steps. The daemon runs this program
 * (BPF_PROG_TEST_RUN, one struct bpfmasq_ctl_args each time) instead of
 * deleting from userspace: the re-check of what it read and the change
 * happen in one run, which no preemption or kill can split, under the same
 * compare-and-swap rules as the data path (ports.h).
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "conntrack.h"
#include "maps.h"
#include "ports.h"

#ifndef EINVAL
#define EINVAL 22
#endif

/*
 * Does the SHARED session that LENT entry @l (key @k) names still hold it?
 * A LENT entry goes with its session; one left alone (its borrower lost a
 * race, or the table was full) is removed by the collector.
 */
static __always_inline bool lent_in_use(const struct bpfmasq_session_key *k,
					const struct bpfmasq_session *l)
{
	struct bpfmasq_session_key bk = *k;
	bool held = false;

	return session_of_reply(&bk, l->ext_addr, l->ext_port, &held) != NULL;
}

static __always_inline long session_expire(struct bpfmasq_ctl_args *a)
{
	struct bpfmasq_session_key k = a->session;
	struct bpfmasq_session *s = bpf_map_lookup_elem(&sessions, &k);

	if (!s)
		return -ENOENT;
	if (s->last_ns != a->stamp)
		return -EBUSY; /* a packet refreshed it */
	if ((s->flags & BPFMASQ_SESS_LENT) && lent_in_use(&k, s))
		return -EBUSY;
	return session_remove(&k, s);
}

static __always_inline long release(struct bpfmasq_ctl_args *a)
{
	struct bpfmasq_endpoint inside = a->ep;
	struct bpfmasq_mapping *m = bpf_map_lookup_elem(&mappings, &inside);

	if (!m)
		return -ENOENT;
	return mapping_release(&inside, m, (__u32)a->stamp, false, a->now_ns);
}

static __always_inline long port_free(struct bpfmasq_ctl_args *a)
{
	struct bpfmasq_endpoint ext = a->ep;
	struct bpfmasq_owner *o = bpf_map_lookup_elem(&port_owners, &ext);

	if (!o)
		return -ENOENT;
	if (o->state != BPFMASQ_PORT_QUARANTINED || o->released_s != a->stamp)
		return -EBUSY;
	port_return(&ext);
	return 0;
}

static __always_inline long port_unreserve(struct bpfmasq_ctl_args *a)
{
	struct bpfmasq_endpoint ext = a->ep;
	struct bpfmasq_owner *o = bpf_map_lookup_elem(&port_owners, &ext);

	if (!o)
		return -ENOENT;
	if (o->state != BPFMASQ_PORT_RESERVED)
		return -EBUSY;
	port_return(&ext);
	return 0;
}

/* An owner whose inside endpoint has no mapping naming its port. */
static __always_inline long owner_repair(struct bpfmasq_ctl_args *a)
{
	struct bpfmasq_endpoint ext = a->ep, inside;
	struct bpfmasq_mapping *m;

	if (port_state(&ext, &inside) != BPFMASQ_PORT_OWNED)
		return -ENOENT;
	m = bpf_map_lookup_elem(&mappings, &inside);
	if (m && m->ext_addr == ext.addr && m->ext_port == ext.port)
		return -EBUSY;
	port_quarantine(&ext, a->now_ns);
	return 0;
}

/* The forward of external port @ext, and in @inside its inside endpoint. */
static __always_inline const struct bpfmasq_forward *
forward_of(const struct bpfmasq_endpoint *ext, struct bpfmasq_endpoint *inside)
{
	struct bpfmasq_forward_key fk = { .port = ext->port,
					  .proto = ext->proto };
	const struct bpfmasq_forward *fwd = bpf_map_lookup_elem(&forwards, &fk);

	if (fwd)
		endpoint_make(inside, fwd->inside_addr, fwd->inside_port,
			      ext->proto);
	return fwd;
}

/* Give @inside the mapping of its forward on @ext, if it has none. */
static __always_inline void
forward_mapping(const struct bpfmasq_endpoint *ext,
		const struct bpfmasq_endpoint *inside, __u64 now)
{
	struct bpfmasq_mapping val = { .ext_addr = ext->addr,
				       .ext_port = ext->port,
				       .flags = BPFMASQ_MAP_FORWARD,
				       .used_ms = mapping_clock(now) };

	bpf_map_update_elem(&mappings, inside, &val, BPF_NOEXIST);
}

static __always_inline long forward_take(struct bpfmasq_ctl_args *a)
{
	struct bpfmasq_endpoint ext = a->ep, inside;
	bool in_range = a->stamp & 1;
	struct bpfmasq_owner *o, want;
	__u64 cur, to;

	if (!forward_of(&ext, &inside))
		return -ENOENT;
	want = (struct bpfmasq_owner){
		.addr = inside.addr,
		.port = inside.port,
		.proto = inside.proto,
		.state = in_range ? BPFMASQ_PORT_FORWARD_QUEUED
				  : BPFMASQ_PORT_FORWARD,
	};
	o = bpf_map_lookup_elem(&port_owners, &ext);
	if (!o) {
		/* Free: the claim races the data path's like any other. */
		if (bpf_map_update_elem(&port_owners, &ext, &want, BPF_NOEXIST))
			return -EBUSY;
		goto mapping;
	}
	__builtin_memcpy(&cur, o, sizeof(cur));
	if (o->state == BPFMASQ_PORT_QUARANTINED &&
	    o->released_s == (__u32)(a->stamp >> 1))
		/* Quarantined: in no queue. */
		to = owner_word(inside.addr, inside.port, inside.proto,
				BPFMASQ_PORT_FORWARD);
	else if (o->state == BPFMASQ_PORT_RETURNED)
		to = owner_word(inside.addr, inside.port, inside.proto,
				BPFMASQ_PORT_FORWARD_QUEUED);
	else if ((o->state == BPFMASQ_PORT_FORWARD ||
		  o->state == BPFMASQ_PORT_FORWARD_QUEUED) &&
		 o->addr == inside.addr && o->port == inside.port &&
		 o->proto == inside.proto)
		goto mapping; /* taken before */
	else
		return -EBUSY;
	if (!owner_swap(o, cur, to))
		return -EBUSY;
mapping:
	forward_mapping(&ext, &inside, a->now_ns);
	return 0;
}

/* The entry of a host that counts no port nor session: DEAD, then gone. */
static __always_inline long host_drop(const struct bpfmasq_ctl_args *a)
{
	__be32 addr = a->ep.addr;
	struct bpfmasq_host *h = bpf_map_lookup_elem(&hosts, &addr);

	if (!h)
		return -ENOENT;
	if (__sync_val_compare_and_swap(&h->ports, 0, BPFMASQ_HOST_DEAD))
		return -EBUSY;
	/* A session counted before the swap keeps it (hosts.h). */
	if (*(volatile __u32 *)&h->sessions) {
		__sync_fetch_and_and(&h->ports, ~BPFMASQ_HOST_DEAD);
		return -EBUSY;
	}
	bpf_map_delete_elem(&hosts, &addr);
	return 0;
}

/*
 * Let go of forward port @ext whose forward is gone (the collector saw no
 * session on it), with the mapping on it if there is one, idle since
 * used_ms @stamp >> 1.
 */
static __always_inline long forward_drop(struct bpfmasq_ctl_args *a)
{
	struct bpfmasq_endpoint ext = a->ep, inside, fwd_in;
	struct bpfmasq_mapping *m;
	struct bpfmasq_owner *o;
	bool counted;
	__u64 cur;

	o = bpf_map_lookup_elem(&port_owners, &ext);
	if (!o || (o->state != BPFMASQ_PORT_FORWARD &&
		   o->state != BPFMASQ_PORT_FORWARD_QUEUED))
		return -ENOENT;
	endpoint_make(&inside, o->addr, o->port, o->proto);
	if (forward_of(&ext, &fwd_in) && fwd_in.addr == inside.addr &&
	    fwd_in.port == inside.port)
		return -EBUSY; /* forwarded still */
	m = bpf_map_lookup_elem(&mappings, &inside);
	if (m && m->ext_addr == ext.addr && m->ext_port == ext.port) {
		if (__sync_val_compare_and_swap(
			    &m->used_ms, (__u32)(a->stamp >> 1),
			    BPFMASQ_MAPPING_DYING) != (__u32)(a->stamp >> 1))
			return -EBUSY; /* a session started on it */
		counted = !(m->flags & BPFMASQ_MAP_FORWARD);
		bpf_map_delete_elem(&mappings, &inside);
		/* A flow's own mapping on the port counted for its host. */
		if (counted)
			host_port_put(inside.addr);
	}
	__builtin_memcpy(&cur, o, sizeof(cur));
	/* Still queued: free as it is; a pop may claim it meanwhile. */
	if (o->state == BPFMASQ_PORT_FORWARD_QUEUED &&
	    owner_swap(o, cur, owner_word(0, 0, 0, BPFMASQ_PORT_RETURNED)))
		return 0;
	/* FORWARD: in no queue (a pop may have just made it so). */
	if (a->stamp & 1)
		port_quarantine(&ext, a->now_ns);
	else
		bpf_map_delete_elem(&port_owners, &ext);
	return 0;
}

/* The batch of BPFMASQ_CTL_SESSION_EXPIRE_BATCH, written by the collector. */
struct bpfmasq_ctl_batch ctl_batch;

static long batch_expire_one(__u32 i, void *unused)
{
	struct bpfmasq_ctl_args a = {};
	struct bpfmasq_ctl_expire *e;

	if (i >= BPFMASQ_CTL_BATCH)
		return 1;
	e = &ctl_batch.e[i];
	a.stamp = e->stamp;
	a.session = e->session;
	e->ret = session_expire(&a);
	return 0;
}

static __always_inline long batch_expire(void)
{
	__u32 n = ctl_batch.n;

	if (n > BPFMASQ_CTL_BATCH)
		return -EINVAL;
	bpf_loop(n, batch_expire_one, NULL, 0);
	return 0;
}

SEC("syscall")
int bpfmasq_ctl(struct bpfmasq_ctl_args *a)
{
	switch (a->op) {
	case BPFMASQ_CTL_SESSION_EXPIRE:
		a->ret = session_expire(a);
		break;
	case BPFMASQ_CTL_MAPPING_RELEASE:
		a->ret = release(a);
		break;
	case BPFMASQ_CTL_PORT_FREE:
		a->ret = port_free(a);
		break;
	case BPFMASQ_CTL_OWNER_REPAIR:
		a->ret = owner_repair(a);
		break;
	case BPFMASQ_CTL_PORT_UNRESERVE:
		a->ret = port_unreserve(a);
		break;
	case BPFMASQ_CTL_FORWARD_TAKE:
		a->ret = forward_take(a);
		break;
	case BPFMASQ_CTL_FORWARD_DROP:
		a->ret = forward_drop(a);
		break;
	case BPFMASQ_CTL_HOST_DROP:
		a->ret = host_drop(a);
		break;
	case BPFMASQ_CTL_SESSION_EXPIRE_BATCH:
		a->ret = batch_expire();
		break;
	default:
		a->ret = -EINVAL;
	}
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
