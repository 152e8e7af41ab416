// SPDX-License-Identifier: GPL-2.0
/* opts.c - command-line parsing: every value is checked here, up front. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>

#include "log.h"
#include "opts.h"

enum {
	OPT_ADDRESS = 256,
	OPT_INTERNAL,
	OPT_PORTS,
	OPT_FILTERING,
	OPT_MAX_SESSIONS,
	OPT_TIMEOUT_TCP_EST,
	OPT_TIMEOUT_TCP_TRANS,
	OPT_TIMEOUT_UDP,
	OPT_TIMEOUT_ICMP,
	OPT_MODE,
	OPT_BPFFS,
	OPT_JSON,
	OPT_GC_INTERVAL,
};

static const struct option long_opts[] = {
	{ "address", required_argument, NULL, OPT_ADDRESS },
	{ "internal", required_argument, NULL, OPT_INTERNAL },
	{ "ports", required_argument, NULL, OPT_PORTS },
	{ "filtering", required_argument, NULL, OPT_FILTERING },
	{ "max-sessions", required_argument, NULL, OPT_MAX_SESSIONS },
	{ "timeout-tcp-est", required_argument, NULL, OPT_TIMEOUT_TCP_EST },
	{ "timeout-tcp-trans", required_argument, NULL, OPT_TIMEOUT_TCP_TRANS },
	{ "timeout-udp", required_argument, NULL, OPT_TIMEOUT_UDP },
	{ "timeout-icmp", required_argument, NULL, OPT_TIMEOUT_ICMP },
	{ "mode", required_argument, NULL, OPT_MODE },
	{ "bpffs", required_argument, NULL, OPT_BPFFS },
	{ "json", no_argument, NULL, OPT_JSON },
	{ "gc-interval", required_argument, NULL, OPT_GC_INTERVAL },
	{ "verbose", no_argument, NULL, 'v' },
	{ "help", no_argument, NULL, 'h' },
	{},
};

void usage(void)
{
	fputs("usage: bpfmasq COMMAND [IFACE] [OPTIONS]\n"
	      "\n"
	      "  attach IFACE [--address A.B.C.D] [--internal CIDR]... [--ports LO-HI]\n"
	      "               [--filtering dependent|independent] [--max-sessions N]\n"
	      "               [--timeout-tcp-est S] [--timeout-tcp-trans S]\n"
	      "               [--timeout-udp S] [--timeout-icmp S] [--mode native|generic|tc]\n"
	      "  run IFACE [attach options] [--gc-interval S]\n"
	      "               attach if needed, then collect garbage in the foreground\n"
	      "  detach IFACE     remove the programs, pins and state\n"
	      "  status [IFACE]   [--json]\n"
	      "  conns IFACE      [--json]  one row per session\n"
	      "  stats IFACE      [--json]  data-path counters\n"
	      "  flush IFACE      drop all translation state\n"
	      "  gc IFACE         one garbage-collection pass\n"
	      "\n"
	      "  --bpffs DIR      bpf filesystem to pin under (default $BPFMASQ_BPFFS\n"
	      "                   or /sys/fs/bpf)\n"
	      "  -v, --verbose    show libbpf's log\n",
	      stderr);
}

static int parse_u32(const char *s, const char *what, __u32 min, __u32 max,
		     __u32 *out)
{
	unsigned long v;
	char *end;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end || s[0] == '-' || v < min || v > max) {
		pr_err("bad %s '%s': expected a number from %u to %u", what, s,
		       min, max);
		return -1;
	}
	*out = v;
	return 0;
}

int parse_cidr(const char *s, struct cidr *c)
{
	char buf[32], *slash;
	struct in_addr a;
	__u32 plen = 32;

	if (strlen(s) >= sizeof(buf))
		goto bad;
	strcpy(buf, s);
	slash = strchr(buf, '/');
	if (slash) {
		*slash = '\0';
		if (parse_u32(slash + 1, "prefix length", 0, 32, &plen))
			return -1;
	}
	if (inet_pton(AF_INET, buf, &a) != 1)
		goto bad;
	if (plen < 32 && (ntohl(a.s_addr) & (0xffffffffu >> plen))) {
		pr_err("bad CIDR '%s': host bits set", s);
		return -1;
	}
	c->addr = a.s_addr;
	c->plen = plen;
	return 0;
bad:
	pr_err("bad CIDR '%s': expected A.B.C.D/LEN", s);
	return -1;
}

int parse_port_range(const char *s, __u16 *lo, __u16 *hi)
{
	char buf[32], *dash;
	__u32 a, b;

	if (strlen(s) >= sizeof(buf))
		goto bad;
	strcpy(buf, s);
	dash = strchr(buf, '-');
	if (!dash)
		goto bad;
	*dash = '\0';
	if (parse_u32(buf, "port", 1, 65535, &a) ||
	    parse_u32(dash + 1, "port", 1, 65535, &b))
		return -1;
	if (a > b) {
		pr_err("bad port range '%s': %u is above %u", s, a, b);
		return -1;
	}
	*lo = a;
	*hi = b;
	return 0;
bad:
	pr_err("bad port range '%s': expected LO-HI", s);
	return -1;
}

static int parse_opt(int c, const char *arg, struct masq_opts *o)
{
	struct in_addr a;

	switch (c) {
	case OPT_ADDRESS:
		if (inet_pton(AF_INET, arg, &a) != 1 || !a.s_addr) {
			pr_err("bad address '%s': expected A.B.C.D", arg);
			return -1;
		}
		o->have_address = true;
		o->address = a.s_addr;
		return 0;
	case OPT_INTERNAL:
		if (o->n_internal == BPFMASQ_MAX_INTERNAL) {
			pr_err("too many --internal prefixes (at most %d)",
			       BPFMASQ_MAX_INTERNAL);
			return -1;
		}
		return parse_cidr(arg, &o->internal[o->n_internal++]);
	case OPT_PORTS:
		o->have_ports = true;
		return parse_port_range(arg, &o->port_min, &o->port_max);
	case OPT_FILTERING:
		if (!strcmp(arg, "dependent"))
			o->filtering = BPFMASQ_FILTER_DEPENDENT;
		else if (!strcmp(arg, "independent"))
			o->filtering = BPFMASQ_FILTER_INDEPENDENT;
		else {
			pr_err("bad --filtering '%s': dependent or independent",
			       arg);
			return -1;
		}
		return 0;
	case OPT_MAX_SESSIONS:
		return parse_u32(arg, "--max-sessions", 16, 1u << 24,
				 &o->max_sessions);
	case OPT_TIMEOUT_TCP_EST:
	case OPT_TIMEOUT_TCP_TRANS:
	case OPT_TIMEOUT_UDP:
	case OPT_TIMEOUT_ICMP:
		return parse_u32(arg, "timeout", 1, 7 * 24 * 3600,
				 &o->timeout[c - OPT_TIMEOUT_TCP_EST]);
	case OPT_MODE:
		for (o->mode = 0; o->mode < BPFMASQ_INGRESS_MAX; o->mode++)
			if (!strcmp(arg, ingress_names[o->mode]))
				return 0;
		pr_err("bad --mode '%s': native, generic or tc", arg);
		return -1;
	case OPT_BPFFS:
		o->bpffs = arg;
		return 0;
	case OPT_JSON:
		o->json = true;
		return 0;
	case OPT_GC_INTERVAL:
		return parse_u32(arg, "--gc-interval", 1, 3600,
				 &o->gc_interval);
	case 'v':
		o->verbose = true;
		return 0;
	case 'h':
		usage();
		exit(0);
	}
	usage();
	return -1;
}

int opts_parse(int argc, char **argv, struct masq_opts *o)
{
	int c;

	memset(o, 0, sizeof(*o));
	o->filtering = -1;
	o->mode = MODE_AUTO;
	o->gc_interval = 5;
	o->bpffs = getenv("BPFMASQ_BPFFS");

	opterr = 0;
	while ((c = getopt_long(argc, argv, "+vh", long_opts, NULL)) != -1) {
		if (c == '?') {
			pr_err("unknown or incomplete option '%s'",
			       argv[optind - 1]);
			return -1;
		}
		if (parse_opt(c, optarg, o))
			return -1;
	}
	if (optind >= argc) {
		usage();
		return -1;
	}
	o->cmd = argv[optind++];
	/* Options may also follow the command and the interface. */
	while (optind < argc) {
		if (argv[optind][0] != '-') {
			if (o->ifname) {
				pr_err("unexpected argument '%s'",
				       argv[optind]);
				return -1;
			}
			o->ifname = argv[optind++];
			continue;
		}
		c = getopt_long(argc, argv, "+vh", long_opts, NULL);
		if (c == -1)
			break;
		if (c == '?') {
			pr_err("unknown or incomplete option '%s'",
			       argv[optind - 1]);
			return -1;
		}
		if (parse_opt(c, optarg, o))
			return -1;
	}
	if (!o->bpffs || !*o->bpffs)
		o->bpffs = "/sys/fs/bpf";
	return 0;
}
