// SPDX-License-Identifier: GPL-2.0
/*
 * hooks.c - the programs on the WAN interface: our TC filters (egress, and
 * ingress in TC mode) on its clsact qdisc, the XDP link pinned beside the
 * maps, and switching the ingress mode in place without a gap.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <linux/if_link.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "bpffs.h"
#include "hooks.h"
#include "log.h"

/* Our TC filter's identity on the egress hook, so that we replace only it. */
#define TC_HANDLE 0x6d61
#define TC_PRIO 0x6d61
#define XDP_LINK_PIN "xdp_link"
/* Followed by the LAN interface's ifindex. */
#define FAST_LINK_PIN "fast_link_"

int tc_attach(int ifindex, enum bpf_tc_attach_point point, int prog_fd,
	      bool *hook_created)
{
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex,
		    .attach_point = point);
	LIBBPF_OPTS(bpf_tc_opts, opts, .handle = TC_HANDLE, .priority = TC_PRIO,
		    .flags = BPF_TC_F_REPLACE, .prog_fd = prog_fd);
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

void tc_detach(int ifindex, enum bpf_tc_attach_point point)
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

void tc_hook_destroy(int ifindex)
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
static int xdp_attach_pin(int prog_fd, int ifindex, const char *dir,
			  const char *pin, bool generic, bool *created)
{
	char path[PATH_MAX];
	int fd, err = 0;

	*created = false;
	if (pin_path(path, sizeof(path), dir, pin))
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
static void xdp_detach_pin(const char *dir, const char *pin)
{
	char path[PATH_MAX];
	int fd;

	if (pin_path(path, sizeof(path), dir, pin))
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

void xdp_detach(const char *dir)
{
	xdp_detach_pin(dir, XDP_LINK_PIN);
}

static int xdp_attach(int prog_fd, int ifindex, const char *dir, bool generic,
		      bool *created)
{
	return xdp_attach_pin(prog_fd, ifindex, dir, XDP_LINK_PIN, generic,
			      created);
}

/* The pin of the fast path's XDP link on LAN interface @ifindex. */
static void fast_pin(char *pin, size_t len, int ifindex)
{
	snprintf(pin, len, "%s%d", FAST_LINK_PIN, ifindex);
}

int fast_attach(int prog_fd, int ifindex, const char *dir, bool *created)
{
	char pin[32];
	int err;

	fast_pin(pin, sizeof(pin), ifindex);
	err = xdp_attach_pin(prog_fd, ifindex, dir, pin, false, created);
	if (err == -EOPNOTSUPP || err == -EINVAL) {
		pr_info("native XDP is not available on ifindex %d (%s): generic XDP for its fast path",
			ifindex, strerror(-err));
		err = xdp_attach_pin(prog_fd, ifindex, dir, pin, true, created);
	}
	if (err)
		pr_err("cannot attach the fast path to ifindex %d: %s", ifindex,
		       strerror(-err));
	return err;
}

void fast_detach(const char *dir, int ifindex)
{
	char pin[32];

	fast_pin(pin, sizeof(pin), ifindex);
	xdp_detach_pin(dir, pin);
}

void fast_detach_all(const char *dir)
{
	struct dirent *de;
	DIR *d = opendir(dir);

	if (!d)
		return;
	while ((de = readdir(d)))
		if (!strncmp(de->d_name, FAST_LINK_PIN, strlen(FAST_LINK_PIN)))
			xdp_detach_pin(dir, de->d_name);
	closedir(d);
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
int ingress_attach(int xdp_fd, int tc_fd, int ifindex, const char *dir,
		   int mode, struct bpfmasq_instance *inst, bool *xdp_created,
		   bool *hook_created)
{
	int err = 0;

	*xdp_created = false;
	*hook_created = false;
	if (mode != BPFMASQ_INGRESS_TC) {
		err = xdp_mode_change(inst, ifindex, dir, mode, tc_fd);
		if (err)
			return err;
		err = xdp_attach(xdp_fd, ifindex, dir,
				 mode == BPFMASQ_INGRESS_GENERIC, xdp_created);
		if (!err) {
			if (inst->ingress == BPFMASQ_INGRESS_TC)
				tc_detach(ifindex, BPF_TC_INGRESS);
			inst->ingress = mode == BPFMASQ_INGRESS_GENERIC
						? BPFMASQ_INGRESS_GENERIC
						: BPFMASQ_INGRESS_NATIVE;
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
