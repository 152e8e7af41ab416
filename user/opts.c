// SPDX-License-Identifier: GPL-2.0
/* opts.c - command-line parsing: every value is checked here, up front. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <net/if.h>
#include <arpa/inet.h>

#include "cli.h"
#include "log.h"
#include "opts.h"

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

/* "LO-HI[,LO-HI]": ranges that do not overlap, into o->ports. */
static int parse_port_ranges(const char *s, struct masq_opts *o)
{
	char buf[64], *part, *save = NULL;
	struct bpfmasq_port_range *r;
	int n = 0;

	if (strlen(s) >= sizeof(buf)) {
		pr_err("bad --ports '%s': expected LO-HI[,LO-HI]", s);
		return -1;
	}
	strcpy(buf, s);
	for (part = strtok_r(buf, ",", &save); part;
	     part = strtok_r(NULL, ",", &save)) {
		if (n == BPFMASQ_MAX_PORT_RANGES) {
			pr_err("bad --ports '%s': at most %d ranges", s,
			       BPFMASQ_MAX_PORT_RANGES);
			return -1;
		}
		r = &o->ports[n];
		if (parse_port_range(part, &r->lo, &r->hi))
			return -1;
		if (n && r->lo <= o->ports[0].hi && r->hi >= o->ports[0].lo) {
			pr_err("bad --ports '%s': the ranges overlap", s);
			return -1;
		}
		n++;
	}
	if (!n) {
		pr_err("bad --ports '%s': expected LO-HI[,LO-HI]", s);
		return -1;
	}
	o->n_ports = n;
	return 0;
}

/* --exclude CIDR, repeated; "none" alone clears the prefixes. */
static int parse_exclude(const char *arg, struct masq_opts *o)
{
	if (!strcmp(arg, "none")) {
		if (o->n_exclude > 0) {
			pr_err("--exclude none cannot go with a prefix");
			return -1;
		}
		o->n_exclude = -1;
		return 0;
	}
	if (o->n_exclude < 0) {
		pr_err("--exclude none cannot go with a prefix");
		return -1;
	}
	if (o->n_exclude == BPFMASQ_MAX_EXCLUDED) {
		pr_err("too many --exclude prefixes (at most %d)",
		       BPFMASQ_MAX_EXCLUDED);
		return -1;
	}
	return parse_cidr(arg, &o->exclude[o->n_exclude++]);
}

/*
 * --@opt IFACE (--fast-path, --hairpin), repeated, into @names (@max), their
 * number in *@n; "none" alone clears them (*@n -1).
 */
static int parse_ifaces(const char *opt, const char *arg, int *n,
			char (*names)[16], int max)
{
	bool none = !strcmp(arg, "none");

	if ((none && *n > 0) || (!none && *n < 0)) {
		pr_err("--%s none cannot go with an interface", opt);
		return -1;
	}
	if (none) {
		*n = -1;
		return 0;
	}
	if (*n == max) {
		pr_err("too many --%s interfaces (at most %d)", opt, max);
		return -1;
	}
	if (!*arg || strlen(arg) >= sizeof(names[0])) {
		pr_err("bad interface name '%s'", arg);
		return -1;
	}
	snprintf(names[(*n)++], sizeof(names[0]), "%s", arg);
	return 0;
}

static int parse_addr(const char *s, __u32 *host)
{
	struct in_addr a;

	if (inet_pton(AF_INET, s, &a) != 1 || !a.s_addr ||
	    a.s_addr == INADDR_BROADCAST)
		return -1;
	*host = ntohl(a.s_addr);
	return 0;
}

