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

/* Every port from 1024 up that the gateway's own sockets leave free. */
static int default_port_ranges(struct bpfmasq_instance *inst)
{
	__u16 lo, hi;
	int n = 0;

	if (netif_local_port_range(&lo, &hi)) {
		lo = 32768;
		hi = 60999;
	}
	memset(inst->ports, 0, sizeof(inst->ports));
	if (lo > 1024)
		inst->ports[n++] = (struct bpfmasq_port_range){ 1024, lo - 1 };
	if (hi < 65535)
		inst->ports[n++] = (struct bpfmasq_port_range){
			hi + 1 > 1024 ? hi + 1 : 1024, 65535
		};
	if (!n) {
		pr_err("ip_local_port_range %u-%u leaves no ports for NAT: give --ports",
		       lo, hi);
		return -EINVAL;
	}
	return 0;
}

/* The NAT's ports must never be ones the gateway's own sockets pick. */
static int check_port_ranges(const struct bpfmasq_instance *inst)
{
	const struct bpfmasq_port_range *r;
	__u16 lo, hi;
	int i;

	if (netif_local_port_range(&lo, &hi))
		return 0;
	for (i = 0; i < BPFMASQ_MAX_PORT_RANGES; i++) {
		r = &inst->ports[i];
		if (!r->lo || r->lo > hi || r->hi < lo)
			continue;
		pr_err("port range %u-%u overlaps the gateway's ip_local_port_range %u-%u: choose another --ports",
		       r->lo, r->hi, lo, hi);
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
		/* Taken over in this build's layout (migrate.c). */
		inst->layout_version = BPFMASQ_LAYOUT_VERSION;
	} else {
		memset(cfg, 0, sizeof(*cfg));
		cfg->max_inbound = BPFMASQ_DEFAULT_MAX_INBOUND;
		instance_defaults(inst);
		err = default_port_ranges(inst);
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
	if (o->max_ports_per_host >= 0)
		inst->max_ports_per_host = o->max_ports_per_host;
	if (o->port_sharing == 0)
		inst->flags |= BPFMASQ_INST_NO_SHARING;
	else if (o->port_sharing == 1)
		inst->flags &= ~BPFMASQ_INST_NO_SHARING;
	if (o->n_ports) {
		memset(inst->ports, 0, sizeof(inst->ports));
		memcpy(inst->ports, o->ports, o->n_ports * sizeof(o->ports[0]));
	}
	err = check_port_ranges(inst);
	if (err)
		return err;

	if (o->n_addrs) {
		cfg->ext_addr = o->addrs[0];
		inst->flags |= BPFMASQ_INST_FIXED_ADDR;
	} else if (!old_inst || !(old_inst->flags & BPFMASQ_INST_FIXED_ADDR)) {
		cfg->ext_addr = netif_primary_addr(o->ifname);
		if (!cfg->ext_addr) {
			pr_err("%s has no IPv4 address to masquerade with: give --address",
			       o->ifname);
			return -EADDRNOTAVAIL;
		}
	}
	/* Fixed addresses are a pool, of one or more (addrs.c). */
	if (inst->flags & BPFMASQ_INST_FIXED_ADDR)
		cfg->flags |= BPFMASQ_CFG_POOL;
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
