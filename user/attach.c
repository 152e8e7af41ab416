// SPDX-License-Identifier: GPL-2.0
/*
 * attach.c - load the data path with its maps pinned, configure it, attach
 * TC on the WAN egress and XDP on the WAN ingress; and the reverse. An
 * instance that is already pinned keeps its maps: attaching again replaces
 * the programs in place, so no connection is dropped.
 */
#include <errno.h>
#include <limits.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <arpa/inet.h>
#include <linux/if_link.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "attach.h"
#include "bpffs.h"
#include "bpfmasq.skel.h"
#include "log.h"
#include "maps.h"
#include "netif.h"

/* Our TC filter's identity on the egress hook, so that we replace only it. */
#define TC_HANDLE 0x6d61
#define TC_PRIO 0x6d61
#define XDP_LINK_PIN "xdp_link"

static int default_port_range(struct bpfmasq_config *cfg)
{
	__u16 lo, hi;

	if (netif_local_port_range(&lo, &hi)) {
		lo = 32768;
		hi = 60999;
	}
	/* The larger of the two ranges the gateway's own sockets leave free. */
	if (lo - 1024 >= 65535 - hi) {
		cfg->port_min = 1024;
		cfg->port_max = lo - 1;
	} else {
		cfg->port_min = hi + 1;
		cfg->port_max = 65535;
	}
	if (cfg->port_min > cfg->port_max) {
		pr_err("ip_local_port_range %u-%u leaves no ports for NAT: give --ports",
		       lo, hi);
		return -EINVAL;
	}
	return 0;
}

/* The NAT's ports must never be ones the gateway's own sockets pick. */
static int check_port_range(const struct bpfmasq_config *cfg)
{
	__u16 lo, hi;

	if (netif_local_port_range(&lo, &hi))
		return 0;
	if (cfg->port_min <= hi && cfg->port_max >= lo) {
		pr_err("port range %u-%u overlaps the gateway's ip_local_port_range %u-%u: choose another --ports",
		       cfg->port_min, cfg->port_max, lo, hi);
		return -EINVAL;
	}
	return 0;
}

/* The configuration to run with: @old (NULL on first attach) plus options. */
static int config_build(const struct masq_opts *o,
			const struct bpfmasq_config *old, int ifindex,
			struct bpfmasq_config *cfg)
{
	static const __u32 defaults[TIMEOUT_MAX] = {
		BPFMASQ_TIMEOUT_TCP_EST, BPFMASQ_TIMEOUT_TCP_TRANS,
		BPFMASQ_TIMEOUT_UDP, BPFMASQ_TIMEOUT_ICMP
	};
	__u32 *timeouts[TIMEOUT_MAX] = { &cfg->timeout_tcp_est,
					 &cfg->timeout_tcp_trans,
					 &cfg->timeout_udp, &cfg->timeout_icmp };
	int i, err;

	if (old) {
		*cfg = *old;
	} else {
		memset(cfg, 0, sizeof(*cfg));
		cfg->max_sessions = BPFMASQ_DEFAULT_MAX_SESSIONS;
		for (i = 0; i < TIMEOUT_MAX; i++)
			*timeouts[i] = defaults[i];
		err = default_port_range(cfg);
		if (err)
			return err;
	}
	cfg->ifindex = ifindex;

	if (o->max_sessions) {
		if (old && old->max_sessions != o->max_sessions) {
			pr_err("%s is attached with --max-sessions %u: detach it first to change the table size",
			       o->ifname, old->max_sessions);
			return -EINVAL;
		}
		cfg->max_sessions = o->max_sessions;
	}
	for (i = 0; i < TIMEOUT_MAX; i++)
		if (o->timeout[i])
			*timeouts[i] = o->timeout[i];
	if (o->filtering >= 0)
		cfg->filtering = o->filtering;
	if (o->have_ports) {
		cfg->port_min = o->port_min;
		cfg->port_max = o->port_max;
	}
	err = check_port_range(cfg);
	if (err)
		return err;

