// SPDX-License-Identifier: GPL-2.0
/*
 * addrs.c - the address pool (--address, several or ranges): ext_addrs
 * says what each address is, addr_pool lists the ACTIVE ones that new
 * hosts are spread over (bpf/addrs.h). Attach writes both; an address
 * taken out of the pool drains: what is on it stays until it ends, no new
 * host is paired with it, and the collector forgets it once it is unused.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <bpf/bpf.h>

#include "addrs.h"
#include "log.h"
#include "pools.h"

int ext_addrs_read(const struct masq_maps *m, __be32 *addrs, __u32 *states,
		   int max)
{
	struct bpfmasq_ext_addr *vals;
	__be32 *keys;
	long n, i;

	n = map_dump(m->ext_addrs, (void **)&keys, (void **)&vals);
	if (n < 0)
		return n;
	for (i = 0; i < n && i < max; i++) {
		addrs[i] = keys[i];
		states[i] = vals[i].state;
	}
	free(keys);
	free(vals);
	return i;
}

int ext_addr_forget(const struct masq_maps *m, __be32 addr)
{
	struct bpfmasq_endpoint *keys;
	long n, i;
	int err;

	err = pools_delete(m, addr);
	if (err)
		return err;
	n = map_dump(m->port_owners, (void **)&keys, NULL);
	if (n < 0)
		return n;
	for (i = 0; i < n; i++)
		if (keys[i].addr == addr)
			bpf_map_delete_elem(m->port_owners, &keys[i]);
	free(keys);
	if (bpf_map_delete_elem(m->ext_addrs, &addr) && errno != ENOENT)
		return -errno;
	return 0;
}

static bool listed(const __be32 *addrs, int n, __be32 a)
{
	int i;

	for (i = 0; i < n; i++)
		if (addrs[i] == a)
			return true;
	return false;
}

static int ext_addr_set(const struct masq_maps *m, __be32 a, __u32 state)
{
	struct bpfmasq_ext_addr v = { .state = state };
	char s[INET_ADDRSTRLEN];

	if (!bpf_map_update_elem(m->ext_addrs, &a, &v, BPF_ANY))
		return 0;
	inet_ntop(AF_INET, &a, s, sizeof(s));
	pr_err("cannot record address %s (%s): %s", s,
	       errno == E2BIG ? "too many addresses still draining"
			      : "ext_addrs",
	       strerror(errno));
	return -errno;
}

/* The pool's addresses now: --address, else what addr_pool lists. */
static int pool_list(const struct masq_maps *m,
		     const struct bpfmasq_config *cfg,
		     const struct masq_opts *o, __be32 *addrs)
{
	struct bpfmasq_addr_pool pool;
	__u32 zero = 0;

	if (o->n_addrs) {
		memcpy(addrs, o->addrs, o->n_addrs * sizeof(*addrs));
		return o->n_addrs;
	}
	if (bpf_map_lookup_elem(m->addr_pool, &zero, &pool))
		return -errno;
	if (pool.count && pool.count <= BPFMASQ_MAX_ADDRS) {
		memcpy(addrs, pool.addrs, pool.count * sizeof(*addrs));
		return pool.count;
	}
	addrs[0] = cfg->ext_addr;
	return 1;
}

/* A pool address must not be a static's outside one. */
static int statics_refuse(const struct masq_maps *m, const __be32 *addrs, int n)
{
	struct bpfmasq_static_key k = { .dir = BPFMASQ_STATIC_IN };
	struct bpfmasq_static v;
	char s[INET_ADDRSTRLEN];
	int i;

	for (i = 0; i < n; i++) {
		k.addr = addrs[i];
		if (bpf_map_lookup_elem(m->statics, &k, &v))
			continue;
		inet_ntop(AF_INET, &addrs[i], s, sizeof(s));
		pr_err("--address %s is the outside address of a static NAT: delete it first (static del)",
		       s);
		return -EADDRINUSE;
	}
	return 0;
}

int addrs_check(const struct masq_maps *m, const struct masq_opts *o)
{
	return statics_refuse(m, o->addrs, o->n_addrs);
}

