/* SPDX-License-Identifier: GPL-2.0 */
/* attach.h - attaching an instance to a WAN interface and removing it. */
#ifndef BPFMASQ_USER_ATTACH_H
#define BPFMASQ_USER_ATTACH_H

#include "opts.h"

/*
 * Attach to o->ifname, or update the instance already pinned there: its
 * maps, and so every open connection, are reused. Nothing is left behind
 * on failure. Returns 0 or -errno (message printed).
 */
int instance_attach(const struct masq_opts *o);
int instance_detach(const struct masq_opts *o);
/*
 * Refresh what the data path knows of the gateway's own addresses (never
 * translated) and of the LAN prefixes behind it (never reached unsolicited).
 */
int host_addrs_sync(const struct masq_maps *m, const char *wan);

#endif /* BPFMASQ_USER_ATTACH_H */
