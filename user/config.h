/* SPDX-License-Identifier: GPL-2.0 */
/* config.h - the config and instance record an attach runs with. */
#ifndef BPFMASQ_USER_CONFIG_H
#define BPFMASQ_USER_CONFIG_H

#include "bpfmasq.h"
#include "opts.h"

/* A new instance's record: this layout, the default size and timeouts. */
void instance_defaults(struct bpfmasq_instance *inst);
/*
 * The data-path config and the instance record to run with: the attached
 * instance's (@old_cfg and @old_inst, NULL on first attach) plus options.
 * -errno, with a message printed, when they do not fit the gateway.
 */
int config_build(const struct masq_opts *o,
		 const struct bpfmasq_config *old_cfg,
		 const struct bpfmasq_instance *old_inst, int ifindex,
		 struct bpfmasq_config *cfg, struct bpfmasq_instance *inst);
/* The ingress mode to attach in (see hooks.h): enum bpfmasq_ingress or MODE_AUTO. */
int pick_mode(const struct masq_opts *o, const struct bpfmasq_instance *old);

#endif /* BPFMASQ_USER_CONFIG_H */