	if (o->have_address) {
		cfg->ext_addr = o->address;
		cfg->flags |= BPFMASQ_CFG_FIXED_ADDR;
	} else if (!old || !(old->flags & BPFMASQ_CFG_FIXED_ADDR)) {
		cfg->ext_addr = netif_primary_addr(o->ifname);
		if (!cfg->ext_addr) {
			pr_err("%s has no IPv4 address to masquerade with: give --address",
			       o->ifname);
			return -EADDRNOTAVAIL;
		}
	}
	return 0;
}

/*
 * Bring the maps in line with @cfg. A new external address or port range
 * invalidates every mapping, as the kernel's masquerade flushes on an
 * address change.
 */
static int state_setup(const struct masq_maps *m,
		       const struct bpfmasq_config *old,
		       const struct bpfmasq_config *cfg,
		       const struct masq_opts *o)
{
	__be32 addrs[BPFMASQ_MAX_LOCAL_ADDRS];
	bool rebuild = !old || old->ext_addr != cfg->ext_addr ||
		       old->port_min != cfg->port_min ||
		       old->port_max != cfg->port_max;
	int i, n, err;

	err = config_write(m, cfg);
	if (err)
		goto fail;
	if (rebuild) {
		if (old) {
			pr_info("%s: address or port range changed: flushing translation state",
				o->ifname);
			err = pools_delete(m, old->ext_addr);
			if (!err)
				err = state_flush(m);
		} else {
			err = pools_create(m, cfg);
		}
		if (err)
			goto fail;
	}
	if (o->n_internal || !old) {
		err = internal_clear(m);
		for (i = 0; !err && i < o->n_internal; i++)
			err = internal_add(m, o->internal[i].addr,
					   o->internal[i].plen);
		/* By default every source that is not the gateway's own. */
		if (!err && !o->n_internal)
			err = internal_add(m, 0, 0);
		if (err)
			goto fail;
	}
	n = netif_local_addrs(addrs, BPFMASQ_MAX_LOCAL_ADDRS);
	err = n < 0 ? n : local_addrs_set(m, addrs, n);
	if (err)
		goto fail;
	return 0;
fail:
	pr_err("cannot set up the maps: %s", strerror(-err));
	return err;
}

static int tc_attach(const struct bpfmasq *skel, int ifindex, bool fresh,
		     bool *hook_created)
{
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex,
		    .attach_point = BPF_TC_EGRESS);
	LIBBPF_OPTS(bpf_tc_opts, opts, .handle = TC_HANDLE,
		    .priority = TC_PRIO, .flags = BPF_TC_F_REPLACE,
		    .prog_fd = bpf_program__fd(skel->progs.bpfmasq_egress));
	int err;

	*hook_created = false;
	err = bpf_tc_hook_create(&hook);
	if (!err && fresh)
		*hook_created = true;
	else if (err && err != -EEXIST) {
		pr_err("cannot create the clsact qdisc on ifindex %d: %s",
		       ifindex, strerror(-err));
		return err;
	}
	err = bpf_tc_attach(&hook, &opts);
	if (err) {
		pr_err("cannot attach the TC egress program: %s",
		       strerror(-err));
		if (*hook_created)
			bpf_tc_hook_destroy(&hook);
		return err;
	}
	return 0;
}

static void tc_detach(int ifindex, bool destroy_hook)
{
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex,
		    .attach_point = BPF_TC_EGRESS);
	LIBBPF_OPTS(bpf_tc_opts, opts, .handle = TC_HANDLE,
		    .priority = TC_PRIO);
	int err;

	err = bpf_tc_detach(&hook, &opts);
	if (err && err != -ENOENT)
		pr_err("cannot detach the TC egress program: %s",
		       strerror(-err));
	if (destroy_hook) {
		hook.attach_point = BPF_TC_INGRESS | BPF_TC_EGRESS;
		bpf_tc_hook_destroy(&hook);
	}
}

