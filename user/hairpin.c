// SPDX-License-Identifier: GPL-2.0
/*
 * hairpin.c - the --hairpin LAN interfaces (bpf/hairpin.h): bpfmasq_hairpin
 * on each one's TC ingress, under bpfmasq's filter handle, recorded in
 * hairpin_ifaces with whether the loader made the clsact qdisc. Attach
 * (and run) sets them; a re-attach without --hairpin keeps them, the new
 * program swapped in on their filters.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>

#include "hairpin.h"
#include "hooks.h"
#include "log.h"
#include "netif.h"

/* One recorded interface. */
struct hp_iface {
	__u32 ifindex;
	struct bpfmasq_hairpin_iface rec;
};

/* The interfaces recorded in map @fd, up to @max, into @out. */
static int hp_read(int fd, struct hp_iface *out, int max)
{
	__u32 key, next;
	void *prev = NULL;
	int n = 0;

	while (n < max && !bpf_map_get_next_key(fd, prev, &next)) {
		key = next;
		prev = &key;
		if (!bpf_map_lookup_elem(fd, &key, &out[n].rec))
			out[n++].ifindex = key;
	}
	return n;
}

int hairpin_list(const struct masq_maps *m, __u32 *ifindex, int max)
{
	struct hp_iface cur[BPFMASQ_MAX_HAIRPIN_LANS];
	int n = hp_read(m->hairpin_ifaces, cur, BPFMASQ_MAX_HAIRPIN_LANS), i;

	for (i = 0; i < n && i < max; i++)
		ifindex[i] = cur[i].ifindex;
	return i;
}

/* Take bpfmasq_hairpin off interface @h, and its qdisc if ours. */
static void hp_detach(const struct hp_iface *h)
{
	tc_detach(h->ifindex, BPF_TC_INGRESS);
	if (h->rec.flags & BPFMASQ_HAIRPIN_OWN_CLSACT)
		tc_hook_destroy(h->ifindex);
}

static const struct hp_iface *hp_find(const struct hp_iface *set, int n,
				      __u32 ifindex)
{
	int i;

	for (i = 0; i < n; i++)
		if (set[i].ifindex == ifindex)
			return &set[i];
	return NULL;
}

/* The interfaces @o names, into @want (ifindex only): their number. */
static int hp_wanted(const struct masq_opts *o, int wan_ifindex,
		     struct hp_iface *want)
{
	int i;

	for (i = 0; i < o->n_hairpin; i++) {
		want[i] = (struct hp_iface){ .ifindex = if_nametoindex(
						     o->hairpin[i]) };
		if (!want[i].ifindex) {
			pr_err("unknown interface '%s' for --hairpin: %s",
			       o->hairpin[i], strerror(errno));
			return -ENODEV;
		}
		if ((int)want[i].ifindex == wan_ifindex) {
			pr_err("--hairpin %s: that is the WAN interface; hairpinning is for the LAN side",
			       o->hairpin[i]);
			return -EINVAL;
		}
		if (!netif_is_ether(o->hairpin[i])) {
			pr_err("--hairpin %s is not an Ethernet interface",
			       o->hairpin[i]);
			return -EPROTONOSUPPORT;
		}
	}
	return o->n_hairpin;
}

/* Keep @cur, but for interfaces that are gone. */
static int hp_kept(const struct hp_iface *cur, int ncur, struct hp_iface *want)
{
	char name[IF_NAMESIZE];
	int i, n = 0;

	for (i = 0; i < ncur; i++) {
		if (if_indextoname(cur[i].ifindex, name))
			want[n++] = cur[i];
		else
			pr_info("the hairpin interface %u is gone: left out",
				cur[i].ifindex);
	}
	return n;
}

int hairpin_sync(const struct masq_maps *m, int prog_fd,
		 const struct masq_opts *o, int wan_ifindex)
{
	struct hp_iface cur[BPFMASQ_MAX_HAIRPIN_LANS];
	struct hp_iface want[BPFMASQ_MAX_HAIRPIN_LANS];
	const struct hp_iface *had;
	int ncur, nwant, i, err = 0;
	bool created;

	ncur = hp_read(m->hairpin_ifaces, cur, BPFMASQ_MAX_HAIRPIN_LANS);
	if (o->n_hairpin > 0)
		nwant = hp_wanted(o, wan_ifindex, want);
	else
		nwant = o->n_hairpin < 0 ? 0 : hp_kept(cur, ncur, want);
	if (nwant < 0)
		return nwant;
	for (i = 0; i < nwant; i++) {
		err = tc_attach(want[i].ifindex, BPF_TC_INGRESS, prog_fd,
				&created);
		if (err)
			goto undo;
		had = hp_find(cur, ncur, want[i].ifindex);
		want[i].rec.flags = had	      ? had->rec.flags
				    : created ? BPFMASQ_HAIRPIN_OWN_CLSACT
					      : 0;
		if (bpf_map_update_elem(m->hairpin_ifaces, &want[i].ifindex,
					&want[i].rec, BPF_ANY)) {
			err = -errno;
			pr_err("cannot record the hairpin interface %u: %s",
			       want[i].ifindex, strerror(errno));
			i++;
			goto undo;
		}
	}
	for (i = 0; i < ncur; i++) {
		if (hp_find(want, nwant, cur[i].ifindex))
			continue;
		hp_detach(&cur[i]);
		bpf_map_delete_elem(m->hairpin_ifaces, &cur[i].ifindex);
	}
	return 0;
undo:
	/* Those that were not there before go again. */
	while (i--) {
		if (hp_find(cur, ncur, want[i].ifindex))
			continue;
		hp_detach(&want[i]);
		bpf_map_delete_elem(m->hairpin_ifaces, &want[i].ifindex);
	}
	return err;
}

void hairpin_detach_pinned(const char *dir)
{
	struct hp_iface cur[BPFMASQ_MAX_HAIRPIN_LANS];
	char path[PATH_MAX];
	int fd, n, i;

	struct bpf_map_info info = {};
	__u32 len = sizeof(info);

	snprintf(path, sizeof(path), "%s/hairpin_ifaces", dir);
	fd = bpf_obj_get(path);
	if (fd < 0)
		return; /* an older layout's: none */
	/* Read only a record of this layout's (detach --force reads any). */
	n = bpf_obj_get_info_by_fd(fd, &info, &len) ||
			    info.key_size != sizeof(__u32) ||
			    info.value_size != sizeof(cur[0].rec)
		    ? 0
		    : hp_read(fd, cur, BPFMASQ_MAX_HAIRPIN_LANS);
	for (i = 0; i < n; i++)
		hp_detach(&cur[i]);
	close(fd);
}
