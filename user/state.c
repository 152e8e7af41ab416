// SPDX-License-Identifier: GPL-2.0
/*
 * state.c - the maps the loader keeps in line with the gateway (inside and
 * LAN prefixes, the gateway's own addresses) and the flush of all
 * translation state.
 */
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "forward.h"
#include "maps.h"
#include "netif.h"
#include "pools.h"
#include "state.h"

static bool cidr_listed(const struct bpfmasq_lpm_key *k,
			const struct cidr *cidrs, int n)
{
	int i;

	for (i = 0; i < n; i++)
		if (cidrs[i].addr == k->addr && cidrs[i].plen == k->prefixlen)
			return true;
	return false;
}

int lpm_set(int fd, const struct cidr *cidrs, int n)
{
	struct bpfmasq_lpm_key key, next;
	void *prev = NULL;
	__u8 one = 1;
	int i;

	for (i = 0; i < n; i++) {
		key.prefixlen = cidrs[i].plen;
		key.addr = cidrs[i].addr;
		if (bpf_map_update_elem(fd, &key, &one, BPF_ANY))
			return -errno;
	}
	/* LPM tries have no batch operations; they are small. */
	while (!bpf_map_get_next_key(fd, prev, &next)) {
		if (!cidr_listed(&next, cidrs, n)) {
			if (bpf_map_delete_elem(fd, &next))
				return -errno;
			prev = NULL; /* the walk restarts after a delete */
			continue;
		}
		key = next;
		prev = &key;
	}
	return 0;
}

int local_addrs_set(const struct masq_maps *m, const __be32 *addrs, int n)
{
	__be32 key, next;
	void *prev = NULL;
	__u8 one = 1;
	int i;

	for (i = 0; i < n; i++)
		if (bpf_map_update_elem(m->local_addrs, &addrs[i], &one,
					BPF_ANY))
			return -errno;
	/* Then drop the addresses the gateway no longer has. */
	while (!bpf_map_get_next_key(m->local_addrs, prev, &next)) {
		for (i = 0; i < n && addrs[i] != next; i++)
			;
		if (i == n) {
			bpf_map_delete_elem(m->local_addrs, &next);
			continue; /* restart from the same predecessor */
		}
		key = next;
		prev = &key;
	}
	return 0;
}

int lpm_get(int fd, struct cidr *out, int max)
{
	struct bpfmasq_lpm_key key, next;
	void *prev = NULL;
	int n = 0;

	while (n < max && !bpf_map_get_next_key(fd, prev, &next)) {
		out[n].addr = next.addr;
		out[n].plen = next.prefixlen;
		n++;
		key = next;
		prev = &key;
	}
	return n;
}

/*
 * The inside prefixes given with --internal: a host in one is never reached
 * unsolicited either. The default, everything (0.0.0.0/0), is no prefix.
 */
static int internal_prefixes(const struct masq_maps *m, struct cidr *out,
			     int max)
{
	int n = lpm_get(m->internal_nets, out, max), i, k = 0;

	for (i = 0; i < n; i++)
		if (out[i].plen)
			out[k++] = out[i];
	return k;
}

int host_addrs_sync(const struct masq_maps *m, const char *wan)
{
	__be32 addrs[BPFMASQ_MAX_LOCAL_ADDRS];
	struct cidr lans[BPFMASQ_MAX_INTERNAL];
	int n, k, err;

	n = netif_local_addrs(addrs, BPFMASQ_MAX_LOCAL_ADDRS);
	err = n < 0 ? n : local_addrs_set(m, addrs, n);
	if (err)
		return err;
	/* Connected LANs, the networks routed through them, --internal. */
	n = netif_lan_prefixes(wan, lans, BPFMASQ_MAX_INTERNAL);
	if (n < 0)
		return n;
	k = netif_lan_routes(wan, lans + n, BPFMASQ_MAX_INTERNAL - n);
	if (k < 0)
		return k;
	n += k;
	n += internal_prefixes(m, lans + n, BPFMASQ_MAX_INTERNAL - n);
	return lpm_set(m->lan_nets, lans, n);
}

/*
 * How long a program that read the config before it was changed may still
 * be running: a BPF run is a few microseconds and cannot sleep.
 */
#define SETTLE_US 20000

int state_reset(const struct masq_maps *m, const struct bpfmasq_config *cfg,
		__be32 old_addr)
{
	int fds[] = { m->sessions, m->mappings, m->port_owners, m->frags,
		      m->hosts };
	struct bpfmasq_config c = *cfg;
	size_t i;
	long n;
	int err;

	/* First nothing new is made; then nothing is half made. */
	c.flags |= BPFMASQ_CFG_FLUSHING;
	err = config_write(m, &c);
	if (err)
		return err;
	usleep(SETTLE_US);
	for (i = 0; i < sizeof(fds) / sizeof(fds[0]); i++) {
		n = map_clear(fds[i]);
		if (n < 0)
			return n;
	}
	if (old_addr && old_addr != cfg->ext_addr) {
		err = pools_delete(m, old_addr);
		if (err)
			return err;
	}
	/* The forwards' ports first: the pools are built around them. */
	err = forwards_install(m, cfg);
	if (err)
		return err;
	err = pools_flush(m, cfg);
	if (!err)
		err = misses_forget(m);
	if (err)
		return err;
	c.flags &= ~BPFMASQ_CFG_FLUSHING;
	return config_write(m, &c);
}

int misses_forget(const struct masq_maps *m)
{
	int ncpu = libbpf_num_possible_cpus();
	struct bpfmasq_share_miss *zero;
	__u32 slot;
	int err = 0;

	if (ncpu <= 0)
		return ncpu ? ncpu : -EINVAL;
	zero = calloc(ncpu, sizeof(*zero));
	if (!zero)
		return -ENOMEM;
	for (slot = 0; slot < BPFMASQ_SHARE_MISS_SLOTS && !err; slot++)
		if (bpf_map_update_elem(m->share_misses, &slot, zero, BPF_ANY))
			err = -errno;
	free(zero);
	return err;
}

int state_flush(const struct masq_maps *m)
{
	struct bpfmasq_config cfg;
	int err = config_read(m, &cfg);

	return err ? err : state_reset(m, &cfg, 0);
}
