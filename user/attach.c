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

/*
 * The data-path config and the instance record to run with: the attached
 * instance's (@old_cfg and @old_inst, NULL on first attach) plus options.
 */
static int config_build(const struct masq_opts *o,
			const struct bpfmasq_config *old_cfg,
			const struct bpfmasq_instance *old_inst, int ifindex,
			struct bpfmasq_config *cfg,
			struct bpfmasq_instance *inst)
{
#define TIMEOUT_DEFAULT(name, key, dflt, help) [BPFMASQ_TIMEOUT_##name] = dflt,
	static const __u32 defaults[BPFMASQ_TIMEOUT_MAX] = {
		BPFMASQ_TIMEOUTS(TIMEOUT_DEFAULT)
	};
#undef TIMEOUT_DEFAULT
	int i, err;

	if (old_cfg) {
		*cfg = *old_cfg;
		*inst = *old_inst;
	} else {
		memset(cfg, 0, sizeof(*cfg));
		memset(inst, 0, sizeof(*inst));
		inst->layout_version = BPFMASQ_LAYOUT_VERSION;
		inst->max_sessions = BPFMASQ_DEFAULT_MAX_SESSIONS;
		memcpy(inst->timeouts, defaults, sizeof(defaults));
		err = default_port_range(cfg);
		if (err)
			return err;
	}
	inst->ifindex = ifindex;

	if (o->max_sessions) {
		if (old_inst && old_inst->max_sessions != o->max_sessions) {
			pr_err("%s is attached with --max-sessions %u: detach it first to change the table size",
			       o->ifname, old_inst->max_sessions);
			return -EINVAL;
		}
		inst->max_sessions = o->max_sessions;
	}
	for (i = 0; i < BPFMASQ_TIMEOUT_MAX; i++)
		if (o->timeout[i])
			inst->timeouts[i] = o->timeout[i];
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
		inst->flags |= BPFMASQ_INST_FIXED_ADDR;
	} else if (!old_inst || !(old_inst->flags & BPFMASQ_INST_FIXED_ADDR)) {
		cfg->ext_addr = netif_primary_addr(o->ifname);
		if (!cfg->ext_addr) {
			pr_err("%s has no IPv4 address to masquerade with: give --address",
			       o->ifname);
			return -EADDRNOTAVAIL;
		}
	}
	return 0;
}

int host_addrs_sync(const struct masq_maps *m, const char *wan)
{
	__be32 addrs[BPFMASQ_MAX_LOCAL_ADDRS];
	struct cidr lans[BPFMASQ_MAX_INTERNAL];
	int n, err;

	n = netif_local_addrs(addrs, BPFMASQ_MAX_LOCAL_ADDRS);
	err = n < 0 ? n : local_addrs_set(m, addrs, n);
	if (err)
		return err;
	n = netif_lan_prefixes(wan, lans, BPFMASQ_MAX_INTERNAL);
	return n < 0 ? n : lpm_set(m->lan_nets, lans, n);
}

/*
 * Bring the maps in line with @cfg. A new external address or port range
 * invalidates every mapping, as the kernel's masquerade flushes on an
 * address change.
 */
static int state_setup(const struct masq_maps *m,
		       const struct bpfmasq_config *old,
		       const struct bpfmasq_config *cfg,
		       const struct bpfmasq_instance *inst,
		       const struct masq_opts *o)
{
	bool rebuild = !old || old->ext_addr != cfg->ext_addr ||
		       old->port_min != cfg->port_min ||
		       old->port_max != cfg->port_max;
	int err;

	err = instance_write(m, inst);
	if (!err)
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
		/* By default every source that is not the gateway's own. */
		static const struct cidr any = { 0, 0 };

		err = o->n_internal ? lpm_set(m->internal_nets, o->internal,
					      o->n_internal) :
				      lpm_set(m->internal_nets, &any, 1);
		if (err)
			goto fail;
	}
	err = host_addrs_sync(m, o->ifname);
	if (err)
		goto fail;
	return 0;
fail:
	pr_err("cannot set up the maps: %s", strerror(-err));
	return err;
}

