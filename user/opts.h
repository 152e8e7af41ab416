/* SPDX-License-Identifier: GPL-2.0 */
/* opts.h - the command line, parsed and validated before anything is touched. */
#ifndef BPFMASQ_USER_OPTS_H
#define BPFMASQ_USER_OPTS_H

#include <stdbool.h>
#include <linux/types.h>

#include "bpfmasq.h"
#include "maps.h"

/* Where replies are translated back. */
enum ingress_mode {
	MODE_AUTO, /* XDP native; TC where XDP cannot be native or correct */
	MODE_NATIVE, /* XDP in the driver */
	MODE_GENERIC, /* XDP on the skb */
	MODE_TC, /* TC ingress */
};

enum timeout_id {
	TIMEOUT_TCP_EST,
	TIMEOUT_TCP_TRANS,
	TIMEOUT_UDP,
	TIMEOUT_ICMP,
	TIMEOUT_MAX,
};

struct masq_opts {
	const char *cmd;
	const char *ifname;
	const char *bpffs;
	bool json;
	bool verbose;

	/* attach/run: a field left unset keeps the attached instance's value */
	bool have_address;
	__be32 address;
	int n_internal;
	struct cidr internal[BPFMASQ_MAX_INTERNAL];
	bool have_ports;
	__u16 port_min, port_max;
	int filtering; /* -1: unset */
	__u32 max_sessions; /* 0: unset */
	__u32 timeout[TIMEOUT_MAX]; /* 0: unset */
	enum ingress_mode mode;
	unsigned int gc_interval; /* seconds, run only */
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
