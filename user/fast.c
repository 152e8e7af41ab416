// SPDX-License-Identifier: GPL-2.0
/*
 * fast.c - the fast path's interfaces (bpf/fast.h): the LAN interfaces on
 * whose XDP hook bpfmasq_lan runs, recorded with the WAN in fast_ifaces,
 * and the config flag that lets replies take the fast path. Attach (and
 * run) sets them; a re-attach without --fast-path keeps them, with the new
 * program swapped in on their links.
 */
#include <errno.h>
#include <net/if.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <bpf/bpf.h>

#include "fast.h"
#include "hooks.h"
#include "log.h"
#include "netif.h"

int fast_list(const struct masq_maps *m, __u32 *ifindex, int max)
{
	struct bpfmasq_fast_iface f;
	__u32 key, next;
	void *prev = NULL;
	int n = 0;

	while (!bpf_map_get_next_key(m->fast_ifaces, prev, &next)) {
		key = next;
		prev = &key;
		if (!bpf_map_lookup_elem(m->fast_ifaces, &key, &f) &&
		    f.role == BPFMASQ_FAST_LAN && n < max)
			ifindex[n++] = key;
	}
	return n;
}

static bool listed(const __u32 *set, int n, __u32 ifindex)
{
	int i;

	for (i = 0; i < n; i++)
		if (set[i] == ifindex)
			return true;
	return false;
}

/* The interfaces --fast-path names, as ifindexes in @want. */
static int fast_wanted(const struct masq_opts *o, int wan_ifindex, __u32 *want,
		       bool quiet)
{
	char driver[32];
	int i;

	for (i = 0; i < o->n_fast; i++) {
		want[i] = if_nametoindex(o->fast[i]);
		if (!want[i]) {
			pr_err("unknown interface '%s' for --fast-path: %s",
			       o->fast[i], strerror(errno));
			return -ENODEV;
		}
		if ((int)want[i] == wan_ifindex) {
			pr_err("--fast-path %s: that is the WAN interface; the fast path runs between a LAN interface and it",
			       o->fast[i]);
			return -EINVAL;
		}
		if (!netif_is_ether(o->fast[i])) {
			pr_err("--fast-path %s is not an Ethernet interface",
			       o->fast[i]);
			return -EPROTONOSUPPORT;
		}
		if (!quiet &&
		    !netif_driver(o->fast[i], driver, sizeof(driver)) &&
		    !strcmp(driver, "veth"))
			pr_info("--fast-path %s is a veth: its peer must compute checksums in full (ethtool -K tx off), which XDP cannot complete",
				o->fast[i]);
	}
	return o->n_fast;
}

/*
 * Run @cmd (a fixed command line) and read its output for either needle
 * (@b may be NULL): 1 if found, 0 if not, or if the command is not there
 * to run.
 */
static int output_has(const char *cmd, const char *a, const char *b)
{
	char line[512];
	int found = 0;
	FILE *f;

	f = popen(cmd, "r");
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (strstr(line, a) || (b && strstr(line, b)))
			found = 1;
	pclose(f);
	return found;
}

/*
 * Has the gateway a firewall on forwarded packets, which the fast path
 * would bypass? A base chain on nftables' forward hook (iptables-nft's
 * FORWARD chain is one), or a rule or a policy other than ACCEPT in
 * iptables-legacy's FORWARD chain. NULL if none, else what it is.
 */
static const char *forward_rules(void)
{
	if (output_has("nft list ruleset 2>/dev/null", "hook forward", NULL))
		return "an nftables chain on the forward hook";
	if (output_has("iptables-legacy -S FORWARD 2>/dev/null", "-A FORWARD",
		       "-P FORWARD DROP"))
		return "iptables rules in the FORWARD chain";
	return NULL;
}

int fast_check(const struct masq_opts *o, int wan_ifindex)
{
	__u32 want[BPFMASQ_MAX_FAST_LANS];
	int n = o->n_fast > 0 ? fast_wanted(o, wan_ifindex, want, true) : 0;
	const char *fw;

	if (n <= 0)
		return n;
	fw = o->force ? NULL : forward_rules();
	if (fw) {
		pr_err("the gateway has %s, which the fast path would bypass: add --force to set it up all the same",
		       fw);
		return -EPERM;
	}
	return 0;
}

/* Record @want (and the WAN) in fast_ifaces, and nothing else. */
static int fast_record(const struct masq_maps *m, const __u32 *want, int n,
		       __u32 wan)
{
	struct bpfmasq_fast_iface lan = { .role = BPFMASQ_FAST_LAN },
				  wan_role = { .role = BPFMASQ_FAST_WAN };
	__u32 key, next;
	void *prev = NULL;
	int i;

	for (i = 0; i < n; i++)
		if (bpf_map_update_elem(m->fast_ifaces, &want[i], &lan,
					BPF_ANY))
			return -errno;
	if (n && bpf_map_update_elem(m->fast_ifaces, &wan, &wan_role, BPF_ANY))
		return -errno;
	while (!bpf_map_get_next_key(m->fast_ifaces, prev, &next)) {
		if ((n && next == wan) || listed(want, n, next)) {
			key = next;
			prev = &key;
			continue;
		}
		if (bpf_map_delete_elem(m->fast_ifaces, &next))
			return -errno;
		prev = NULL; /* the walk restarts after a delete */
	}
	return 0;
}

int fast_sync(const struct masq_maps *m, int prog_fd, const char *dir,
	      const struct masq_opts *o, int wan_ifindex,
	      struct bpfmasq_config *cfg)
{
	__u32 cur[BPFMASQ_MAX_FAST_LANS], want[BPFMASQ_MAX_FAST_LANS];
	bool created[BPFMASQ_MAX_FAST_LANS] = {};
	char name[IF_NAMESIZE];
	int ncur, nwant, i, err;

	ncur = fast_list(m, cur, BPFMASQ_MAX_FAST_LANS);
	if (o->n_fast > 0) {
		nwant = fast_wanted(o, wan_ifindex, want, false);
		if (nwant < 0)
			return nwant;
	} else if (o->n_fast < 0) {
		nwant = 0;
	} else {
		/* Kept, but for an interface that is gone. */
		for (i = nwant = 0; i < ncur; i++)
			if (if_indextoname(cur[i], name))
				want[nwant++] = cur[i];
			else
				pr_info("the fast path's interface %u is gone: left out",
					cur[i]);
	}
	err = fast_record(m, want, nwant, wan_ifindex);
	if (err) {
		pr_err("cannot record the fast path's interfaces: %s",
		       strerror(-err));
		return err;
	}
	for (i = 0; i < nwant; i++) {
		err = fast_attach(prog_fd, want[i], dir, &created[i]);
		if (err)
			goto undo;
	}
	for (i = 0; i < ncur; i++)
		if (!listed(want, nwant, cur[i]))
			fast_detach(dir, cur[i]);
	if (nwant)
		cfg->flags |= BPFMASQ_CFG_FAST_PATH;
	else
		cfg->flags &= ~BPFMASQ_CFG_FAST_PATH;
	err = config_write(m, cfg);
	if (err)
		pr_err("cannot write the config: %s", strerror(-err));
	return err;
undo:
	while (i--)
		if (created[i])
			fast_detach(dir, want[i]);
	fast_record(m, cur, ncur, wan_ifindex);
	return err;
}
