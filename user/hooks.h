/* SPDX-License-Identifier: GPL-2.0 */
/* hooks.h - attaching and removing the programs on the WAN interface. */
#ifndef BPFMASQ_USER_HOOKS_H
#define BPFMASQ_USER_HOOKS_H

#include <stdbool.h>
#include <bpf/libbpf.h>

#include "bpfmasq.h"

/* --mode not given: native XDP, or TC ingress where that is not right. */
#define MODE_AUTO (-1)

/*
 * Attach @prog_fd as our filter on @point, creating the clsact qdisc if
 * there is none (*@hook_created says so). Message printed on failure.
 */
int tc_attach(int ifindex, enum bpf_tc_attach_point point, int prog_fd,
	      bool *hook_created);
void tc_detach(int ifindex, enum bpf_tc_attach_point point);
/* Remove the clsact qdisc, with whatever filters are left on it. */
void tc_hook_destroy(int ifindex);
/* Detach the XDP link pinned in @dir, now, and unpin it. */
void xdp_detach(const char *dir);

/*
 * The fast path's program @prog_fd on the XDP hook of LAN interface
 * @ifindex, through a link pinned in @dir (native XDP, else generic); a
 * pinned one gets the new program. *@created says whether it is new.
 */
int fast_attach(int prog_fd, int ifindex, const char *dir, bool *created);
/* Detach and unpin the fast path's link on @ifindex; every one in @dir. */
void fast_detach(const char *dir, int ifindex);
void fast_detach_all(const char *dir);

/*
 * Translate replies in @mode (enum bpfmasq_ingress, or MODE_AUTO) with the
 * XDP program @xdp_fd or the TC one @tc_fd, removing the other kind; a
 * re-attach switches modes this way without a gap. The mode attached is
 * recorded in @inst->ingress.
 */
int ingress_attach(int xdp_fd, int tc_fd, int ifindex, const char *dir,
		   int mode, struct bpfmasq_instance *inst, bool *xdp_created,
		   bool *hook_created);

#endif /* BPFMASQ_USER_HOOKS_H */
