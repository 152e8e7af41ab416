// SPDX-License-Identifier: GPL-2.0
/*
 * static.c - static NAT: the two entries of each static, written and
 * removed together, and config flag STATICS kept to "the map has entries".
 * An entry is added before the flag is set and the flag cleared after the
 * last entry goes, so that the data path never looks at an empty map and
 * never misses a full one.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <bpf/bpf.h>

#include "log.h"
#include "static.h"

static int flag_set(const struct masq_maps *m, bool on)
{
	struct bpfmasq_config cfg;
	int err;

	err = config_read(m, &cfg);
	if (err)
		return err;
	if (!!(cfg.flags & BPFMASQ_CFG_STATICS) == on)
		return 0;
	if (on)
		cfg.flags |= BPFMASQ_CFG_STATICS;
	else
		cfg.flags &= ~BPFMASQ_CFG_STATICS;
	return config_write(m, &cfg);
}

static __be32 peer(const struct masq_maps *m, __be32 addr, __u8 dir)
{
	struct bpfmasq_static_key k = { .addr = addr, .dir = dir };
	struct bpfmasq_static v;

	return bpf_map_lookup_elem(m->statics, &k, &v) ? 0 : v.addr;
}

static int refuse(const struct masq_maps *m, __be32 inside, __be32 outside,
		  const char *in, const char *out)
{
	struct bpfmasq_ext_addr ea;
	struct bpfmasq_config cfg;
	char a[INET_ADDRSTRLEN];
	__be32 other;
	int err;

	err = config_read(m, &cfg);
	if (err) {
		pr_err("cannot read the config: %s", strerror(-err));
		return err;
	}
	if (inside == outside) {
		pr_err("static %s %s: the inside and outside address are one",
		       in, out);
		return -EINVAL;
	}
	if (outside == cfg.ext_addr ||
	    ((cfg.flags & BPFMASQ_CFG_POOL) &&
	     !bpf_map_lookup_elem(m->ext_addrs, &outside, &ea))) {
		pr_err("static %s %s: %s is %s", in, out, out,
		       outside == cfg.ext_addr
			       ? "the masquerade's external address"
			       : "an address of the masquerade's pool");
		return -EADDRINUSE;
	}
	if (!addr_translated(m, inside)) {
		pr_err("static %s %s: %s is not an inside address (see --internal)",
		       in, out, in);
		return -EINVAL;
	}
	other = peer(m, inside, BPFMASQ_STATIC_OUT);
	if (other) {
		inet_ntop(AF_INET, &other, a, sizeof(a));
		pr_err("static %s %s: %s is static NAT to %s already", in, out,
		       in, a);
		return -EEXIST;
	}
	other = peer(m, outside, BPFMASQ_STATIC_IN);
	if (other) {
		inet_ntop(AF_INET, &other, a, sizeof(a));
		pr_err("static %s %s: %s is the outside address of %s already",
		       in, out, out, a);
		return -EEXIST;
	}
	/* One address on both sides of two statics would make a loop. */
	if (peer(m, inside, BPFMASQ_STATIC_IN) ||
	    peer(m, outside, BPFMASQ_STATIC_OUT)) {
		pr_err("static %s %s: an address of it is on the other side of another static",
		       in, out);
		return -EEXIST;
	}
	return 0;
}

static int put(const struct masq_maps *m, __be32 addr, __u8 dir, __be32 to)
{
	struct bpfmasq_static_key k = { .addr = addr, .dir = dir };
	struct bpfmasq_static v = { .addr = to };

	return bpf_map_update_elem(m->statics, &k, &v, BPF_NOEXIST) ? -errno
								    : 0;
}

static void drop(const struct masq_maps *m, __be32 addr, __u8 dir)
{
	struct bpfmasq_static_key k = { .addr = addr, .dir = dir };

	bpf_map_delete_elem(m->statics, &k);
}

int static_add(const struct masq_maps *m, __be32 inside, __be32 outside)
{
	char in[INET_ADDRSTRLEN], out[INET_ADDRSTRLEN];
	int err;

	inet_ntop(AF_INET, &inside, in, sizeof(in));
	inet_ntop(AF_INET, &outside, out, sizeof(out));
	err = refuse(m, inside, outside, in, out);
	if (err)
		return err;
	err = put(m, inside, BPFMASQ_STATIC_OUT, outside);
	if (!err) {
		err = put(m, outside, BPFMASQ_STATIC_IN, inside);
		if (err)
			drop(m, inside, BPFMASQ_STATIC_OUT);
	}
	if (!err) {
		err = flag_set(m, true);
		if (err) {
			drop(m, outside, BPFMASQ_STATIC_IN);
			drop(m, inside, BPFMASQ_STATIC_OUT);
		}
	}
	if (err)
		pr_err("cannot add static %s %s: %s", in, out,
		       err == -E2BIG ? "the table of statics is full"
				     : strerror(-err));
	return err;
}

int static_del(const struct masq_maps *m, __be32 inside, __be32 outside)
{
	char in[INET_ADDRSTRLEN], out[INET_ADDRSTRLEN];
	__be32 have = peer(m, inside, BPFMASQ_STATIC_OUT);
	int err;

	inet_ntop(AF_INET, &inside, in, sizeof(in));
	if (!have) {
		pr_err("static del %s: no static of that inside address", in);
		return -ENOENT;
	}
	if (outside && outside != have) {
		inet_ntop(AF_INET, &have, out, sizeof(out));
		pr_err("static del %s: its outside address is %s", in, out);
		return -ENOENT;
	}
	/* Inbound first: nothing comes in that could not go out again. */
	drop(m, have, BPFMASQ_STATIC_IN);
	drop(m, inside, BPFMASQ_STATIC_OUT);
	err = map_count(m->statics) ? 0 : flag_set(m, false);
	if (err)
		pr_err("cannot write the config: %s", strerror(-err));
	return err;
}

struct pair {
	__be32 inside, outside;
};

static int pair_cmp(const void *a, const void *b)
{
	__u32 x = ntohl(((const struct pair *)a)->inside);
	__u32 y = ntohl(((const struct pair *)b)->inside);

	return x < y ? -1 : x > y;
}

long statics_list(const struct masq_maps *m, __be32 **inside, __be32 **outside)
{
	struct bpfmasq_static_key *keys;
	struct bpfmasq_static *vals;
	struct pair *pairs;
	long n, i, np = 0;

	*inside = *outside = NULL;
	n = map_dump(m->statics, (void **)&keys, (void **)&vals);
	if (n < 0)
		return n;
	pairs = calloc(n ? n : 1, sizeof(*pairs));
	*inside = calloc(n ? n : 1, sizeof(**inside));
	*outside = calloc(n ? n : 1, sizeof(**outside));
	if (!pairs || !*inside || !*outside) {
		np = -ENOMEM;
		goto out;
	}
	for (i = 0; i < n; i++)
		if (keys[i].dir == BPFMASQ_STATIC_OUT)
			pairs[np++] =
				(struct pair){ keys[i].addr, vals[i].addr };
	qsort(pairs, np, sizeof(*pairs), pair_cmp);
	for (i = 0; i < np; i++) {
		(*inside)[i] = pairs[i].inside;
		(*outside)[i] = pairs[i].outside;
	}
out:
	if (np < 0) {
		free(*inside);
		free(*outside);
		*inside = *outside = NULL;
	}
	free(pairs);
	free(keys);
	free(vals);
	return np;
}
