/* SPDX-License-Identifier: GPL-2.0 */
/* opts.h - the command line, parsed and validated before anything is touched. */
#ifndef BPFMASQ_USER_OPTS_H
#define BPFMASQ_USER_OPTS_H

#include <stdbool.h>
#include <linux/types.h>

#include "bpfmasq.h"
#include "cli.h"
#include "hooks.h"
#include "maps.h"

struct masq_opts {
	const char *cmd;
	const char *action; /* of a command with actions (forward add) */
	const char *ifname;
	int n_args; /* the words after IFACE */
	const char *args[CLI_MAX_ARGS];
	const char *bpffs;
	bool json;
	bool verbose;

	/* attach/run: a field left unset keeps the attached instance's value */
	int n_addrs; /* --address: the pool, the first the primary; 0 unset */
	__be32 addrs[BPFMASQ_MAX_ADDRS];
	int n_internal;
	struct cidr internal[BPFMASQ_MAX_INTERNAL];
	int n_exclude; /* -1: "none", clear them */
	struct cidr exclude[BPFMASQ_MAX_EXCLUDED];
	int n_fast; /* --fast-path interfaces; -1: "none", clear them */
	char fast[BPFMASQ_MAX_FAST_LANS][16];
	int n_hairpin; /* --hairpin interfaces; -1: "none", clear them */
	char hairpin[BPFMASQ_MAX_HAIRPIN_LANS][16];
	int n_ports; /* 0: unset */
	struct bpfmasq_port_range ports[BPFMASQ_MAX_PORT_RANGES];
	int filtering; /* -1: unset */
	__u32 max_sessions; /* 0: unset */
	__u16 max_inbound; /* 0: unset */
	int port_sharing; /* 1 on, 0 off, -1 unset */
	int max_ports_per_host; /* 0 none (no limit), -1 unset */
	long max_sessions_per_host; /* 0 none (no limit), -1 unset */
	__u32 timeout[BPFMASQ_TIMEOUT_MAX]; /* 0: unset */
	int mode; /* enum bpfmasq_ingress, or MODE_AUTO */
	unsigned int gc_interval; /* seconds, run only */
	bool pools; /* check: read the port pools too */
	bool force; /* detach: read nothing, remove everything */
	bool have_from; /* forward add --from */
	struct cidr from;
};

/*
 * Parses and checks argv against the tables in cli.h. Returns 0 when there
 * is a command to run; 1 when --help was printed (on stdout); -1 on bad
 * input, with one line on stderr.
 */
int opts_parse(int argc, char **argv, struct masq_opts *o);

int parse_cidr(const char *s, struct cidr *c);
int parse_port_range(const char *s, __u16 *lo, __u16 *hi);

#endif /* BPFMASQ_USER_OPTS_H */
