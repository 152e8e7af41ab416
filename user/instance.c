// SPDX-License-Identifier: GPL-2.0
/*
 * instance.c - the life cycle of an instance: load the data path with its
 * maps pinned, set its state up, attach TC on the WAN egress and the
 * ingress program, and the reverse. An instance that is already pinned
 * keeps its maps: attaching again replaces the programs in place, so no
 * connection is dropped. Nothing is left behind by an attach that fails.
 */
#include <errno.h>
#include <limits.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "addrs.h"
#include "bpffs.h"
#include "bpfmasq.skel.h"
#include "config.h"
#include "fast.h"
#include "hairpin.h"
#include "hooks.h"
#include "hosts.h"
#include "instance.h"
#include "log.h"
#include "maps.h"
#include "migrate.h"
#include "netif.h"
#include "pools.h"
#include "state.h"

/* The limits map: --max-sessions-per-host (0: none). */
static int limits_write(const struct masq_maps *m, __u32 max_sessions)
{
	struct bpfmasq_limits l = { .max_sessions_per_host = max_sessions };
	__u32 zero = 0;

	return bpf_map_update_elem(m->limits, &zero, &l, BPF_ANY) ? -errno : 0;
}

/*
 * Bring the maps in line with @cfg. A new external address or port range
 * invalidates every mapping, as the kernel's masquerade flushes on an
 * address change.
 */
static int state_setup(const struct masq_maps *m,
		       const struct bpfmasq_config *old,
		       const struct bpfmasq_instance *old_inst,
		       const struct bpfmasq_config *cfg,
		       const struct bpfmasq_instance *inst,
		       const struct masq_opts *o)
{
	/*
	 * A pool keeps what is on the addresses that stay (addrs.c), as
	 * long as its first, the forwards' address, stays the first.
	 */
	bool rebuild = !old || old->ext_addr != cfg->ext_addr ||
		       !ports_equal(old_inst, inst);
	int err;

	err = addrs_check(m, o);
	if (err)
		return err;
	err = instance_write(m, inst);
	if (!err)
		err = addrs_sync(m, old, cfg, o);
	if (err)
		goto fail;
	if (!old) {
		err = config_write(m, cfg);
		if (!err)
			err = pools_ensure(m, cfg);
	} else if (rebuild) {
		pr_info("%s: address or port range changed: flushing translation state",
			o->ifname);
		err = state_reset(m, cfg, old->ext_addr);
	} else if (old->flags & BPFMASQ_CFG_FLUSHING) {
		err = state_reset(m, cfg,
				  0); /* finish a flush left unfinished */
	} else {
		err = config_write(m, cfg);
	}
	if (err)
		goto fail;
	if (o->n_internal || !old) {
		/* By default every source that is not the gateway's own. */
		static const struct cidr any = { 0, 0 };

		err = o->n_internal ? lpm_set(m->internal_nets, o->internal,
					      o->n_internal)
				    : lpm_set(m->internal_nets, &any, 1);
		if (err)
			goto fail;
	}
	/* Given, or none: the set is replaced; else it stays. */
	if (o->n_exclude) {
		err = lpm_set(m->excluded_nets, o->exclude,
			      o->n_exclude > 0 ? o->n_exclude : 0);
		if (err)
			goto fail;
	}
	err = host_addrs_sync(m, o->ifname);
	if (!err && o->max_sessions_per_host >= 0)
		err = limits_write(m, o->max_sessions_per_host);
	if (err)
		goto fail;
	return 0;
fail:
	pr_err("cannot set up the maps: %s", strerror(-err));
	return err;
}

/* Attach @prog_fd as our filter on @point (egress or ingress). */
/* Has the pinned map @name in @dir an entry? (No such pin: none.) */
static bool pinned_has_entries(const char *dir, const char *name)
{
	char path[PATH_MAX];
	__u32 key;
	int fd;
	bool any;

	if (pin_path(path, sizeof(path), dir, name))
		return false;
	fd = bpf_obj_get(path);
	if (fd < 0)
		return false;
	any = !bpf_map_get_next_key(fd, NULL, &key);
	close(fd);
	return any;
}

/*
 * The programs an attach needs: the fast path's and the hairpin's only
 * when there are (or stay) interfaces for them. Each is the whole NAT
 * over again for the verifier: not loading them saves most of the time
 * an attach takes.
 */
static void skel_autoload(struct bpfmasq *skel, const struct masq_opts *o,
			  const struct bpfmasq_config *old, const char *dir)
{
	bool lan = o->n_fast > 0 ||
		   (!o->n_fast && old && (old->flags & BPFMASQ_CFG_FAST_PATH));
	bool hairpin =
		o->n_hairpin > 0 || (!o->n_hairpin && old &&
				     pinned_has_entries(dir, "hairpin_ifaces"));

	bpf_program__set_autoload(skel->progs.bpfmasq_lan, lan);
	bpf_program__set_autoload(skel->progs.bpfmasq_hairpin, hairpin);
}

