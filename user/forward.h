/* SPDX-License-Identifier: GPL-2.0 */
/*
 * forward.h - port forwards: the forwards map (one entry per external
 * port, the CLI's alone), and what the data path and the collector make
 * of it (the ports and mappings behind it: gc.c, ctl.bpf.c).
 */
#ifndef BPFMASQ_USER_FORWARD_H
#define BPFMASQ_USER_FORWARD_H

#include <stdbool.h>

#include "maps.h"

/* A forward as given: PORT[-END] of @proto to ADDR[:PORT], --from. */
struct forward_spec {
	__u8 proto;
	__u16 lo, hi; /* external ports, host order */
	__be32 inside_addr;
	__u16 inside_port; /* host order: the first one; 0: the same as lo */
	struct cidr from; /* plen 0 and addr 0: anyone */
};

/*
 * Add the forwards of @spec: refused (one line, -errno) when a port of it
 * is forwarded already, the inside address is not translated, or the
 * gateway has a socket of its own on a port. All or nothing.
 */
int forward_add(const struct masq_maps *m, const struct forward_spec *spec);
/* Delete the forwards of @spec's ports: each must be there. */
int forward_del(const struct masq_maps *m, const struct forward_spec *spec);

/*
 * After a flush: every forward's port owned by it (state FORWARD, out of
 * the pools that are built next) and its inside endpoint's mapping on it.
 */
int forwards_install(const struct masq_maps *m,
		     const struct bpfmasq_config *cfg);

/*
 * Is forward @k (@f) in effect? Else, in @why, what it waits for. The
 * owner entry of its port on @cfg's address says.
 */
bool forward_active(const struct masq_maps *m, const struct bpfmasq_config *cfg,
		    const struct bpfmasq_instance *inst,
		    const struct bpfmasq_forward_key *k,
		    const struct bpfmasq_forward *f, char *why, size_t len);

#endif /* BPFMASQ_USER_FORWARD_H */
