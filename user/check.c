// SPDX-License-Identifier: GPL-2.0
/*
 * check.c - the state checker. One pass reads the mappings, the port
 * owners and the sessions (and, when asked, the port pools) and holds each
 * entry against the maps it must agree with, looked up as they are now.
 *
 * The data path and the garbage collector change a flow's maps one after
 * the other (an owner is claimed before its mapping is stored, a mapping
 * is deleted before its owner, a port is pushed back after both), so a
 * pass may catch a flow between two steps. Such a state lasts a few
 * instructions of a program or a few system calls of the collector: a
 * finding counts as a violation only when every one of CHECK_PASSES
 * passes, CHECK_PASS_GAP_MS apart, finds it in the same words.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <bpf/bpf.h>

#include "addrs.h"
#include "check.h"

#define CHECK_PASSES 3
#define CHECK_PASS_GAP_MS 50

#define CHECK_KIND_NAME(name, str) [CHECK_##name] = str,
const char *const check_kind_names[CHECK_KIND_MAX] = { CHECK_KINDS(
	CHECK_KIND_NAME) };
#undef CHECK_KIND_NAME

static const __u8 pool_protos[] = { BPFMASQ_PROTO_TCP, BPFMASQ_PROTO_UDP,
				    BPFMASQ_PROTO_ICMP };

/* One pass: what it found and the configuration it held things against. */
struct pass {
	const struct masq_maps *m;
	struct bpfmasq_config cfg;
	struct bpfmasq_instance inst;
	char ports[48]; /* the port ranges, as "LO-HI[,LO-HI]" */
	struct check_result *res;
	/* The addresses mappings may be on: ext_addrs', or config's one. */
	int n_addrs;
	__be32 addrs[BPFMASQ_MAX_EXT_ADDRS];
	__u32 states[BPFMASQ_MAX_EXT_ADDRS];
};

/* "A.B.C.D:PORT", in one of eight rotating buffers (for one message). */
static const char *ep_str(__be32 addr, __be16 port)
{
	static char bufs[8][INET_ADDRSTRLEN + 6];
	static int next;
	char a[INET_ADDRSTRLEN], *b = bufs[next++ & 7];

	inet_ntop(AF_INET, &addr, a, sizeof(a));
	snprintf(b, sizeof(bufs[0]), "%s:%u", a, ntohs(port));
	return b;
}

/* "A.B.C.D", in one of four rotating buffers (for one message). */
static const char *addr_str(__be32 addr)
{
	static char bufs[4][INET_ADDRSTRLEN];
	static int next;

	return inet_ntop(AF_INET, &addr, bufs[next++ & 3], sizeof(bufs[0]));
}

static bool ep_eq(const struct bpfmasq_endpoint *a,
		  const struct bpfmasq_endpoint *b)
{
	return a->addr == b->addr && a->port == b->port && a->proto == b->proto;
}

static struct bpfmasq_endpoint ep_make(__be32 addr, __be16 port, __u8 proto)
{
	struct bpfmasq_endpoint ep = { .addr = addr,
				       .port = port,
				       .proto = proto };

	return ep;
}

/* The addresses of the instance: the pool's (ext_addrs), or its one. */
static int addrs_read(struct pass *p)
{
	int n;

	p->addrs[0] = p->cfg.ext_addr;
	p->states[0] = BPFMASQ_ADDR_ACTIVE;
	p->n_addrs = p->cfg.ext_addr ? 1 : 0;
	if (!(p->cfg.flags & BPFMASQ_CFG_POOL))
		return 0;
	n = ext_addrs_read(p->m, p->addrs, p->states, BPFMASQ_MAX_EXT_ADDRS);
	if (n < 0)
		return n;
	p->n_addrs = n;
	return 0;
}

/* The state of @a among the instance's addresses; 0: not one of them. */
static __u32 addr_state(const struct pass *p, __be32 a)
{
	int i;

	for (i = 0; i < p->n_addrs; i++)
		if (p->addrs[i] == a)
			return p->states[i];
	return 0;
}

static bool addr_ours(const struct pass *p, __be32 a)
{
	return addr_state(p, a) != 0;
}

/*
 * Is the entry a finding is about still what the dump said? Looked up
 * again after the map it disagrees with, so that an entry deleted (or
 * made anew) in between, by a collection pass or a new flow, is not taken
 * for one that disagrees.
 */
static bool mapping_still(const struct masq_maps *m,
			  const struct bpfmasq_endpoint *in,
			  const struct bpfmasq_mapping *mp)
{
	struct bpfmasq_mapping cur;

	return !bpf_map_lookup_elem(m->mappings, in, &cur) &&
	       cur.ext_addr == mp->ext_addr && cur.ext_port == mp->ext_port &&
	       cur.flags == mp->flags;
}

static bool owner_still(const struct masq_maps *m,
			const struct bpfmasq_endpoint *ext,
			const struct bpfmasq_owner *o)
{
	struct bpfmasq_owner cur;

	return !bpf_map_lookup_elem(m->port_owners, ext, &cur) &&
	       !memcmp(&cur, o, sizeof(cur));
}

