// SPDX-License-Identifier: GPL-2.0
/*
 * config.c - what an instance runs with: the attached instance's config and
 * record, or the defaults, changed by the options and checked against the
 * gateway (its port range, its address, its driver).
 */
#include <errno.h>
#include <string.h>

#include "config.h"
#include "hooks.h"
#include "log.h"
#include "netif.h"

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

void instance_defaults(struct bpfmasq_instance *inst)
{
#define TIMEOUT_DEFAULT(name, opt, key, dflt, what)                            \
	[BPFMASQ_TIMEOUT_##name] = dflt,
	static const __u32 defaults[BPFMASQ_TIMEOUT_MAX] = { BPFMASQ_TIMEOUTS(
		TIMEOUT_DEFAULT) };
#undef TIMEOUT_DEFAULT

	memset(inst, 0, sizeof(*inst));
	inst->layout_version = BPFMASQ_LAYOUT_VERSION;
	inst->max_sessions = BPFMASQ_DEFAULT_MAX_SESSIONS;
	memcpy(inst->timeouts, defaults, sizeof(defaults));
}

/*
 * The data-path config and the instance record to run with: the attached
 * instance's (@old_cfg and @old_inst, NULL on first attach) plus options.
 */
int config_build(const struct masq_opts *o,
		 const struct bpfmasq_config *old_cfg,
		 const struct bpfmasq_instance *old_inst, int ifindex,
		 struct bpfmasq_config *cfg, struct bpfmasq_instance *inst)
{
	int i, err;

	if (old_cfg) {
		*cfg = *old_cfg;
		*inst = *old_inst;
	} else {
		memset(cfg, 0, sizeof(*cfg));
		cfg->max_inbound = BPFMASQ_DEFAULT_MAX_INBOUND;
		instance_defaults(inst);
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
	if (o->max_inbound)
		cfg->max_inbound = o->max_inbound;
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

/*
 * The ingress mode to use. An explicit --mode wins; a re-attach keeps what
 * is attached. XDP cannot tell a complete checksum from one a local sender
 * left partial (offload) and veth and tun deliver both: there, replies are
 * translated at TC ingress, where the kernel's checksum helpers know.
 * MODE_AUTO: native XDP, or TC ingress where the driver has none.
 */
int pick_mode(const struct masq_opts *o, const struct bpfmasq_instance *old)
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
