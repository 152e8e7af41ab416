// SPDX-License-Identifier: GPL-2.0
/*
 * daemon.c - `bpfmasq run`: attach (or take over the attached instance),
 * then collect garbage in the foreground and follow the WAN interface: its
 * address (flushing the state built on the old one) and its re-creation.
 * It exits when the instance is detached or replaced by another command;
 * the data path and its state stay when it exits.
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <net/if.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <bpf/bpf.h>

#include "bpffs.h"
#include "clock.h"
#include "daemon.h"
#include "frag.h"
#include "gc.h"
#include "instance.h"
#include "log.h"
#include "maps.h"
#include "netif.h"
#include "pools.h"
#include "state.h"

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
}

/*
 * Masquerading follows the interface's address: on a change, the state
 * built on the old one is flushed. With no address, new outbound flows are
 * dropped (and counted) until one comes back.
 */
static void follow_address(const struct masq_opts *o, const struct masq_maps *m)
{
	struct bpfmasq_instance inst;
	struct bpfmasq_config cfg;
	char a[INET_ADDRSTRLEN];
	__be32 now_addr, old_addr;
	int err;

	err = host_addrs_sync(m, o->ifname);
	if (err)
		pr_err("cannot update the gateway's addresses: %s",
		       strerror(-err));
	if (instance_read(m, &inst) || (inst.flags & BPFMASQ_INST_FIXED_ADDR) ||
	    config_read(m, &cfg))
		return;
	now_addr = netif_primary_addr(o->ifname);
	if (now_addr == cfg.ext_addr)
		return;
	pr_info("%s: address changed to %s: flushing translation state",
		o->ifname,
		now_addr ? inet_ntop(AF_INET, &now_addr, a, sizeof(a))
			 : "none");
	old_addr = cfg.ext_addr;
	cfg.ext_addr = now_addr;
	err = state_reset(m, &cfg, old_addr);
	if (err)
		pr_err("cannot flush the translation state: %s",
		       strerror(-err));
}

static __u32 map_id(int fd)
{
	struct bpf_map_info info = {};
	__u32 len = sizeof(info);

	return bpf_obj_get_info_by_fd(fd, &info, &len) ? 0 : info.id;
}

/* The id of the config map pinned in @dir now, 0 if none. */
static __u32 pinned_config_id(const char *dir)
{
	char path[PATH_MAX];
	__u32 id;
	int fd;

	if (pin_path(path, sizeof(path), dir, "config"))
		return 0;
	fd = bpf_obj_get(path);
	if (fd < 0)
		return 0;
	id = map_id(fd);
	close(fd);
	return id;
}

/*
 * Sleep up to @seconds, or until an IPv4 address changes (true then) or a
 * signal asks us to stop; meanwhile send held fragments on as their
 * datagrams settle (@frags, NULL if they cannot be held).
 */
static bool wait_tick(int watch_fd, struct frag_reader *frags,
		      const struct masq_maps *m, unsigned int seconds)
{
	struct pollfd pfd[2] = {
		{ .fd = watch_fd, .events = POLLIN },
		{ .fd = frags ? frag_reader_fd(frags) : -1, .events = POLLIN },
	};
	uint64_t end = now_boot_ns() + seconds * NS_PER_S, now;
	int n;

	while (!stop_requested && (now = now_boot_ns()) < end) {
		n = poll(pfd, 2, (end - now) / 1000000 + 1);
		if (n <= 0)
			break;
		if (pfd[1].revents & POLLIN)
			frag_reader_poll(frags, m);
		if ((pfd[0].revents & POLLIN) &&
		    netif_addr_watch_drain(watch_fd))
			return true;
	}
	if (frags)
		frag_reader_poll(frags, m);
	return false;
}

/*
 * The WAN interface was deleted and created again (a new ifindex): the
 * programs went with the old one, so attach again; the pinned maps, and
 * so the state, carry over.
 */
static void follow_interface(const struct masq_opts *o,
			     const struct masq_maps *m)
{
	struct bpfmasq_instance inst;
	unsigned int ifindex = if_nametoindex(o->ifname);

	if (!ifindex || instance_read(m, &inst) || inst.ifindex == ifindex)
		return;
	pr_info("%s: the interface was created again: attaching to it",
		o->ifname);
	instance_attach(o);
}

/*
 * What a tick changes, under the lock the other commands take: follow the
 * address (@follow) and collect garbage (@gc), unless the instance went
 * while we waited for the lock.
 */