/* Attach @prog_fd as our filter on @point (egress or ingress). */
static int tc_attach(int ifindex, enum bpf_tc_attach_point point, int prog_fd,
		     bool *hook_created)
{
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex,
		    .attach_point = point);
	LIBBPF_OPTS(bpf_tc_opts, opts, .handle = TC_HANDLE,
		    .priority = TC_PRIO, .flags = BPF_TC_F_REPLACE,
		    .prog_fd = prog_fd);
	const char *where = point == BPF_TC_EGRESS ? "egress" : "ingress";
	int err;

	*hook_created = false;
	err = bpf_tc_hook_create(&hook);
	if (!err)
		*hook_created = true;
	else if (err != -EEXIST) {
		pr_err("cannot create the clsact qdisc: %s", strerror(-err));
		return err;
	}
	err = bpf_tc_attach(&hook, &opts);
	if (err) {
		pr_err("cannot attach the TC %s program: %s", where,
		       strerror(-err));
		if (*hook_created) {
			hook.attach_point = BPF_TC_INGRESS | BPF_TC_EGRESS;
			bpf_tc_hook_destroy(&hook);
		}
		return err;
	}
	return 0;
}

static void tc_detach(int ifindex, enum bpf_tc_attach_point point)
{
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex,
		    .attach_point = point);
	LIBBPF_OPTS(bpf_tc_opts, opts, .handle = TC_HANDLE,
		    .priority = TC_PRIO);
	int err;

	err = bpf_tc_detach(&hook, &opts);
	if (err && err != -ENOENT && err != -EINVAL)
		pr_err("cannot detach the TC %s program: %s",
		       point == BPF_TC_EGRESS ? "egress" : "ingress",
		       strerror(-err));
}

static void tc_hook_destroy(int ifindex)
{
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex,
		    .attach_point = BPF_TC_INGRESS | BPF_TC_EGRESS);

	bpf_tc_hook_destroy(&hook);
}

static int xdp_link_create(int prog_fd, int ifindex, bool generic)
{
	LIBBPF_OPTS(bpf_link_create_opts, opts);
	int fd;

	opts.flags = generic ? XDP_FLAGS_SKB_MODE : XDP_FLAGS_DRV_MODE;
	fd = bpf_link_create(prog_fd, ifindex, BPF_XDP, &opts);
	if (fd < 0)
		return -errno;
	return fd;
}

/*
 * Attach XDP through a pinned link, or swap the program of the pinned
 * one. *@created tells whether a new link was made.
 */