/* --address A.B.C.D or A.B.C.D-A.B.C.E: each address into the pool. */
static int parse_addresses(const char *arg, struct masq_opts *o)
{
	char lo_s[INET_ADDRSTRLEN], *dash = strchr(arg, '-');
	__u32 lo, hi, a;
	int i;

	if ((size_t)(dash ? dash - arg : (long)strlen(arg)) >= sizeof(lo_s))
		goto bad;
	snprintf(lo_s, sizeof(lo_s), "%.*s",
		 dash ? (int)(dash - arg) : (int)sizeof(lo_s) - 1, arg);
	if (parse_addr(lo_s, &lo) || (dash ? parse_addr(dash + 1, &hi) : 0))
		goto bad;
	if (!dash)
		hi = lo;
	if (hi < lo) {
		pr_err("bad address range '%s': the first address is above the last",
		       arg);
		return -1;
	}
	if (hi - lo >= BPFMASQ_MAX_ADDRS ||
	    o->n_addrs + (hi - lo + 1) > BPFMASQ_MAX_ADDRS) {
		pr_err("too many addresses with --address (at most %d)",
		       BPFMASQ_MAX_ADDRS);
		return -1;
	}
	for (a = lo;; a++) {
		for (i = 0; i < o->n_addrs; i++)
			if (o->addrs[i] == htonl(a)) {
				pr_err("address %s given twice with --address",
				       inet_ntoa((struct in_addr){ htonl(a) }));
				return -1;
			}
		o->addrs[o->n_addrs++] = htonl(a);
		if (a == hi)
			break;
	}
	return 0;
bad:
	pr_err("bad address '%s': expected A.B.C.D or A.B.C.D-A.B.C.E", arg);
	return -1;
}

static int parse_opt(int c, const char *arg, struct masq_opts *o)
{
	__u32 v;
	int err;

	switch (c) {
	case OPT_ADDRESS:
		return parse_addresses(arg, o);
	case OPT_INTERNAL:
		if (o->n_internal == BPFMASQ_MAX_INTERNAL) {
			pr_err("too many --internal prefixes (at most %d)",
			       BPFMASQ_MAX_INTERNAL);
			return -1;
		}
		return parse_cidr(arg, &o->internal[o->n_internal++]);
	case OPT_EXCLUDE:
		return parse_exclude(arg, o);
	case OPT_FAST_PATH:
		return parse_ifaces("fast-path", arg, &o->n_fast, o->fast,
				    BPFMASQ_MAX_FAST_LANS);
	case OPT_HAIRPIN:
		return parse_ifaces("hairpin", arg, &o->n_hairpin, o->hairpin,
				    BPFMASQ_MAX_HAIRPIN_LANS);
	case OPT_PORTS:
		return parse_port_ranges(arg, o);
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
	case OPT_MAX_INBOUND:
		err = parse_u32(arg, "--max-inbound", 1, 65535, &v);
		o->max_inbound = v;
		return err;
	case OPT_MAX_PORTS_PER_HOST:
		if (!strcmp(arg, "none")) {
			o->max_ports_per_host = 0;
			return 0;
		}
		err = parse_u32(arg, "--max-ports-per-host", 1, 65535, &v);
		o->max_ports_per_host = v;
		return err;
	case OPT_MAX_SESSIONS_PER_HOST:
		if (!strcmp(arg, "none")) {
			o->max_sessions_per_host = 0;
			return 0;
		}
		err = parse_u32(arg, "--max-sessions-per-host", 1, 1u << 24,
				&v);
		o->max_sessions_per_host = v;
		return err;
	case OPT_PORT_SHARING:
		if (!strcmp(arg, "on") || !strcmp(arg, "off")) {
			o->port_sharing = !strcmp(arg, "on");
			return 0;
		}
		pr_err("bad --port-sharing '%s': on or off", arg);
		return -1;
#define TIMEOUT_CASE(name, opt, key, dflt, what) case OPT_TIMEOUT_##name:
		BPFMASQ_TIMEOUTS(TIMEOUT_CASE)
#undef TIMEOUT_CASE
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
	case OPT_POOLS:
		o->pools = true;
		return 0;
	case OPT_FORCE:
		o->force = true;
		return 0;
	case OPT_FROM:
		o->have_from = true;
		return parse_cidr(arg, &o->from);
	case OPT_VERBOSE:
		o->verbose = true;
		return 0;
	case OPT_HELP: /* handled by opts_parse() */
		return 0;
	}
	return -1;
}

/* The kernel's rules, less what cannot reach us (NUL, over-long). */
static bool ifname_ok(const char *s)
{
	return *s && strlen(s) < IFNAMSIZ && !strchr(s, '/') &&
	       strcmp(s, ".") && strcmp(s, "..");
}

static const struct cli_opt *opt_by_val(int val)
{
	unsigned int i;

	for (i = 0; i < cli_n_opts; i++)
		if ((int)cli_opts[i].id == val || cli_opts[i].short_name == val)
			return &cli_opts[i];
	return NULL;
}

