// SPDX-License-Identifier: GPL-2.0
/*
 * main.c - the bpfmasq command: parse (opts.c, from the table in cli.c),
 * check privileges, dispatch to the command, map its result to the exit
 * status (0 done, 1 failed, 2 bad usage).
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "clock.h"
#include "daemon.h"
#include "gc.h"
#include "instance.h"
#include "log.h"
#include "maps.h"
#include "opts.h"
#include "show.h"
#include "state.h"

static int gc_locked(const struct masq_opts *o)
{
	struct gc_result res;
	struct masq_maps m;
	int err;

	err = open_instance(o, &m);
	if (err)
		return err;
	err = gc_pass(&m, now_boot_ns(), &res);
	maps_close(&m);
	if (err) {
		pr_err("garbage collection failed: %s", strerror(-err));
		return err;
	}
	printf("%ld sessions expired, %ld evicted, %ld live; %ld mappings freed, %ld ports returned; %ld fragment entries expired; %ld orphaned owners repaired; %ld orphaned lent entries removed; %ld reserved ports freed; %ld forward ports taken, %ld let go; %ld drained addresses removed\n",
	       res.sessions_expired, res.sessions_evicted, res.sessions,
	       res.mappings_freed, res.ports_returned, res.frags_expired,
	       res.owners_repaired, res.lent_freed, res.ports_unreserved,
	       res.forwards_taken, res.forwards_dropped, res.addrs_forgotten);
	return 0;
}

static int flush_locked(const struct masq_opts *o)
{
	struct masq_maps m;
	int err;

	err = open_instance(o, &m);
	if (err)
		return err;
	err = state_flush(&m);
	maps_close(&m);
	if (err)
		pr_err("flush failed: %s", strerror(-err));
	return err;
}

static int cmd_gc(const struct masq_opts *o)
{
	return instance_locked(o, gc_locked);
}

static int cmd_flush(const struct masq_opts *o)
{
	return instance_locked(o, flush_locked);
}

/* What runs each command of the table in cli.c. */
static int (*const cmd_fns[CMD_MAX])(const struct masq_opts *o) = {
	[CMD_ATTACH] = instance_attach, [CMD_RUN] = daemon_run,
	[CMD_DETACH] = instance_detach, [CMD_STATUS] = cmd_status,
	[CMD_CONNS] = cmd_conns,	[CMD_STATS] = cmd_stats,
	[CMD_FLUSH] = cmd_flush,	[CMD_GC] = cmd_gc,
	[CMD_CHECK] = cmd_check,	[CMD_FORWARD] = cmd_forward,
	[CMD_STATIC] = cmd_static,
};

int main(int argc, char **argv)
{
	struct masq_opts o;
	int err;

	err = opts_parse(argc, argv, &o);
	if (err)
		return err < 0 ? 2 : 0; /* bad usage, or --help */
	log_setup(o.verbose);
	if (geteuid() != 0) {
		pr_err("%s needs root (CAP_BPF, CAP_NET_ADMIN and access to %s)",
		       o.cmd, o.bpffs);
		return 1;
	}
	return cmd_fns[cli_cmd_find(o.cmd)->id](&o) ? 1 : 0;
}