/* The inside endpoint an owned port's entry names. */
static struct bpfmasq_endpoint owner_ep(const struct bpfmasq_owner *o)
{
	return ep_make(o->addr, o->port, o->proto);
}

static bool owner_names(const struct bpfmasq_owner *o,
			const struct bpfmasq_endpoint *in)
{
	struct bpfmasq_endpoint named = owner_ep(o);

	return ep_eq(&named, in);
}

static bool session_still(const struct masq_maps *m,
			  const struct bpfmasq_session_key *k,
			  const struct bpfmasq_session *s)
{
	struct bpfmasq_session cur;

	return !bpf_map_lookup_elem(m->sessions, k, &cur) &&
	       cur.ext_addr == s->ext_addr && cur.ext_port == s->ext_port;
}

__attribute__((format(printf, 6, 7))) static int
add(struct pass *p, enum check_kind kind, const struct bpfmasq_endpoint *inside,
    const struct bpfmasq_endpoint *ext, const struct bpfmasq_session_key *sk,
    const char *fmt, ...)
{
	struct check_result *r = p->res;
	struct check_finding *f, **list;
	long *n;
	va_list ap;

	list = kind == CHECK_STALE_SESSION ? &r->stale : &r->violations;
	n = kind == CHECK_STALE_SESSION ? &r->n_stale : &r->n_violations;
	/* Grown by powers of two from 16. */
	if (*n >= 16 && !(*n & (*n - 1))) {
		f = realloc(*list, *n * 2 * sizeof(**list));
		if (!f)
			return -ENOMEM;
		*list = f;
	} else if (!*list) {
		*list = malloc(16 * sizeof(**list));
		if (!*list)
			return -ENOMEM;
	}
	f = &(*list)[(*n)++];
	memset(f, 0, sizeof(*f));
	f->kind = kind;
	if (inside)
		f->inside = *inside;
	if (ext)
		f->ext = *ext;
	if (sk) {
		f->remote_addr = sk->remote_addr;
		f->remote_port = sk->remote_port;
	}
	va_start(ap, fmt);
	vsnprintf(f->msg, sizeof(f->msg), fmt, ap);
	va_end(ap);
	return 0;
}

static uint64_t ep_pack(const struct bpfmasq_endpoint *ep)
{
	return (uint64_t)ep->addr << 32 | (uint64_t)ep->port << 16 | ep->proto;
}

static int u64_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static bool forward_state(__u8 state)
{
	return state == BPFMASQ_PORT_FORWARD ||
	       state == BPFMASQ_PORT_FORWARD_QUEUED;
}

/*
 * A forward's mapping: its port is a forward's (FORWARD or
 * FORWARD_QUEUED) that names its inside endpoint. It may lie outside the
 * ranges.
 */
static int check_forward_mapping(struct pass *p,
				 const struct bpfmasq_endpoint *in,
				 const struct bpfmasq_mapping *mp)
{
	struct bpfmasq_endpoint ext =
		ep_make(mp->ext_addr, mp->ext_port, in->proto);
	struct bpfmasq_owner o;

	if (!bpf_map_lookup_elem(p->m->port_owners, &ext, &o) &&
	    forward_state(o.state) && owner_names(&o, in))
		return 0;
	if (!mapping_still(p->m, in, mp))
		return 0;
	return add(p, CHECK_OWNER_MISMATCH, in, &ext, NULL,
		   "forward mapping %s %s -> %s: the port is not its forward's",
		   proto_name(in->proto), ep_str(in->addr, in->port),
		   ep_str(mp->ext_addr, mp->ext_port));
}

/*
 * Invariants 1 and 3, from the mapping side: its owner points back at it;
 * its port is in range and on the configured address. The external
 * endpoints seen go to @exts, sorted.
 */