/*
 * A word that is no option: the command, its action (if it has actions),
 * the interface, then what the command takes after it.
 */
static int positional(struct masq_opts *o, const char *arg)
{
	const struct cli_cmd *cmd = o->cmd ? cli_cmd_find(o->cmd) : NULL;

	if (!o->cmd)
		o->cmd = arg;
	else if (cmd && cmd->actions && !o->action)
		o->action = arg;
	else if (!o->ifname)
		o->ifname = arg;
	else if (cmd && cmd->args && o->n_args < CLI_MAX_ARGS)
		o->args[o->n_args++] = arg;
	else {
		pr_err("unexpected argument '%s'", arg);
		return -1;
	}
	return 0;
}

/*
 * Options may come before and after the command and its interface. They
 * are all collected first and checked once the command is known, so that
 * an option the command does not take is refused whatever its place.
 */
int opts_parse(int argc, char **argv, struct masq_opts *o)
{
	struct option long_opts[cli_n_opts + 1];
	const struct cli_opt *seen[argc + 1];
	const char *seen_arg[argc + 1];
	const struct cli_cmd *cmd;
	char shorts[2 * cli_n_opts + 2];
	int c, i, n = 0, len = 1;
	bool help = false, only_args = false;

	memset(o, 0, sizeof(*o));
	o->filtering = -1;
	o->port_sharing = -1;
	o->max_ports_per_host = -1;
	o->max_sessions_per_host = -1;
	o->mode = MODE_AUTO;
	o->gc_interval = 5;
	o->bpffs = getenv("BPFMASQ_BPFFS");

	memset(long_opts, 0, sizeof(long_opts));
	shorts[0] = '+';
	for (i = 0; i < (int)cli_n_opts; i++) {
		long_opts[i].name = cli_opts[i].name;
		long_opts[i].has_arg =
			cli_opts[i].arg ? required_argument : no_argument;
		long_opts[i].val = cli_opts[i].id;
		if (cli_opts[i].short_name) {
			shorts[len++] = cli_opts[i].short_name;
			if (cli_opts[i].arg)
				shorts[len++] = ':';
		}
	}
	shorts[len] = '\0';

	opterr = 0;
	optind = 1;
	while (optind < argc) {
		const char *arg = argv[optind];

		if (only_args || arg[0] != '-' || !arg[1]) {
			if (positional(o, arg))
				return -1;
			optind++;
			continue;
		}
		c = getopt_long(argc, argv, shorts, long_opts, NULL);
		if (c == -1) { /* "--": only arguments follow */
			only_args = true;
			continue;
		}
		if (c == '?' || !opt_by_val(c)) {
			pr_err("unknown or incomplete option '%s'",
			       argv[optind - 1]);
			return -1;
		}
		seen[n] = opt_by_val(c);
		help |= seen[n]->id == OPT_HELP;
		seen_arg[n++] = optarg;
	}

	cmd = o->cmd ? cli_cmd_find(o->cmd) : NULL;
	if (o->cmd && !cmd) {
		pr_err("unknown command '%s' (see 'bpfmasq --help')", o->cmd);
		return -1;
	}
	if (help) {
		cli_help(stdout, cmd);
		return 1;
	}
	if (!cmd) {
		pr_err("no command given (see 'bpfmasq --help')");
		return -1;
	}
	for (i = 0; i < n; i++) {
		if (!cli_takes(cmd, seen[i])) {
			pr_err("%s does not take --%s (see 'bpfmasq %s --help')",
			       cmd->name, seen[i]->name, cmd->name);
			return -1;
		}
		if (parse_opt(seen[i]->id, seen_arg[i], o))
			return -1;
	}
	if (cmd->actions && (!o->action || !cli_action_ok(cmd, o->action))) {
		pr_err("%s: expected %s%s%s", cmd->name, cmd->actions,
		       o->action ? ", not " : "", o->action ? o->action : "");
		return -1;
	}
	if (!o->ifname && cmd->iface == IFACE_REQUIRED) {
		pr_err("%s: an interface name is required", cmd->name);
		return -1;
	}
	if (o->ifname && !ifname_ok(o->ifname)) {
		pr_err("bad interface name '%s'", o->ifname);
		return -1;
	}
	if (!o->bpffs || !*o->bpffs)
		o->bpffs = "/sys/fs/bpf";
	return 0;
}