static int xdp_link_create(int prog_fd, int ifindex, enum xdp_mode mode,
			   bool *generic)
{
	LIBBPF_OPTS(bpf_link_create_opts, opts);
	int fd;

	opts.flags = mode == XDP_MODE_GENERIC ? XDP_FLAGS_SKB_MODE :
						XDP_FLAGS_DRV_MODE;
	fd = bpf_link_create(prog_fd, ifindex, BPF_XDP, &opts);
	if (fd < 0 && mode == XDP_MODE_AUTO &&
	    (errno == EOPNOTSUPP || errno == EINVAL)) {
		pr_info("native XDP is not available here (%s): using generic XDP",
			strerror(errno));
		opts.flags = XDP_FLAGS_SKB_MODE;
		fd = bpf_link_create(prog_fd, ifindex, BPF_XDP, &opts);
	}
	if (fd < 0) {
		int err = -errno;

		if (errno == EBUSY || errno == EEXIST)
			pr_err("the interface already has an XDP program attached: %s",
			       strerror(errno));
		else
			pr_err("cannot attach the XDP ingress program: %s",
			       strerror(errno));
		return err;
	}
	*generic = opts.flags == XDP_FLAGS_SKB_MODE;
	return fd;
}

/* Attach XDP through a pinned link, or swap the program of the pinned one. */
static int xdp_attach(const struct bpfmasq *skel, int ifindex,
		      const char *dir, enum xdp_mode mode, bool *created,
		      bool *generic)
{
	int prog_fd = bpf_program__fd(skel->progs.bpfmasq_ingress);
	char path[PATH_MAX];
	int fd, err = 0;

	*created = false;
	if (pin_path(path, sizeof(path), dir, XDP_LINK_PIN))
		return -ENAMETOOLONG;
	fd = bpf_obj_get(path);
	if (fd >= 0) {
		if (bpf_link_update(fd, prog_fd, NULL)) {
			err = -errno;
			pr_err("cannot replace the XDP program: %s",
			       strerror(errno));
		}
		close(fd);
		return err;
	}
	fd = xdp_link_create(prog_fd, ifindex, mode, generic);
	if (fd < 0)
		return fd;
	if (bpf_obj_pin(fd, path)) {
		err = -errno;
		pr_err("cannot pin the XDP link at %s: %s", path,
		       strerror(errno));
	} else {
		*created = true;
	}
	close(fd); /* detaches, unless pinned */
	return err;
}

static int open_skel(struct bpfmasq **out, const struct bpfmasq_config *cfg,
		     const char *dir)
{
	struct bpfmasq *skel = bpfmasq__open();
	struct bpf_map *map;
	char path[PATH_MAX];
	int err;

	if (!skel) {
		err = -errno;
		pr_err("cannot open the BPF object: %s", strerror(errno));
		return err;
	}
	bpf_map__set_max_entries(skel->maps.sessions, cfg->max_sessions);
	bpf_map__set_max_entries(skel->maps.mappings, cfg->max_sessions);
	bpf_map__set_max_entries(skel->maps.port_owners, cfg->max_sessions);
	/* Pinned maps are reused at load; new ones are pinned there. */
	bpf_object__for_each_map(map, skel->obj) {
		if (bpf_map__is_internal(map))
			continue;
		err = pin_path(path, sizeof(path), dir, bpf_map__name(map));
		if (!err)
			err = bpf_map__set_pin_path(map, path);
		if (err)
			goto fail;
	}
	err = bpfmasq__load(skel);
	if (err) {
		pr_err("cannot load the BPF programs: %s%s", strerror(-err),
		       log_verbose ? "" : " (run with -v for the verifier's log)");
		goto fail;
	}
	*out = skel;
	return 0;
fail:
	bpfmasq__destroy(skel);
	return err;
}

