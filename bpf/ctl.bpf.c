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

	if (!port_owner(&ext, &inside))
		return -ENOENT;
	m = bpf_map_lookup_elem(&mappings, &inside);
	if (m && m->ext_addr == ext.addr && m->ext_port == ext.port)
		return -EBUSY;
	port_quarantine(&ext, a->now_ns);
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
	default:
		a->ret = -EINVAL;
	}
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