int addrs_sync(const struct masq_maps *m, const struct bpfmasq_config *old,
	       const struct bpfmasq_config *cfg, const struct masq_opts *o)
{
	__be32 list[BPFMASQ_MAX_ADDRS], known[BPFMASQ_MAX_EXT_ADDRS];
	__u32 states[BPFMASQ_MAX_EXT_ADDRS];
	struct bpfmasq_addr_pool pool = {};
	int n, nk, i, k, err = 0;
	__u32 zero = 0;

	if (!(cfg->flags & BPFMASQ_CFG_POOL))
		return 0;
	n = pool_list(m, cfg, o, list);
	if (n < 0) {
		pr_err("cannot read the address pool: %s", strerror(-n));
		return n;
	}
	nk = ext_addrs_read(m, known, states, BPFMASQ_MAX_EXT_ADDRS);
	if (nk < 0) {
		pr_err("cannot read the pool's addresses: %s", strerror(-nk));
		return nk;
	}
	/* Room for the new ones beside those that drain, before a change. */
	for (i = 0, k = nk; i < n; i++)
		k += !listed(known, nk, list[i]);
	if (k + 1 > BPFMASQ_MAX_EXT_ADDRS) {
		pr_err("%d addresses in the pool and still draining, at most %d: wait until the removed ones have drained (status), or flush",
		       k, BPFMASQ_MAX_EXT_ADDRS - 1);
		return -E2BIG;
	}
	/* First nothing new goes on a removed one, then new ones come. */
	for (i = 0; i < nk && !err; i++)
		if (states[i] == BPFMASQ_ADDR_ACTIVE &&
		    !listed(list, n, known[i]))
			err = ext_addr_set(m, known[i], BPFMASQ_ADDR_DRAINING);
	/* It followed the interface: its mappings drain the same way. */
	if (!err && old && !(old->flags & BPFMASQ_CFG_POOL) && old->ext_addr &&
	    !listed(list, n, old->ext_addr))
		err = ext_addr_set(m, old->ext_addr, BPFMASQ_ADDR_DRAINING);
	if (!err && bpf_map_lookup_elem(m->addr_pool, &zero, &pool))
		err = -errno;
	if (err)
		return err;
	/* Those listed no more leave addr_pool before the new ones come. */
	for (i = 0, k = 0; i < (int)pool.count && i < BPFMASQ_MAX_ADDRS; i++)
		if (listed(list, n, pool.addrs[i]))
			pool.addrs[k++] = pool.addrs[i];
	if (k != (int)pool.count) {
		pool.count = k;
		if (bpf_map_update_elem(m->addr_pool, &zero, &pool, BPF_ANY))
			return -errno;
	}
	/* Its pools first: a host may be paired with it once it is ACTIVE. */
	for (i = 0; i < n && !err; i++) {
		err = pools_ensure_addr(m, list[i]);
		if (!err)
			err = ext_addr_set(m, list[i], BPFMASQ_ADDR_ACTIVE);
	}
	if (err) {
		pr_err("cannot set up the address pool: %s", strerror(-err));
		return err;
	}
	pool.count = n;
	memcpy(pool.addrs, list, n * sizeof(list[0]));
	if (bpf_map_update_elem(m->addr_pool, &zero, &pool, BPF_ANY)) {
		err = -errno;
		pr_err("cannot write the address pool: %s", strerror(errno));
	}
	return err;
}

/* Is something on @a: a port owned or forwarded, a host with mappings? */
static bool addr_busy(__be32 a, const struct bpfmasq_endpoint *ok, long no,
		      const struct bpfmasq_owner *ov,
		      const struct bpfmasq_host *hv, long nh)
{
	long i;

	for (i = 0; i < no; i++)
		if (ok[i].addr == a && bpfmasq_port_names(ov[i].state))
			return true;
	for (i = 0; i < nh; i++)
		if (hv[i].ext_addr == a && (hv[i].ports & ~BPFMASQ_HOST_DEAD))
			return true;
	return false;
}

long addrs_collect(const struct masq_maps *m, __u64 now)
{
	__u32 now_s = now / 1000000000ull ? now / 1000000000ull : 1;
	struct bpfmasq_endpoint *ok = NULL;
	struct bpfmasq_owner *ov = NULL;
	struct bpfmasq_ext_addr *av;
	struct bpfmasq_host *hv = NULL;
	long na, no = 0, nh = 0, i, done = 0;
	__be32 *ak, *hk = NULL;
	int err = 0;

	na = map_dump(m->ext_addrs, (void **)&ak, (void **)&av);
	if (na < 0)
		return na;
	for (i = 0; i < na && av[i].state != BPFMASQ_ADDR_DRAINING; i++)
		;
	if (i == na)
		goto out;
	no = map_dump(m->port_owners, (void **)&ok, (void **)&ov);
	nh = no < 0 ? 0 : map_dump(m->hosts, (void **)&hk, (void **)&hv);
	if (no < 0 || nh < 0) {
		err = no < 0 ? no : nh;
		goto out;
	}
	for (i = 0; i < na && !err; i++) {
		struct bpfmasq_ext_addr v = av[i];

		if (v.state != BPFMASQ_ADDR_DRAINING)
			continue;
		if (addr_busy(ak[i], ok, no, ov, hv, nh))
			v.idle_s = 0;
		else if (!v.idle_s)
			v.idle_s = now_s;
		else if (now_s - v.idle_s >= ADDRS_IDLE_S) {
			err = ext_addr_forget(m, ak[i]);
			done += !err;
			continue;
		}
		if (v.idle_s != av[i].idle_s &&
		    bpf_map_update_elem(m->ext_addrs, &ak[i], &v, BPF_EXIST) &&
		    errno != ENOENT)
			err = -errno;
	}
out:
	free(ak);
	free(av);
	free(ok);
	free(ov);
	free(hk);
	free(hv);
	return err ? err : done;
}