static int read_pinned_config(const char *dir, struct bpfmasq_config *cfg)
{
	struct masq_maps pm;
	int err;

	err = maps_open_pinned(dir, &pm);
	if (err)
		return err;
	err = config_read(&pm, cfg);
	maps_close(&pm);
	return err;
}

int instance_attach(const struct masq_opts *o)
{
	struct bpfmasq_config old, cfg;
	bool fresh, hook_created = false, xdp_created = false, generic = false;
	char dir[PATH_MAX], base[PATH_MAX];
	struct bpfmasq *skel = NULL;
	struct masq_maps m;
	int ifindex, err;

	ifindex = if_nametoindex(o->ifname);
	if (!ifindex) {
		pr_err("unknown interface '%s': %s", o->ifname,
		       strerror(errno));
		return -ENODEV;
	}
	err = bpffs_ensure(o->bpffs);
	if (err)
		return err;
	if (pin_base(base, sizeof(base), o->bpffs) ||
	    pin_dir(dir, sizeof(dir), o->bpffs, o->ifname))
		return -ENAMETOOLONG;

	fresh = !pin_dir_exists(dir);
	if (!fresh) {
		err = read_pinned_config(dir, &old);
		if (err)
			return err;
	}
	err = config_build(o, fresh ? NULL : &old, ifindex, &cfg);
	if (err)
		return err;

	if ((mkdir(base, 0700) && errno != EEXIST) ||
	    (mkdir(dir, 0700) && errno != EEXIST)) {
		err = -errno;
		pr_err("cannot create %s: %s", dir, strerror(errno));
		return err;
	}
	err = open_skel(&skel, &cfg, dir);
	if (err)
		goto out_unpin;
	maps_from_skel(skel, &m);
	err = state_setup(&m, fresh ? NULL : &old, &cfg, o);
	if (err)
		goto out_destroy;

	err = tc_attach(skel, ifindex, fresh, &hook_created);
	if (err)
		goto out_destroy;
	if (hook_created)
		cfg.flags |= BPFMASQ_CFG_OWN_CLSACT;
	err = xdp_attach(skel, ifindex, dir, o->mode, &xdp_created, &generic);
	if (err)
		goto out_tc;
	if (xdp_created) {
		cfg.flags &= ~BPFMASQ_CFG_XDP_GENERIC;
		if (generic)
			cfg.flags |= BPFMASQ_CFG_XDP_GENERIC;
	}
	err = config_write(&m, &cfg);
	if (err) {
		pr_err("cannot write the config: %s", strerror(-err));
		goto out_tc;
	}
	bpfmasq__destroy(skel);
	return 0;

out_tc:
	/* A re-attach replaced the programs in place: nothing to undo. */
	if (fresh)
		tc_detach(ifindex, hook_created);
out_destroy:
	bpfmasq__destroy(skel);
out_unpin:
	if (fresh)
		pin_dir_remove(dir);
	return err;
}

int instance_detach(const struct masq_opts *o)
{
	struct bpfmasq_config cfg;
	char dir[PATH_MAX];
	int ifindex, err;

	if (pin_dir(dir, sizeof(dir), o->bpffs, o->ifname))
		return -ENAMETOOLONG;
	if (!pin_dir_exists(dir)) {
		pr_err("%s: not attached (nothing pinned in %s)", o->ifname,
		       dir);
		return -ENOENT;
	}
	err = read_pinned_config(dir, &cfg);
	if (err)
		return err;
	ifindex = if_nametoindex(o->ifname);
	if (ifindex)
		tc_detach(ifindex, cfg.flags & BPFMASQ_CFG_OWN_CLSACT);
	/* Unpinning the XDP link detaches it; unpinning the maps frees them. */
	err = pin_dir_remove(dir);
	if (err)
		pr_err("cannot remove %s: %s", dir, strerror(-err));
	return err;
}