static int open_skel(struct bpfmasq **out, const struct bpfmasq_instance *inst,
		     const struct masq_opts *o,
		     const struct bpfmasq_config *old, const char *dir)
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
	skel_prepare(skel, inst);
	skel_autoload(skel, o, old, dir);
	/* Pinned maps are reused at load; new ones are pinned there. */
	bpf_object__for_each_map(map, skel->obj)
	{
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
		       log_verbose ? ""
				   : " (run with -v for the verifier's log)");
		goto fail;
	}
	*out = skel;
	return 0;
fail:
	bpfmasq__destroy(skel);
	return err;
}

/*
 * Attach the ingress program. On a re-attach (@swap) the old hook may stay
 * a moment beside the new one, and the data path must know (config flag
 * BPFMASQ_CFG_SWITCHING) to let a reply translated by the first pass the
 * second; at any other time a packet to an inside address that matches no
 * state is dropped.
 */
static int ingress_switch(const struct masq_maps *m, struct bpfmasq_config *cfg,
			  bool swap, struct bpfmasq_instance *inst,
			  bool *xdp_created, bool *hook_created,
			  const struct bpfmasq *skel, int ifindex,
			  const char *dir, int mode)
{
	int err;

	if (swap) {
		cfg->flags |= BPFMASQ_CFG_SWITCHING;
		err = config_write(m, cfg);
		if (err) {
			pr_err("cannot write the config: %s", strerror(-err));
			return err;
		}
	}
	err = ingress_attach(bpf_program__fd(skel->progs.bpfmasq_ingress),
			     bpf_program__fd(skel->progs.bpfmasq_ingress_tc),
			     ifindex, dir, mode, inst, xdp_created,
			     hook_created);
	cfg->flags &= ~BPFMASQ_CFG_SWITCHING;
	if (swap) {
		int werr = config_write(m, cfg);

		if (werr)
			pr_err("cannot end the switch of ingress hooks: %s",
			       strerror(-werr));
	}
	return err;
}

/*
 * What the instance pinned in @dir runs with, and its layout (this build's,
 * or an older one that attach upgrades).
 */
static int read_pinned(const char *dir, struct bpfmasq_config *cfg,
		       struct bpfmasq_instance *inst, __u32 *layout)
{
	struct masq_maps pm;
	__u32 zero = 0;
	int err;

	err = maps_open_pinned_layout(dir, &pm, layout);
	if (err)
		return err;
	if (*layout < MIGRATE_LAYOUT_READABLE)
		return migrate_read_record(dir, *layout, cfg, inst);
	err = bpf_map_lookup_elem(pm.instance, &zero, inst) ? -errno : 0;
	if (!err && cfg)
		err = config_read(&pm, cfg);
	if (err)
		pr_err("cannot read the pinned instance in %s: %s", dir,
		       strerror(-err));
	maps_close(&pm);
	return err;
}