static int check_mappings(struct pass *p, uint64_t **exts, long *n_exts)
{
	const struct bpfmasq_config *cfg = &p->cfg;
	struct bpfmasq_endpoint *keys;
	struct bpfmasq_mapping *vals;
	struct bpfmasq_owner owner;
	long n, i;
	int err = 0;

	n = map_dump(p->m->mappings, (void **)&keys, (void **)&vals);
	if (n < 0)
		return n;
	p->res->mappings = n;
	*exts = malloc((n ? n : 1) * sizeof(**exts));
	if (!*exts) {
		err = -ENOMEM;
		goto out;
	}
	for (i = 0; i < n && !err; i++) {
		const struct bpfmasq_endpoint *in = &keys[i];
		const struct bpfmasq_mapping *mp = &vals[i];
		struct bpfmasq_endpoint ext =
			ep_make(mp->ext_addr, mp->ext_port, in->proto);
		__u16 port = ntohs(mp->ext_port);
		const char *what = proto_name(in->proto),
			   *ins = ep_str(in->addr, in->port),
			   *out = ep_str(mp->ext_addr, mp->ext_port);

		(*exts)[i] = ep_pack(&ext);
		if (mp->flags & BPFMASQ_MAP_FORWARD) {
			err = check_forward_mapping(p, in, mp);
			if (!err && mp->ext_addr != cfg->ext_addr)
				err = add(
					p, CHECK_MAPPING_ADDRESS, in, &ext,
					NULL,
					"mapping %s %s -> %s: not on the external address %s",
					what, ins, out,
					addr_str(cfg->ext_addr));
			continue;
		}
		if (bpf_map_lookup_elem(p->m->port_owners, &ext, &owner)) {
			if (errno != ENOENT)
				err = -errno;
			else if (mapping_still(p->m, in, mp))
				err = add(
					p, CHECK_OWNER_MISSING, in, &ext, NULL,
					"mapping %s %s -> %s: %s has no owner",
					what, ins, out, out);
		} else if (owner.state != BPFMASQ_PORT_OWNED) {
			if (mapping_still(p->m, in, mp))
				err = add(
					p, CHECK_OWNER_MISMATCH, in, &ext, NULL,
					"mapping %s %s -> %s: %s is not owned (state %u)",
					what, ins, out, out, owner.state);
		} else if (!owner_names(&owner, in) &&
			   mapping_still(p->m, in, mp)) {
			err = add(p, CHECK_OWNER_MISMATCH, in, &ext, NULL,
				  "mapping %s %s -> %s: %s is owned by %s %s",
				  what, ins, out, out, proto_name(owner.proto),
				  ep_str(owner.addr, owner.port));
		}
		if (!err && !addr_ours(p, mp->ext_addr))
			err = add(
				p, CHECK_MAPPING_ADDRESS, in, &ext, NULL,
				"mapping %s %s -> %s: on no address of the instance (%s%s)",
				what, ins, out, addr_str(cfg->ext_addr),
				p->n_addrs > 1 ? " and its pool" : "");
		if (!err && !ports_contain(&p->inst, port))
			err = add(p, CHECK_PORT_RANGE, in, &ext, NULL,
				  "mapping %s %s -> %s: port outside %s", what,
				  ins, out, p->ports);
	}
	qsort(*exts, n, sizeof(**exts), u64_cmp);
	*n_exts = n;
out:
	free(keys);
	free(vals);
	return err;
}

/*
 * Invariant 1, from the owner side: the inside endpoint an owner names has
 * a mapping with that external endpoint. Owners of an external endpoint
 * that a mapping names were checked from the mapping.
 */
static int check_owners(struct pass *p, const uint64_t *exts, long n_exts)
{
	struct bpfmasq_endpoint *keys, inside;
	struct bpfmasq_owner *vals;
	struct bpfmasq_mapping mp;
	long n, i;
	int err = 0;

	n = map_dump(p->m->port_owners, (void **)&keys, (void **)&vals);
	if (n < 0)
		return n;
	p->res->owners = n;
	for (i = 0; i < n && !err; i++) {
		const struct bpfmasq_endpoint *ext = &keys[i], *in = &inside;
		const struct bpfmasq_owner *o = &vals[i];
		uint64_t packed = ep_pack(ext);
		const char *what = proto_name(ext->proto),
			   *out = ep_str(ext->addr, ext->port), *ins;

		inside = owner_ep(o);
		ins = ep_str(in->addr, in->port);
		if ((o->state == BPFMASQ_PORT_QUARANTINED ||
		     o->state == BPFMASQ_PORT_RESERVED ||
		     o->state == BPFMASQ_PORT_RETURNED) &&
		    !o->port && !o->proto)
			continue; /* names no one: valid on its own */
		/*
		 * A forward's names its inside endpoint, whose mapping may be
		 * elsewhere: replies of its connections come by the port.
		 */
		if (forward_state(o->state) && o->proto == ext->proto)
			continue;
		if (o->state != BPFMASQ_PORT_OWNED) {
			if (owner_still(p->m, ext, o))
				err = add(
					p, CHECK_OWNER_STATE, NULL, ext, NULL,
					"owner %s %s: state %u, port %u, protocol %u",
					what, out, o->state, ntohs(o->port),
					o->proto);
			continue;
		}
		if (bsearch(&packed, exts, n_exts, sizeof(*exts), u64_cmp))
			continue;
		if (in->proto != ext->proto) {
			if (owner_still(p->m, ext, o))
				err = add(
					p, CHECK_OWNER_ORPHAN, in, ext, NULL,
					"owner %s %s -> %s: names a %s endpoint",
					what, out, ins, proto_name(in->proto));
		} else if (bpf_map_lookup_elem(p->m->mappings, in, &mp)) {
			if (errno != ENOENT)
				err = -errno;
			else if (owner_still(p->m, ext, o))
				err = add(
					p, CHECK_OWNER_ORPHAN, in, ext, NULL,
					"owner %s %s -> %s: %s has no mapping",
					what, out, ins, ins);
		} else if ((mp.ext_addr != ext->addr ||
			    mp.ext_port != ext->port) &&
			   owner_still(p->m, ext, o)) {
			err = add(p, CHECK_OWNER_ORPHAN, in, ext, NULL,
				  "owner %s %s -> %s: the mapping of %s is %s",
				  what, out, ins, ins,
				  ep_str(mp.ext_addr, mp.ext_port));
		}
	}
	free(keys);
	free(vals);
	return err;
}

/*
 * Invariant 2 for a SHARED session @k: its port is owned by another inside
 * endpoint, whose session key with this remote holds the LENT entry that
 * names @k's inside endpoint.
 */
