// SPDX-License-Identifier: GPL-2.0
/* hosts.c - the per-host counts: listed, collected, rebuilt. */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <bpf/bpf.h>

#include "hosts.h"

static int row_cmp(const void *a, const void *b)
{
	__u32 x = ntohl(((const struct host_row *)a)->addr);
	__u32 y = ntohl(((const struct host_row *)b)->addr);

	return x < y ? -1 : x > y;
}

/* Every entry of hosts as rows, sorted by address: how many, or -errno. */
static long hosts_read(const struct masq_maps *m, struct host_row **rows)
{
	struct bpfmasq_host *vals;
	__be32 *keys;
	long n, i;

	*rows = NULL;
	n = map_dump(m->hosts, (void **)&keys, (void **)&vals);
	if (n < 0)
		return n;
	*rows = calloc(n ? n : 1, sizeof(**rows));
	if (!*rows)
		n = -ENOMEM;
	for (i = 0; i < n; i++)
		(*rows)[i] = (struct host_row){ keys[i], vals[i] };
	if (n > 0)
		qsort(*rows, n, sizeof(**rows), row_cmp);
	free(keys);
	free(vals);
	return n;
}

long hosts_limited(const struct masq_maps *m, struct host_row **rows)
{
	long n = hosts_read(m, rows), i, k = 0;

	for (i = 0; i < n; i++)
		if ((*rows)[i].h.limited)
			(*rows)[k++] = (*rows)[i];
	return n < 0 ? n : k;
}

long hosts_collect(const struct masq_maps *m, __u64 now)
{
	const __u64 keep = HOSTS_KEEP_LIMITED_S * 1000000000ull;
	struct bpfmasq_ctl_args a = { .op = BPFMASQ_CTL_HOST_DROP };
	struct host_row *rows;
	long n = hosts_read(m, &rows), i, done = 0;
	int err;

	for (i = 0; i < n; i++) {
		if (rows[i].h.ports || rows[i].h.sessions ||
		    (rows[i].h.limited_ns && now - rows[i].h.limited_ns < keep))
			continue;
		a.ep.addr = rows[i].addr;
		err = ctl_run(m, &a);
		if (!err)
			done++;
		else if (err != -EBUSY && err != -ENOENT) {
			done = err;
			break;
		}
	}
	free(rows);
	return n < 0 ? n : done;
}

/* Add one to @addr's entry: its port on @ext_addr, or a session. */
static int host_add(const struct masq_maps *m, __be32 addr, __be32 ext_addr,
		    bool port)
{
	struct bpfmasq_host h;

	if (bpf_map_lookup_elem(m->hosts, &addr, &h))
		memset(&h, 0, sizeof(h));
	if (port) {
		h.ports++;
		/* Its mappings share one address (paired pooling). */
		h.ext_addr = ext_addr;
	} else {
		h.sessions++;
	}
	return bpf_map_update_elem(m->hosts, &addr, &h, BPF_ANY) ? -errno : 0;
}

int hosts_rebuild(const struct masq_maps *m)
{
	struct bpfmasq_session_key *sk = NULL;
	struct bpfmasq_endpoint *keys;
	struct bpfmasq_mapping *vals;
	struct bpfmasq_session *sv = NULL;
	long n, i;
	int err = 0;

	n = map_dump(m->mappings, (void **)&keys, (void **)&vals);
	if (n < 0)
		return n;
	for (i = 0; i < n && !err; i++)
		if (!(vals[i].flags & BPFMASQ_MAP_FORWARD))
			err = host_add(m, keys[i].addr, vals[i].ext_addr, true);
	free(keys);
	free(vals);
	n = err ? 0 : map_dump(m->sessions, (void **)&sk, (void **)&sv);
	if (n < 0)
		return n;
	for (i = 0; i < n && !err; i++)
		if (bpfmasq_host_counts(sv[i].flags))
			err = host_add(m, sk[i].inside_addr, 0, false);
	free(sk);
	free(sv);
	return err;
}
