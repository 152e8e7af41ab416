/* SPDX-License-Identifier: GPL-2.0 */
/* instance.h - attaching an instance to a WAN interface and removing it. */
#ifndef BPFMASQ_USER_INSTANCE_H
#define BPFMASQ_USER_INSTANCE_H

#include "maps.h"
#include "opts.h"

/*
 * Attach to o->ifname, or update the instance already pinned there: its
 * maps, and so every open connection, are reused. Nothing is left behind
 * on failure. Returns 0 or -errno (message printed).
 */
int instance_attach(const struct masq_opts *o);
int instance_detach(const struct masq_opts *o);
/*
 * Run @fn under the lock that serialises the commands changing state (see
 * bpffs_lock()); attach and detach take it themselves.
 */
int instance_locked(const struct masq_opts *o,
		    int (*fn)(const struct masq_opts *o));
/* Open the pinned maps of o->ifname; message and -errno if not attached. */
int open_instance(const struct masq_opts *o, struct masq_maps *m);

#endif /* BPFMASQ_USER_INSTANCE_H */