static int check_shared(struct pass *p, const struct bpfmasq_session_key *k,
			const struct bpfmasq_session *s)
{
	struct bpfmasq_endpoint in = ep_make(k->inside_addr, k->inside_port,
					     k->proto),
				ext = ep_make(s->ext_addr, s->ext_port,
					      k->proto);
	const char *what = proto_name(k->proto),
		   *ins = ep_str(k->inside_addr, k->inside_port),
		   *rem = ep_str(k->remote_addr, k->remote_port),
		   *out = ep_str(s->ext_addr, s->ext_port);
	struct bpfmasq_session_key lk = *k;
	struct bpfmasq_session lent;
	struct bpfmasq_owner o;

	if (bpf_map_lookup_elem(p->m->port_owners, &ext, &o) ||
	    o.state != BPFMASQ_PORT_OWNED || owner_names(&o, &in)) {
		if (!session_still(p->m, k, s))
			return 0;
		return add(
			p, CHECK_SHARED_UNLENT, &in, &ext, k,
			"shared session %s %s <-> %s via %s: the port has no other owner",
			what, ins, rem, out);
	}
	lk.inside_addr = o.addr;
	lk.inside_port = o.port;
	if ((bpf_map_lookup_elem(p->m->sessions, &lk, &lent) ||
	     !(lent.flags & BPFMASQ_SESS_LENT) ||
	     lent.u.lent_to.addr != in.addr || lent.u.lent_to.port != in.port ||
	     lent.ext_port != s->ext_port) &&
	    session_still(p->m, k, s))
		return add(
			p, CHECK_SHARED_UNLENT, &in, &ext, k,
			"shared session %s %s <-> %s via %s: its owner %s has not lent it",
			what, ins, rem, out, ep_str(o.addr, o.port));
	return 0;
}

/* A FORWARDED session @k: its port is a forward's naming its endpoint. */
static int check_forwarded(struct pass *p, const struct bpfmasq_session_key *k,
			   const struct bpfmasq_session *s)
{
	struct bpfmasq_endpoint in = ep_make(k->inside_addr, k->inside_port,
					     k->proto),
				ext = ep_make(s->ext_addr, s->ext_port,
					      k->proto);
	struct bpfmasq_owner o;

	if (!bpf_map_lookup_elem(p->m->port_owners, &ext, &o) &&
	    forward_state(o.state) && owner_names(&o, &in))
		return 0;
	if (!session_still(p->m, k, s))
		return 0;
	return add(
		p, CHECK_SESSION_MISMATCH, &in, &ext, k,
		"forwarded session %s %s <-> %s via %s: the port is not its forward's",
		proto_name(k->proto), ep_str(k->inside_addr, k->inside_port),
		ep_str(k->remote_addr, k->remote_port),
		ep_str(s->ext_addr, s->ext_port));
}

/* A LENT entry @k names a SHARED session on its port. */
static int check_lent(struct pass *p, const struct bpfmasq_session_key *k,
		      const struct bpfmasq_session *l)
{
	struct bpfmasq_endpoint in = ep_make(k->inside_addr, k->inside_port,
					     k->proto),
				ext = ep_make(l->ext_addr, l->ext_port,
					      k->proto);
	struct bpfmasq_session_key bk = *k;
	struct bpfmasq_session b;

	bk.inside_addr = l->u.lent_to.addr;
	bk.inside_port = l->u.lent_to.port;
	if ((bpf_map_lookup_elem(p->m->sessions, &bk, &b) ||
	     !(b.flags & BPFMASQ_SESS_SHARED) || b.ext_port != l->ext_port ||
	     b.ext_addr != l->ext_addr) &&
	    session_still(p->m, k, l))
		return add(
			p, CHECK_LENT_ORPHAN, &in, &ext, k,
			"lent entry %s %s <-> %s via %s: %s has no shared session on it",
			proto_name(k->proto),
			ep_str(k->inside_addr, k->inside_port),
			ep_str(k->remote_addr, k->remote_port),
			ep_str(l->ext_addr, l->ext_port),
			ep_str(bk.inside_addr, bk.inside_port));
	return 0;
}

/* What a remote sees of a flow: external and remote endpoint. */
struct pair {
	uint64_t ext; /* ep_pack of the external endpoint */
	uint64_t remote;
	long idx;
};

static int pair_cmp(const void *a, const void *b)
{
	const struct pair *x = a, *y = b;

	if (x->ext != y->ext)
		return x->ext < y->ext ? -1 : 1;
	return x->remote < y->remote ? -1 : x->remote > y->remote;
}

/*
 * Invariant 1 as the remotes see it: no two flows (LENT entries are none)
 * have the same external endpoint and remote endpoint, or replies could
 * not tell them apart.
 */