static int attach_locked(const struct masq_opts *o)
{
	bool fresh, egress_hook = false, ingress_hook = false, xdp_created;
	struct bpfmasq_instance old_inst, inst;
	__u32 layout = BPFMASQ_LAYOUT_VERSION;
	struct bpfmasq_config old, cfg;
	char dir[PATH_MAX], base[PATH_MAX];
	struct bpfmasq *skel = NULL;
	struct migration mg;
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
	err = fast_check(o, ifindex);
	if (err)
		return err;
	if (pin_base(base, sizeof(base), o->bpffs) ||
	    pin_dir(dir, sizeof(dir), o->bpffs, o->ifname))
		return -ENAMETOOLONG;

	fresh = !pin_dir_exists(dir);
	if (!fresh) {
		err = read_pinned(dir, &old, &old_inst, &layout);
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
	err = migrate_prepare(&mg, dir, layout);
	if (err)
		return err;
	err = open_skel(&skel, &inst, o, fresh ? NULL : &old, dir);
	if (err)
		goto out_unpin;
	m.ctl = -1;
	m.ctl_batch = -1;
	err = maps_from_skel(skel, &m);
	if (err)
		goto out_destroy;
	err = state_setup(&m, fresh ? NULL : &old, fresh ? NULL : &old_inst,
			  &cfg, &inst, o);
	if (!err)
		err = migrate_carry(&mg, &m, &cfg);
	/*
	 * Layouts before 7 had no hosts map, 7's had no addresses in it:
	 * count the mappings into the new one.
	 */
	if (!err && !fresh && layout < 8)
		err = hosts_rebuild(&m);
	if (err)
		goto out_destroy;

	/*
	 * Replies first: a new ingress program reads what an old egress
	 * program makes, not always the other way round (an upgrade).
	 */
	err = ingress_switch(&m, &cfg, !fresh, &inst, &xdp_created,
			     &ingress_hook, skel, ifindex, dir, mode);
	if (err) {
		/* A failed switch may have left TC ingress in place: say so. */
		if (!fresh && layout == BPFMASQ_LAYOUT_VERSION)
			instance_write(&m, &inst);
		goto out_ingress;
	}
	err = tc_attach(ifindex, BPF_TC_EGRESS,
			bpf_program__fd(skel->progs.bpfmasq_egress),
			&egress_hook);
	if (err)
		goto out_ingress;
	err = fast_sync(&m, bpf_program__fd(skel->progs.bpfmasq_lan), dir, o,
			ifindex, &cfg);
	if (!err)
		err = hairpin_sync(&m,
				   bpf_program__fd(skel->progs.bpfmasq_hairpin),
				   o, ifindex);
	if (err)
		goto out_egress;
	/* A re-attach keeps the ownership recorded when it was created. */
	if (fresh && (egress_hook || ingress_hook))
		inst.flags |= BPFMASQ_INST_OWN_CLSACT;
	err = instance_write(&m, &inst);
	if (err) {
		pr_err("cannot write the instance record: %s", strerror(-err));
		goto out_egress;
	}
	migrate_finish(&mg, &m);
	ctl_close(&m);
	bpfmasq__destroy(skel);
	return 0;

out_egress:
	/* A re-attach replaced the programs in place: nothing to undo. */
	if (fresh)
		tc_detach(ifindex, BPF_TC_EGRESS);
out_ingress:
	if (fresh) {
		tc_detach(ifindex, BPF_TC_INGRESS);
		if (egress_hook || ingress_hook)
			tc_hook_destroy(ifindex);
	}
out_destroy:
	/* An upgrade that failed leaves the old record for the old programs. */
	if (!fresh && layout != BPFMASQ_LAYOUT_VERSION && m.instance >= 0)
		instance_write(&m, &old_inst);
	ctl_close(&m);
	bpfmasq__destroy(skel);
out_unpin:
	migrate_abort(&mg);
	if (fresh) {
		xdp_detach(dir);
		fast_detach_all(dir);
		hairpin_detach_pinned(dir);
		pin_dir_remove(dir);
	}
	return err;
}

/*
 * detach --force: bpfmasq's TC filters (by their handle) on both hooks,
 * its pinned XDP link and every pin, without reading a map, so that pins
 * of another version or layout can go too. Whether the clsact qdisc is
 * bpfmasq's is in the record, which is not read: it stays.
 */
static int detach_force(const struct masq_opts *o, const char *dir)
{
	int ifindex = if_nametoindex(o->ifname), err;

	if (ifindex) {
		tc_detach(ifindex, BPF_TC_EGRESS);
		tc_detach(ifindex, BPF_TC_INGRESS);
	}
	xdp_detach(dir);
	fast_detach_all(dir);
	hairpin_detach_pinned(dir);
	err = pin_dir_remove(dir);
	if (err) {
		pr_err("cannot remove %s: %s", dir, strerror(-err));
		return err;
	}
	if (ifindex)
		printf("%s: bpfmasq's filters, XDP link and pins removed; the clsact qdisc, if any, is left\n",
		       o->ifname);
	return 0;
}

static int detach_locked(const struct masq_opts *o)
{
	__u32 layout = BPFMASQ_LAYOUT_VERSION;
	struct bpfmasq_instance inst;
	char dir[PATH_MAX];
	int ifindex, err;

	err = instance_dir(dir, sizeof(dir), o->bpffs, o->ifname);
	if (err)
		return err;
	if (o->force)
		return detach_force(o, dir);
	err = read_pinned(dir, NULL, &inst, &layout);
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
	fast_detach_all(dir);
	hairpin_detach_pinned(dir);
	/* Unpinning the maps frees them, once no program uses them. */
	err = pin_dir_remove(dir);
	if (err)
		pr_err("cannot remove %s: %s", dir, strerror(-err));
	return err;
}

int instance_locked(const struct masq_opts *o,
		    int (*fn)(const struct masq_opts *o))
{
	int lock = bpffs_lock(o->bpffs), err;

	if (lock < 0)
		return lock;
	err = fn(o);
	bpffs_unlock(lock);
	return err;
}

int instance_attach(const struct masq_opts *o)
{
	int err = bpffs_ensure(o->bpffs);

	return err ? err : instance_locked(o, attach_locked);
}

int instance_detach(const struct masq_opts *o)
{
	char dir[PATH_MAX];
	int err;

	/* Not attached: say so without waiting for anyone. */
	err = instance_dir(dir, sizeof(dir), o->bpffs, o->ifname);
	return err ? err : instance_locked(o, detach_locked);
}

int open_instance(const struct masq_opts *o, struct masq_maps *m)
{
	char dir[PATH_MAX];
	int err;

	err = instance_dir(dir, sizeof(dir), o->bpffs, o->ifname);
	return err ? err : maps_open_pinned(dir, m);
}