static void daemon_tick(const struct masq_opts *o, const struct masq_maps *m,
			const char *dir, __u32 config_id, bool follow, bool gc)
{
	struct gc_result res;
	int lock, err;

	if (!follow && !gc)
		return;
	lock = bpffs_lock(o->bpffs);
	if (lock < 0)
		return;
	if (!pin_dir_exists(dir) || pinned_config_id(dir) != config_id)
		goto out;
	if (follow)
		follow_address(o, m);
	if (!gc)
		goto out;
	err = gc_pass(m, now_boot_ns(), &res);
	if (err)
		pr_err("garbage collection failed: %s", strerror(-err));
	if (!err && res.owners_repaired)
		pr_info("%s: %ld port owners left without their mapping (by a pass that was killed) removed",
			o->ifname, res.owners_repaired);
	if (!err && res.addrs_forgotten)
		pr_info("%s: %ld addresses taken out of the pool drained and removed",
			o->ifname, res.addrs_forgotten);
	if (!err && res.sessions_evicted)
		pr_info("%s: session table nearly full: %ld sessions that never saw a reply or are closed made room",
			o->ifname, res.sessions_evicted);
	if (!err && (res.sessions_expired || res.mappings_freed))
		pr_debug(
			"gc: %ld sessions expired, %ld live, %ld mappings freed",
			res.sessions_expired, res.sessions, res.mappings_freed);
out:
	bpffs_unlock(lock);
}

/*
 * Has the data path refused a flow for want of room in a table since the
 * last look (*@seen)? Then the collector makes room at once, not at its
 * next interval.
 */
static bool table_pressed(const struct masq_maps *m, uint64_t *seen)
{
	uint64_t full;
	bool grew;

	if (stat_read(m, BPFMASQ_STAT_TABLE_FULL, &full))
		return false;
	grew = full > *seen;
	*seen = full;
	return grew;
}

int daemon_run(const struct masq_opts *o)
{
	struct sigaction sa = { .sa_handler = on_signal };
	uint64_t next_gc = 0, interval, full_seen = 0;
	__u32 config_id;
	char dir[PATH_MAX];
	bool gc_due;
	struct frag_reader *frags;
	struct masq_maps m;
	int err, watch_fd;

	sigset_t stop_signals;

	/* A stop request waits until attach has finished or undone itself. */
	sigemptyset(&stop_signals);
	sigaddset(&stop_signals, SIGTERM);
	sigaddset(&stop_signals, SIGINT);
	sigprocmask(SIG_BLOCK, &stop_signals, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	err = instance_attach(o);
	if (!err)
		err = open_instance(o, &m);
	sigprocmask(SIG_UNBLOCK, &stop_signals, NULL);
	if (err)
		return err;
	pin_dir(dir, sizeof(dir), o->bpffs, o->ifname);
	config_id = map_id(m.config);
	watch_fd = netif_addr_watch_open();
	if (watch_fd < 0)
		pr_err("cannot watch address changes (%s): polling every %us",
		       strerror(-watch_fd), o->gc_interval);
	/* Without a hold, early fragments go to the stack as before. */
	if (frag_reader_open(&frags, &m))
		frags = NULL;
	else
		daemon_alive_write(&m, now_boot_ns());
	pr_info("%s: attached; garbage collection every %us", o->ifname,
		o->gc_interval);
	/* A change before the watch began. */
	daemon_tick(o, &m, dir, config_id, true, false);

	interval = o->gc_interval * 1000000000ull;
	table_pressed(&m, &full_seen);
	while (!stop_requested) {
		/*
		 * Every second, cut short by SIGTERM/SIGINT or an address
		 * change: a full table is seen to within a second.
		 */
		bool changed = wait_tick(watch_fd, frags, &m, 1);

		if (stop_requested)
			break;
		if (!pin_dir_exists(dir)) {
			pr_info("%s: detached: exiting", o->ifname);
			break;
		}
		if (pinned_config_id(dir) != config_id) {
			pr_info("%s: detached and attached again by another command: exiting",
				o->ifname);
			break;
		}
		/* Also on every tick: an attempt may fail while it settles. */
		follow_interface(o, &m);
		gc_due = now_boot_ns() >= next_gc;
		if (table_pressed(&m, &full_seen) && !gc_due) {
			pr_info("%s: a table is full: collecting now",
				o->ifname);
			gc_due = true;
		}
		if (frags)
			daemon_alive_write(&m, now_boot_ns());
		if (gc_due)
			next_gc = now_boot_ns() + interval;
		daemon_tick(o, &m, dir, config_id, changed || watch_fd < 0,
			    gc_due);
	}
	if (watch_fd >= 0)
		close(watch_fd);
	if (frags) {
		/* The data path leaves early fragments to the stack again. */
		daemon_alive_write(&m, 0);
		frag_reader_close(frags);
	}
	maps_close(&m);
	pr_info("%s: exiting; the data path and its state stay in place",
		o->ifname);
	return 0;
}