static int check_pairs(struct pass *p, const struct bpfmasq_session_key *keys,
		       const struct bpfmasq_session *vals, long n)
{
	struct pair *v = malloc((n ? n : 1) * sizeof(*v));
	long i, nv = 0;
	int err = 0;

	if (!v)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		struct bpfmasq_endpoint ext = ep_make(
			vals[i].ext_addr, vals[i].ext_port, keys[i].proto);

		if (vals[i].flags & BPFMASQ_SESS_LENT)
			continue;
		v[nv++] = (struct pair){ ep_pack(&ext),
					 (uint64_t)keys[i].remote_addr << 16 |
						 keys[i].remote_port,
					 i };
	}
	qsort(v, nv, sizeof(*v), pair_cmp);
	for (i = 1; i < nv && !err; i++) {
		const struct bpfmasq_session_key *a = &keys[v[i - 1].idx],
						 *b = &keys[v[i].idx];
		const struct bpfmasq_session *s = &vals[v[i].idx];
		struct bpfmasq_endpoint in =
			ep_make(b->inside_addr, b->inside_port, b->proto);
		struct bpfmasq_endpoint ext =
			ep_make(s->ext_addr, s->ext_port, b->proto);

		if (pair_cmp(&v[i - 1], &v[i]) ||
		    !session_still(p->m, a, &vals[v[i - 1].idx]) ||
		    !session_still(p->m, b, s))
			continue;
		err = add(p, CHECK_PAIR_TWICE, &in, &ext, b,
			  "sessions %s %s and %s both talk to %s via %s",
			  proto_name(b->proto),
			  ep_str(a->inside_addr, a->inside_port),
			  ep_str(b->inside_addr, b->inside_port),
			  ep_str(b->remote_addr, b->remote_port),
			  ep_str(s->ext_addr, s->ext_port));
	}
	free(v);
	return err;
}

/*
 * Invariant 2: a session translates to its inside endpoint's mapping, or,
 * SHARED, to a port its owner has lent it. A session on another address
 * than the configured one is stale, not a violation: it was made before an
 * address change reached the data path, whose next outbound packet on it
 * starts the flow anew.
 */
static int check_sessions(struct pass *p)
{
	struct bpfmasq_session_key *keys;
	struct bpfmasq_session *vals;
	struct bpfmasq_mapping mp;
	long n, i;
	int err = 0;

	n = map_dump(p->m->sessions, (void **)&keys, (void **)&vals);
	if (n < 0)
		return n;
	p->res->sessions = n;
	err = check_pairs(p, keys, vals, n);
	for (i = 0; i < n && !err; i++) {
		const struct bpfmasq_session_key *k = &keys[i];
		const struct bpfmasq_session *s = &vals[i];
		struct bpfmasq_endpoint in =
			ep_make(k->inside_addr, k->inside_port, k->proto);
		struct bpfmasq_endpoint ext =
			ep_make(s->ext_addr, s->ext_port, k->proto);
		const char *what = proto_name(k->proto),
			   *ins = ep_str(k->inside_addr, k->inside_port),
			   *rem = ep_str(k->remote_addr, k->remote_port),
			   *out = ep_str(s->ext_addr, s->ext_port);

		if (!addr_ours(p, s->ext_addr))
			err = add(
				p, CHECK_STALE_SESSION, &in, &ext, k,
				"session %s %s <-> %s via %s: of an old address",
				what, ins, rem, out);
		else if (s->flags & BPFMASQ_SESS_SHARED)
			err = check_shared(p, k, s);
		else if (s->flags & BPFMASQ_SESS_FORWARDED)
			err = check_forwarded(p, k, s);
		else if (bpf_map_lookup_elem(p->m->mappings, &in, &mp)) {
			if (errno != ENOENT)
				err = -errno;
			else if (session_still(p->m, k, s))
				err = add(
					p, CHECK_SESSION_UNMAPPED, &in, &ext, k,
					"session %s %s <-> %s via %s: %s has no mapping",
					what, ins, rem, out, ins);
		} else if ((mp.ext_addr != s->ext_addr ||
			    mp.ext_port != s->ext_port) &&
			   session_still(p->m, k, s)) {
			err = add(
				p, CHECK_SESSION_MISMATCH, &in, &ext, k,
				"session %s %s <-> %s via %s: the mapping of %s is %s",
				what, ins, rem, out, ins,
				ep_str(mp.ext_addr, mp.ext_port));
		}
		if (!err && (s->flags & BPFMASQ_SESS_LENT))
			err = check_lent(p, k, s);
	}
	free(keys);
	free(vals);
	return err;
}

/*
 * The ports queued in pool @pk, in *@ports (their number returned), or
 * -ENOENT when there is no such pool. A queue can only be read by popping
 * it: every port is popped, then pushed back in the same order.
 */
static long pool_read(const struct masq_maps *m,
		      const struct bpfmasq_pool_key *pk, __be16 **ports)
{
	struct bpf_map_info info = {};
	__u32 id, info_len = sizeof(info);
	long n = 0, i;
	int fd, err = 0;

	if (bpf_map_lookup_elem(m->port_pools, pk, &id))
		return -errno;
	fd = bpf_map_get_fd_by_id(id);
	if (fd < 0)
		return -errno;
	if (bpf_obj_get_info_by_fd(fd, &info, &info_len)) {
		err = -errno;
		goto out;
	}
	/* Room for what the collector may push meanwhile. */
	*ports = malloc((info.max_entries + 64) * sizeof(**ports));
	if (!*ports) {
		err = -ENOMEM;
		goto out;
	}
	while (n < info.max_entries + 64 &&
	       !bpf_map_lookup_and_delete_elem(fd, NULL, &(*ports)[n]))
		n++;
	if (errno != ENOENT && n < info.max_entries + 64)
		err = -errno;
	for (i = 0; i < n; i++)
		if (bpf_map_update_elem(fd, NULL, &(*ports)[i], BPF_ANY) &&
		    !err)
			err = -errno;
out:
	close(fd);
	return err ? err : n;
}