static int xdp_attach(const struct bpfmasq *skel, int ifindex,
		      const char *dir, bool generic, bool *created)
{
	int prog_fd = bpf_program__fd(skel->progs.bpfmasq_ingress);
	char path[PATH_MAX];
	int fd, err = 0;

	*created = false;
	if (pin_path(path, sizeof(path), dir, XDP_LINK_PIN))
		return -ENAMETOOLONG;
	fd = bpf_obj_get(path);
	if (fd >= 0) {
		if (!bpf_link_update(fd, prog_fd, NULL)) {
			close(fd);
			return 0;
		}
		err = -errno;
		close(fd);
		if (err != -ENOLINK) {
			pr_err("cannot replace the XDP program: %s",
			       strerror(-err));
			return err;
		}
		/* The interface it was on is gone: start over on this one. */
		unlink(path);
	}
	fd = xdp_link_create(prog_fd, ifindex, generic);
	if (fd < 0)
		return fd; /* reported by the caller, which may fall back */
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

/*
 * Detach our XDP link now, then unpin it. Unpinning alone frees the link
 * from a work queue, a moment later, and a new XDP attachment made in
 * that moment would find the device busy.
 */
static void xdp_detach(const char *dir)
{
	char path[PATH_MAX];
	int fd;

	if (pin_path(path, sizeof(path), dir, XDP_LINK_PIN))
		return;
	fd = bpf_obj_get(path);
	if (fd >= 0) {
		if (bpf_link_detach(fd) && errno != ENOLINK)
			pr_err("cannot detach the XDP program: %s",
			       strerror(errno));
		close(fd);
	}
	unlink(path);
}

/*
 * The ingress mode to use. An explicit --mode wins; a re-attach keeps what
 * is attached. XDP cannot tell a complete checksum from one a local sender
 * left partial (offload) and veth and tun deliver both: there, replies are
 * translated at TC ingress, where the kernel's checksum helpers know.
 * MODE_AUTO: native XDP, or TC ingress where the driver has none.
 */
static int pick_mode(const struct masq_opts *o,
		     const struct bpfmasq_instance *old)
{
	char driver[32];

	if (o->mode != MODE_AUTO)
		return o->mode;
	if (old)
		return old->ingress;
	if (!netif_driver(o->ifname, driver, sizeof(driver)) &&
	    (!strcmp(driver, "veth") || !strcmp(driver, "tun")))
		return BPFMASQ_INGRESS_TC;
	return MODE_AUTO;
}

/*
 * Native and generic XDP cannot be attached at once, and a gap would send
 * replies to the gateway's stack, which answers TCP with resets. So a
 * switch between them goes through TC ingress: TC first, then the XDP link
 * goes, and the caller attaches the new one and removes TC again (a reply
 * seen by both is translated once: the second finds no state for it).
 */
static int xdp_mode_change(struct bpfmasq_instance *inst, int ifindex,
			   const char *dir, int mode, int tc_fd)
{
	bool hook_created;
	char path[PATH_MAX];
	int err;

	if (inst->ingress == BPFMASQ_INGRESS_TC ||
	    (inst->ingress == BPFMASQ_INGRESS_GENERIC) ==
		    (mode == BPFMASQ_INGRESS_GENERIC))
		return 0;
	/* No XDP link yet (first attach): nothing to change. */
	if (pin_path(path, sizeof(path), dir, XDP_LINK_PIN) ||
	    access(path, F_OK))
		return 0;
	err = tc_attach(ifindex, BPF_TC_INGRESS, tc_fd, &hook_created);
	if (err)
		return err;
	xdp_detach(dir);
	inst->ingress = BPFMASQ_INGRESS_TC;
	return 0;
}

/*
 * Attach the ingress program in @mode and remove the other kind, so that a
 * re-attach may switch modes: the new hook is in place before the old one
 * goes (a packet seen by both is translated once; the second finds no
 * state for the inside address). Records the mode in @inst.
 */
static int ingress_attach(const struct bpfmasq *skel, int ifindex,
			  const char *dir, int mode,
			  struct bpfmasq_instance *inst, bool *xdp_created,
			  bool *hook_created)
{
	int tc_fd = bpf_program__fd(skel->progs.bpfmasq_ingress_tc);
	int err = 0;

	*xdp_created = false;
	*hook_created = false;
	if (mode != BPFMASQ_INGRESS_TC) {
		err = xdp_mode_change(inst, ifindex, dir, mode, tc_fd);
		if (err)
			return err;
		err = xdp_attach(skel, ifindex, dir,
				 mode == BPFMASQ_INGRESS_GENERIC, xdp_created);
		if (!err) {
			if (inst->ingress == BPFMASQ_INGRESS_TC)
				tc_detach(ifindex, BPF_TC_INGRESS);
			inst->ingress = mode == BPFMASQ_INGRESS_GENERIC ?
						BPFMASQ_INGRESS_GENERIC :
						BPFMASQ_INGRESS_NATIVE;
			return 0;
		}
		if (err == -EBUSY || err == -EEXIST) {
			pr_err("the interface already has an XDP program attached: %s",
			       strerror(-err));
			return err;
		}
		if (mode != MODE_AUTO ||
		    (err != -EOPNOTSUPP && err != -EINVAL)) {
			pr_err("cannot attach the XDP ingress program: %s",
			       strerror(-err));
			return err;
		}
		pr_info("native XDP is not available here (%s): translating replies at TC ingress",
			strerror(-err));
	}
	err = tc_attach(ifindex, BPF_TC_INGRESS, tc_fd, hook_created);
	if (err)
		return err;
	xdp_detach(dir);
	inst->ingress = BPFMASQ_INGRESS_TC;
	return 0;
}

static int open_skel(struct bpfmasq **out,
		     const struct bpfmasq_instance *inst, const char *dir)
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
	bpf_map__set_max_entries(skel->maps.sessions, inst->max_sessions);
	bpf_map__set_max_entries(skel->maps.mappings, inst->max_sessions);
	bpf_map__set_max_entries(skel->maps.port_owners, inst->max_sessions);
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

/* What the instance pinned in @dir runs with. */
static int read_pinned(const char *dir, struct bpfmasq_config *cfg,
		       struct bpfmasq_instance *inst)
{
	struct masq_maps pm;
	int err;

	err = maps_open_pinned(dir, &pm);
	if (err)
		return err;
	err = instance_read(&pm, inst);
	if (!err && cfg)
		err = config_read(&pm, cfg);
	maps_close(&pm);
	return err;
}

int instance_attach(const struct masq_opts *o)
{
	bool fresh, egress_hook = false, ingress_hook = false, xdp_created;
	struct bpfmasq_instance old_inst, inst;
	struct bpfmasq_config old, cfg;
	char dir[PATH_MAX], base[PATH_MAX];
	struct bpfmasq *skel = NULL;
	struct masq_maps m;
	int ifindex, err, mode;

	ifindex = if_nametoindex(o->ifname);
	if (!ifindex) {
		pr_err("unknown interface '%s': %s", o->ifname,
		       strerror(errno));
		return -ENODEV;
	}
	/* Bare IP (tun, wireguard, ppp) would be misparsed, and leak. */
	if (!netif_is_ether(o->ifname)) {
		pr_err("%s is not an Ethernet interface: bpfmasq translates Ethernet frames only",
		       o->ifname);
		return -EPROTONOSUPPORT;
	}
	err = bpffs_ensure(o->bpffs);
	if (err)
		return err;
	if (pin_base(base, sizeof(base), o->bpffs) ||
	    pin_dir(dir, sizeof(dir), o->bpffs, o->ifname))
		return -ENAMETOOLONG;

	fresh = !pin_dir_exists(dir);
	if (!fresh) {
		err = read_pinned(dir, &old, &old_inst);
		if (err)
			return err;
	}
	err = config_build(o, fresh ? NULL : &old, fresh ? NULL : &old_inst,
			   ifindex, &cfg, &inst);
	if (err)
		return err;
	mode = pick_mode(o, fresh ? NULL : &old_inst);

	if ((mkdir(base, 0700) && errno != EEXIST) ||
	    (mkdir(dir, 0700) && errno != EEXIST)) {
		err = -errno;
		pr_err("cannot create %s: %s", dir, strerror(errno));
		return err;
	}
	err = open_skel(&skel, &inst, dir);
	if (err)
		goto out_unpin;
	maps_from_skel(skel, &m);
	err = state_setup(&m, fresh ? NULL : &old, &cfg, &inst, o);
	if (err)
		goto out_destroy;

	err = tc_attach(ifindex, BPF_TC_EGRESS,
			bpf_program__fd(skel->progs.bpfmasq_egress),
			&egress_hook);
	if (err)
		goto out_destroy;
	/* A re-attach keeps the ownership recorded when it was created. */
	if (fresh && egress_hook)
		inst.flags |= BPFMASQ_INST_OWN_CLSACT;
	err = ingress_attach(skel, ifindex, dir, mode, &inst, &xdp_created,
			     &ingress_hook);
	if (err) {
		/* A failed switch may have left TC ingress in place: say so. */
		if (!fresh)
			instance_write(&m, &inst);
		goto out_egress;
	}
	err = instance_write(&m, &inst);
	if (err) {
		pr_err("cannot write the instance record: %s", strerror(-err));
		goto out_ingress;
	}
	bpfmasq__destroy(skel);
	return 0;

out_ingress:
	/* A re-attach replaced the programs in place: nothing to undo. */
	if (fresh)
		tc_detach(ifindex, BPF_TC_INGRESS);
out_egress:
	if (fresh) {
		tc_detach(ifindex, BPF_TC_EGRESS);
		if (egress_hook || ingress_hook)
			tc_hook_destroy(ifindex);
	}
out_destroy:
	bpfmasq__destroy(skel);
out_unpin:
	if (fresh) {
		xdp_detach(dir);
		pin_dir_remove(dir);
	}
	return err;
}

int instance_detach(const struct masq_opts *o)
{
	struct bpfmasq_instance inst;
	char dir[PATH_MAX];
	int ifindex, err;

	err = instance_dir(dir, sizeof(dir), o->bpffs, o->ifname);
	if (err)
		return err;
	err = read_pinned(dir, NULL, &inst);
	if (err)
		return err;
	ifindex = if_nametoindex(o->ifname);
	if (ifindex) {
		tc_detach(ifindex, BPF_TC_EGRESS);
		if (inst.ingress == BPFMASQ_INGRESS_TC)
			tc_detach(ifindex, BPF_TC_INGRESS);
		if (inst.flags & BPFMASQ_INST_OWN_CLSACT)
			tc_hook_destroy(ifindex);
	}
	xdp_detach(dir);
	/* Unpinning the maps frees them, once no program uses them. */
	err = pin_dir_remove(dir);
	if (err)
		pr_err("cannot remove %s: %s", dir, strerror(-err));
	return err;
}