/* What port_owners says of @ext, in @o: false when it is free. */
static bool held(const struct masq_maps *m, const struct bpfmasq_endpoint *ext,
		 struct bpfmasq_owner *o)
{
	return !bpf_map_lookup_elem(m->port_owners, ext, o);
}

/* "owned by tcp 10.0.0.1:80" or "quarantined", for @o. */
static const char *held_str(const struct bpfmasq_owner *o)
{
	static char buf[80];

	if (o->state == BPFMASQ_PORT_RESERVED)
		return "reserved for the gateway's own socket";
	if (o->state == BPFMASQ_PORT_QUARANTINED)
		return "quarantined";
	if (o->state == BPFMASQ_PORT_FORWARD)
		return "forwarded";
	if (o->state != BPFMASQ_PORT_OWNED)
		return "marked queued";
	snprintf(buf, sizeof(buf), "owned by %s %s", proto_name(o->proto),
		 ep_str(o->addr, o->port));
	return buf;
}

/*
 * Invariant 4, for the pool of (@addr, @proto): a port is queued
 * once at most, is in range and has no owner entry; every port of the
 * range is queued, owned or quarantined.
 */
static int check_pool(struct pass *p, __be32 addr, __u8 proto, uint8_t *queued)
{
	struct bpfmasq_pool_key pk = { .addr = addr, .proto = proto };
	struct bpfmasq_endpoint ext;
	struct bpfmasq_owner o;
	const char *what = proto_name(proto);
	__be16 *ports = NULL;
	long n, i;
	int err = 0, port;

	n = pool_read(p->m, &pk, &ports);
	if (n == -ENOENT)
		return add(p, CHECK_POOL_MISSING, NULL, NULL, NULL,
			   "pool %s %s: missing", what, addr_str(addr));
	if (n < 0)
		return n;
	p->res->ports_queued += n;
	memset(queued, 0, 65536);
	for (i = 0; i < n; i++) {
		port = ntohs(ports[i]);
		if (queued[port] < 255)
			queued[port]++;
	}
	free(ports);
	for (port = 0; port < 65536 && !err; port++) {
		bool in_range = ports_contain(&p->inst, port);
		bool taken, queued_ok;

		if (!queued[port] && !in_range)
			continue;
		ext = ep_make(addr, htons(port), proto);
		taken = held(p->m, &ext, &o);
		/* Queued with an entry that says so: free, or to be dropped. */
		queued_ok = taken && (o.state == BPFMASQ_PORT_FORWARD_QUEUED ||
				      o.state == BPFMASQ_PORT_RETURNED);
		if (queued[port] && !in_range)
			err = add(p, CHECK_PORT_QUEUED_OUT_OF_RANGE, NULL, &ext,
				  NULL, "pool %s %s: port %d outside %s", what,
				  addr_str(addr), port, p->ports);
		else if (queued[port] > 1)
			err = add(p, CHECK_PORT_QUEUED_TWICE, NULL, &ext, NULL,
				  "pool %s %s: port %d queued %u times", what,
				  addr_str(addr), port, queued[port]);
		else if (queued_ok && !queued[port])
			err = add(p, CHECK_PORT_LOST, NULL, &ext, NULL,
				  "pool %s %s: port %d %s, yet not queued",
				  what, addr_str(addr), port, held_str(&o));
		else if (queued[port] && taken && !queued_ok)
			err = add(p, CHECK_PORT_QUEUED_OWNED, NULL, &ext, NULL,
				  "pool %s %s: port %d queued, yet %s", what,
				  addr_str(addr), port, held_str(&o));
		else if (!queued[port] && !taken)
			err = add(
				p, CHECK_PORT_LOST, NULL, &ext, NULL,
				"pool %s %s: port %d neither queued, owned nor quarantined",
				what, addr_str(addr), port);
	}
	return err;
}

/*
 * Static NAT: each entry's pair names it back (the map is a bijection), no
 * outside address is the masquerade's external address (that one's ports
 * are the mappings'), and config flag STATICS says whether there are any.
 */
static int check_statics(struct pass *p)
{
	struct bpfmasq_static_key *keys, back;
	struct bpfmasq_static *vals, v;
	struct bpfmasq_endpoint a, b;
	long n, i;
	int err = 0;

	n = map_dump(p->m->statics, (void **)&keys, (void **)&vals);
	if (n < 0)
		return n;
	p->res->statics = n;
	if (!n != !(p->cfg.flags & BPFMASQ_CFG_STATICS))
		err = add(p, CHECK_STATIC_FLAG, NULL, NULL, NULL,
			  "config flag STATICS is %s with %ld static entries",
			  n ? "clear" : "set", n);
	for (i = 0; i < n && !err; i++) {
		bool out = keys[i].dir == BPFMASQ_STATIC_OUT;

		a = ep_make(keys[i].addr, 0, 0);
		b = ep_make(vals[i].addr, 0, 0);
		back = (struct bpfmasq_static_key){ .addr = vals[i].addr,
						    .dir = !keys[i].dir };
		if (keys[i].dir > BPFMASQ_STATIC_IN ||
		    bpf_map_lookup_elem(p->m->statics, &back, &v) ||
		    v.addr != keys[i].addr)
			err = add(p, CHECK_STATIC_UNPAIRED, out ? &a : &b,
				  out ? &b : &a, NULL,
				  "static entry %s %s -> %s: no entry back",
				  out ? "out" : "in", addr_str(keys[i].addr),
				  addr_str(vals[i].addr));
		else if (!out && keys[i].addr == p->cfg.ext_addr)
			err = add(
				p, CHECK_STATIC_ADDRESS, &b, &a, NULL,
				"static %s -> %s: the outside address is the masquerade's external address",
				addr_str(vals[i].addr), addr_str(keys[i].addr));
	}
	free(keys);
	free(vals);
	return err;
}

/* How many times @addr is in the sorted array @a of @n addresses. */
static long addr_count(const uint64_t *a, long n, uint64_t addr)
{
	long lo = 0, hi = n, first;

	while (lo < hi) {
		long mid = (lo + hi) / 2;

		if (a[mid] < addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	first = lo;
	while (lo < n && a[lo] == addr)
		lo++;
	return lo - first;
}

/*
 * Each inside host's entry in hosts counts what @addrs (sorted, one per
 * mapping or session of that host) says it holds: its ports, or with
 * @sessions its sessions; and a host with any has an entry.
 */
static int host_counts(struct pass *p, const uint64_t *addrs, long na,
		       bool sessions)
{
	const char *what = sessions ? "sessions" : "ports";
	struct bpfmasq_host *hv, h;
	long nh, i, want;
	__u32 got, dead;
	__be32 *hk;
	int err = 0;

	nh = map_dump(p->m->hosts, (void **)&hk, (void **)&hv);
	if (nh < 0)
		return nh;
	for (i = 0; i < nh && !err; i++) {
		dead = hv[i].ports & BPFMASQ_HOST_DEAD;
		got = sessions ? hv[i].sessions : hv[i].ports & ~dead;
		want = addr_count(addrs, na, ntohl(hk[i]));
		if (got != want && !(dead && !want))
			err = add(p, CHECK_HOST_COUNT, NULL, NULL, NULL,
				  "host %s counts %u %s, it holds %ld",
				  addr_str(hk[i]), got, what, want);
	}
	for (i = 0; i < na && !err; i++) {
		__be32 a = htonl(addrs[i]);

		if ((i && addrs[i] == addrs[i - 1]) ||
		    !bpf_map_lookup_elem(p->m->hosts, &a, &h))
			continue;
		err = add(p, CHECK_HOST_COUNT, NULL, NULL, NULL,
			  "host %s holds %s, and no entry counts them",
			  addr_str(a), what);
	}
	free(hk);
	free(hv);
	return err;
}

/* The inside addresses of the sessions that count for their hosts. */
static int host_sessions(struct pass *p)
{
	struct bpfmasq_session_key *keys;
	struct bpfmasq_session *vals;
	uint64_t *addrs;
	long n, i, na = 0;
	int err;

	n = map_dump(p->m->sessions, (void **)&keys, (void **)&vals);
	if (n < 0)
		return n;
	addrs = malloc((n ? n : 1) * sizeof(*addrs));
	err = addrs ? 0 : -ENOMEM;
	for (i = 0; i < n && !err; i++)
		if (bpfmasq_host_counts(vals[i].flags))
			addrs[na++] = ntohl(keys[i].inside_addr);
	if (!err) {
		qsort(addrs, na, sizeof(*addrs), u64_cmp);
		err = host_counts(p, addrs, na, true);
	}
	free(addrs);
	free(keys);
	free(vals);
	return err;
}

/*
 * Each inside host's entry in hosts counts its flows' mappings (not the
 * forwards'), all on the address it names, and its own sessions.
 */
static int check_hosts(struct pass *p)
{
	struct bpfmasq_endpoint *keys;
	struct bpfmasq_mapping *vals;
	struct bpfmasq_host h;
	uint64_t *addrs = NULL;
	long n, i, na = 0;
	int err = 0;

	n = map_dump(p->m->mappings, (void **)&keys, (void **)&vals);
	if (n < 0)
		return n;
	addrs = malloc((n ? n : 1) * sizeof(*addrs));
	if (!addrs) {
		err = -ENOMEM;
		goto out;
	}
	for (i = 0; i < n; i++)
		if (!(vals[i].flags & BPFMASQ_MAP_FORWARD))
			addrs[na++] = ntohl(keys[i].addr);
	qsort(addrs, na, sizeof(*addrs), u64_cmp);
	err = host_counts(p, addrs, na, false);
	/* Paired pooling: a host's mappings are all on its one address. */
	for (i = 0; i < n && !err; i++) {
		if ((vals[i].flags & BPFMASQ_MAP_FORWARD) ||
		    bpf_map_lookup_elem(p->m->hosts, &keys[i].addr, &h) ||
		    !h.ext_addr || h.ext_addr == vals[i].ext_addr ||
		    !mapping_still(p->m, &keys[i], &vals[i]))
			continue;
		err = add(
			p, CHECK_HOST_ADDRESS, &keys[i], NULL, NULL,
			"host %s is paired with %s, its mapping of port %u is on %s",
			addr_str(keys[i].addr), addr_str(h.ext_addr),
			ntohs(keys[i].port), addr_str(vals[i].ext_addr));
	}
	if (!err)
		err = host_sessions(p);
	free(addrs);
out:
	free(keys);
	free(vals);
	return err;
}

/*
 * The address pool: without one, ext_addrs is empty; with one, the
 * primary address is ACTIVE, and addr_pool lists ACTIVE addresses only,
 * each once, the primary among them.
 */
static int check_addrs(struct pass *p)
{
	struct bpfmasq_addr_pool pool;
	__u32 zero = 0, i, j;
	__be32 k;
	int err = 0;

	if (!(p->cfg.flags & BPFMASQ_CFG_POOL)) {
		if (!bpf_map_get_next_key(p->m->ext_addrs, NULL, &k))
			err = add(
				p, CHECK_POOL_ADDRESS, NULL, NULL, NULL,
				"address %s in ext_addrs, yet config has no pool",
				addr_str(k));
		return err;
	}
	if (addr_state(p, p->cfg.ext_addr) != BPFMASQ_ADDR_ACTIVE)
		return add(p, CHECK_POOL_ADDRESS, NULL, NULL, NULL,
			   "the first address %s is not ACTIVE in ext_addrs",
			   addr_str(p->cfg.ext_addr));
	if (bpf_map_lookup_elem(p->m->addr_pool, &zero, &pool))
		return -errno;
	if (pool.count > BPFMASQ_MAX_ADDRS)
		return add(p, CHECK_POOL_ADDRESS, NULL, NULL, NULL,
			   "addr_pool counts %u addresses", pool.count);
	for (i = 0; i < pool.count && !err; i++) {
		for (j = 0; j < i && pool.addrs[j] != pool.addrs[i]; j++)
			;
		if (j < i)
			err = add(p, CHECK_POOL_ADDRESS, NULL, NULL, NULL,
				  "addr_pool lists %s twice",
				  addr_str(pool.addrs[i]));
		else if (addr_state(p, pool.addrs[i]) != BPFMASQ_ADDR_ACTIVE)
			err = add(p, CHECK_POOL_ADDRESS, NULL, NULL, NULL,
				  "addr_pool lists %s, which is not ACTIVE",
				  addr_str(pool.addrs[i]));
	}
	return err;
}

static int check_pass(const struct masq_maps *m, const struct check_opts *o,
		      struct check_result *res)
{
	struct pass p = { .m = m, .res = res };
	uint64_t *exts = NULL;
	uint8_t *queued = NULL;
	long n_exts = 0;
	size_t i;
	int err, a;

	memset(res, 0, sizeof(*res));
	err = config_read(m, &p.cfg);
	if (!err)
		err = instance_read(m, &p.inst);
	if (!err)
		err = addrs_read(&p);
	ports_str(&p.inst, p.ports, sizeof(p.ports));
	if (!err)
		err = check_mappings(&p, &exts, &n_exts);
	if (!err)
		err = check_owners(&p, exts, n_exts);
	if (!err)
		err = check_sessions(&p);
	if (!err)
		err = check_statics(&p);
	if (!err)
		err = check_hosts(&p);
	if (!err)
		err = check_addrs(&p);
	if (!err && o->pools && p.cfg.ext_addr) {
		queued = malloc(65536);
		if (!queued)
			err = -ENOMEM;
		for (a = 0; a < p.n_addrs && !err; a++)
			for (i = 0; i < sizeof(pool_protos) && !err; i++)
				err = check_pool(&p, p.addrs[a], pool_protos[i],
						 queued);
	}
	free(queued);
	free(exts);
	return err;
}

static bool found_in(const struct check_finding *f,
		     const struct check_result *r)
{
	long i;

	for (i = 0; i < r->n_violations; i++)
		if (r->violations[i].kind == f->kind &&
		    !strcmp(r->violations[i].msg, f->msg))
			return true;
	return false;
}

int check_run(const struct masq_maps *m, const struct check_opts *o,
	      struct check_result *res)
{
	const struct timespec gap = { 0, CHECK_PASS_GAP_MS * 1000000L };
	struct check_result again;
	long i, kept;
	int pass, err;

	err = check_pass(m, o, res);
	for (pass = 1; pass < CHECK_PASSES && !err && res->n_violations;
	     pass++) {
		nanosleep(&gap, NULL);
		err = check_pass(m, o, &again);
		for (i = 0, kept = 0; !err && i < res->n_violations; i++)
			if (found_in(&res->violations[i], &again))
				res->violations[kept++] = res->violations[i];
		if (!err)
			res->n_violations = kept;
		check_result_free(&again);
	}
	return err;
}

void check_result_free(struct check_result *res)
{
	free(res->violations);
	free(res->stale);
	res->violations = res->stale = NULL;
	res->n_violations = res->n_stale = 0;
}
