// SPDX-License-Identifier: GPL-2.0
/* cli.c - the command and option tables, and `--help` printed from them. */
#include <ctype.h>
#include <string.h>

#include "bpfmasq.h"
#include "cli.h"

#define STR_(x) #x
#define STR(x) STR_(x)

#define ATTACH_RUN (CMD_BIT(CMD_ATTACH) | CMD_BIT(CMD_RUN))

const struct cli_cmd cli_cmds[CMD_MAX] = {
	{
		.id = CMD_ATTACH,
		.name = "attach",
		.iface = IFACE_REQUIRED,
		.summary = "attach the NAT to IFACE, or update the attached "
			   "instance in place",
	},
	{
		.id = CMD_RUN,
		.name = "run",
		.iface = IFACE_REQUIRED,
		.summary = "attach if needed, then collect garbage and follow "
			   "IFACE in the foreground",
	},
	{
		.id = CMD_DETACH,
		.name = "detach",
		.iface = IFACE_REQUIRED,
		.summary = "remove the programs, pins and state",
	},
	{
		.id = CMD_STATUS,
		.name = "status",
		.iface = IFACE_OPTIONAL,
		.summary = "show the configuration of IFACE, or of every "
			   "attached interface",
	},
	{
		.id = CMD_CONNS,
		.name = "conns",
		.iface = IFACE_REQUIRED,
		.summary = "list the translated sessions, one row each",
	},
	{
		.id = CMD_STATS,
		.name = "stats",
		.iface = IFACE_REQUIRED,
		.summary = "show the data-path counters",
	},
	{
		.id = CMD_FLUSH,
		.name = "flush",
		.iface = IFACE_REQUIRED,
		.summary = "drop all translation state",
	},
	{
		.id = CMD_GC,
		.name = "gc",
		.iface = IFACE_REQUIRED,
		.summary = "run one garbage-collection pass",
	},
	{
		.id = CMD_CHECK,
		.name = "check",
		.iface = IFACE_REQUIRED,
		.summary = "check that the translation state is consistent; "
			   "exit 1 on a violation",
	},
	{
		.id = CMD_FORWARD,
		.name = "forward",
		.actions = "add|del|list",
		.iface = IFACE_REQUIRED,
		.args = "[tcp|udp PORT[-END] [ADDR[:PORT]]]",
		.summary = "add, delete or list the port forwards: connections "
			   "from outside to PORT of the external address reach "
			   "ADDR (at PORT, or from the given one on)",
	},
	{
		.id = CMD_STATIC,
		.name = "static",
		.actions = "add|del|list",
		.iface = IFACE_REQUIRED,
		.args = "[INSIDE_ADDR [OUTSIDE_ADDR]]",
		.summary = "add, delete or list the static NAT: INSIDE_ADDR "
			   "is OUTSIDE_ADDR, every port and protocol, both "
			   "ways, for connections from outside too",
	},
};

#define DEF_MAX_ADDRS STR(BPFMASQ_MAX_ADDRS)
#define DEF_MAX_INTERNAL STR(BPFMASQ_MAX_INTERNAL)
#define DEF_MAX_EXCLUDED STR(BPFMASQ_MAX_EXCLUDED)
#define DEF_MAX_FAST_LANS STR(BPFMASQ_MAX_FAST_LANS)
#define DEF_MAX_HAIRPIN_LANS STR(BPFMASQ_MAX_HAIRPIN_LANS)
#define DEF_MAX_SESSIONS STR(BPFMASQ_DEFAULT_MAX_SESSIONS)
#define DEF_MAX_INBOUND STR(BPFMASQ_DEFAULT_MAX_INBOUND)

const struct cli_opt cli_opts[] = {
	{
		.id = OPT_ADDRESS,
		.name = "address",
		.arg = "A.B.C.D[-A.B.C.D]",
		.repeat = true,
		.cmds = ATTACH_RUN,
		.help = "Translate to this fixed address, or to a pool of "
			"them: may be repeated and be a range, up to " DEF_MAX_ADDRS
			" addresses; each inside host keeps one for all its "
			"mappings, hosts are spread over them. The first takes "
			"the forwards. A re-attach with another pool keeps "
			"what is on the addresses that stay; a removed one "
			"drains (default: the interface's primary address, "
			"followed as it changes; a re-attach without it keeps "
			"the pool).",
	},
	{
		.id = OPT_INTERNAL,
		.name = "internal",
		.arg = "CIDR",
		.repeat = true,
		.cmds = ATTACH_RUN,
		.help = "Translate only sources in this prefix; may be "
			"repeated, up to " DEF_MAX_INTERNAL " times (default: "
			"every source but the gateway's own addresses).",
	},
	{
		.id = OPT_EXCLUDE,
		.name = "exclude",
		.arg = "CIDR",
		.repeat = true,
		.cmds = ATTACH_RUN,
		.help = "Never translate flows to this prefix: they leave with "
			"their inside source, and packets from it may reach "
			"the inside (a VPN peer, a provider network that routes "
			"the inside prefixes); may be repeated, up to " DEF_MAX_EXCLUDED
			" times; none, the default, clears "
			"them.",
	},
	{
		.id = OPT_FAST_PATH,
		.name = "fast-path",
		.arg = "IFACE",
		.repeat = true,
		.cmds = ATTACH_RUN,
		.help = "Translate and forward in XDP between this LAN "
			"interface and the WAN, past the kernel's forwarding "
			"path (and its firewall); may be repeated, up to " DEF_MAX_FAST_LANS
			" times; none clears them (default: "
			"none; a re-attach without it keeps them).",
	},
	{
		.id = OPT_HAIRPIN,
		.name = "hairpin",
		.arg = "IFACE",
		.repeat = true,
		.cmds = ATTACH_RUN,
		.help = "Hairpin on this LAN interface: its hosts reach "
			"forwards and other hosts' mappings by the external "
			"address, and are seen with their own external "
			"address and port; may be repeated, up to " DEF_MAX_HAIRPIN_LANS
			" times; none clears them (default: none; a re-attach "
			"without it keeps them).",
	},
	{
		.id = OPT_PORTS,
		.name = "ports",
		.arg = "LO-HI[,LO-HI]",
		.cmds = ATTACH_RUN,
		.help = "External ports (and ICMP echo ids) to use: one or two "
			"ranges from 1 to 65535 (default: every port from "
			"1024 up that net.ipv4.ip_local_port_range leaves "
			"free, below it and above it); a range overlapping "
			"ip_local_port_range is refused.",
	},
	{
		.id = OPT_FILTERING,
		.name = "filtering",
		.arg = "dependent|independent",
		.cmds = ATTACH_RUN,
		.help = "Which inbound packets a mapping lets in: only from "
			"the endpoints it sent to (dependent, the default) or "
			"from any (independent).",
	},
	{
		.id = OPT_MAX_SESSIONS,
		.name = "max-sessions",
		.arg = "N",
		.cmds = ATTACH_RUN,
		.help = "Size of the session table, from 16 to 16777216 "
			"(default " DEF_MAX_SESSIONS "); cannot change while "
			"attached.",
	},
	{
		.id = OPT_MAX_INBOUND,
		.name = "max-inbound",
		.arg = "N",
		.cmds = ATTACH_RUN,
		.help = "Under --filtering independent, the most sessions "
			"remotes may open to one mapping, from 1 to 65535 "
			"(default " DEF_MAX_INBOUND ").",
	},
	{
		.id = OPT_MAX_PORTS_PER_HOST,
		.name = "max-ports-per-host",
		.arg = "N|none",
		.cmds = ATTACH_RUN,
		.help = "The most external ports one inside host's mappings may "
			"hold, from 1 to 65535: its next new flow is dropped "
			"(host_port_limit), and stats names the host (RFC 6888 "
			"REQ-4); none, the default, sets no limit (a re-attach "
			"without it keeps it).",
	},
	{
		.id = OPT_MAX_SESSIONS_PER_HOST,
		.name = "max-sessions-per-host",
		.arg = "N|none",
		.cmds = ATTACH_RUN,
		.help = "The most sessions one inside host's own flows may "
			"hold, from 1 to 16777216: its next new flow is dropped "
			"(host_session_limit), and stats names the host (RFC "
			"6888 REQ-4); none, the default, sets no limit (a "
			"re-attach without it keeps it).",
	},
	{
		.id = OPT_PORT_SHARING,
		.name = "port-sharing",
		.arg = "on|off",
		.cmds = ATTACH_RUN,
		.help = "When an address has no free port left, let a new flow "
			"share a port that another mapping owns, for its own "
			"remote endpoint only, as nft's masquerade does (on, "
			"the default); off drops it.",
	},
#define TIMEOUT_ROW(tid, opt, key, dflt, what)                                 \
	{                                                                      \
		.id = OPT_TIMEOUT_##tid,                                       \
		.name = "timeout-" opt,                                        \
		.arg = "S",                                                    \
		.cmds = ATTACH_RUN,                                            \
		.help = "Idle timeout of " what ", in seconds from 1 to "      \
			"604800 (default " STR(dflt) ").",                     \
	},
	BPFMASQ_TIMEOUTS(TIMEOUT_ROW)
#undef TIMEOUT_ROW
		{
			.id = OPT_MODE,
			.name = "mode",
			.arg = "native|generic|tc",
			.cmds = ATTACH_RUN,
			.help = "Where replies are translated: XDP in the driver, XDP "
				"on the skb or TC ingress (default: native on physical "
				"NICs, tc on veth and tap and where the driver has no "
				"native XDP; a re-attach keeps the attached mode).",
		},
	{
		.id = OPT_GC_INTERVAL,
		.name = "gc-interval",
		.arg = "S",
		.cmds = CMD_BIT(CMD_RUN),
		.help = "Seconds between garbage-collection passes, from 1 to "
			"3600 (default 5).",
	},
	{
		.id = OPT_POOLS,
		.name = "pools",
		.cmds = CMD_BIT(CMD_CHECK),
		.help = "Check the free-port pools too: each is emptied and "
			"filled again, so a new flow in that instant may find "
			"no port; run it on a quiet instance.",
	},
	{
		.id = OPT_FROM,
		.name = "from",
		.arg = "CIDR",
		.cmds = CMD_BIT(CMD_FORWARD),
		.help = "forward add: only remotes in this prefix may connect "
			"through the forward (default: any).",
	},
	{
		.id = OPT_FORCE,
		.name = "force",
		.cmds = CMD_BIT(CMD_DETACH) | ATTACH_RUN,
		.help = "detach: remove whatever bpfmasq left on IFACE (its TC "
			"filters, its XDP links, its pins) without reading any "
			"pinned map: for pins of another version or layout; "
			"the clsact qdisc is left in place. attach, run: set "
			"up the fast path even though the gateway has forward "
			"rules (nftables, iptables), which it bypasses.",
	},
	{
		.id = OPT_JSON,
		.name = "json",
		.cmds = CMD_BIT(CMD_STATUS) | CMD_BIT(CMD_CONNS) |
			CMD_BIT(CMD_STATS) | CMD_BIT(CMD_CHECK) |
			CMD_BIT(CMD_FORWARD) | CMD_BIT(CMD_STATIC),
		.help = "Print JSON instead of text.",
	},
	{
		.id = OPT_BPFFS,
		.name = "bpffs",
		.arg = "DIR",
		.cmds = CMDS_ALL,
		.help = "The bpf filesystem to pin under (default: "
			"$BPFMASQ_BPFFS, else /sys/fs/bpf); mounted when there "
			"is none.",
	},
	{
		.id = OPT_VERBOSE,
		.name = "verbose",
		.short_name = 'v',
		.cmds = CMDS_ALL,
		.help = "Show libbpf's and the verifier's log.",
	},
	{
		.id = OPT_HELP,
		.name = "help",
		.short_name = 'h',
		.cmds = CMDS_ALL,
		.help = "Show the help, of COMMAND if given, on stdout and "
			"exit.",
	},
};

const unsigned int cli_n_opts = sizeof(cli_opts) / sizeof(cli_opts[0]);

const struct cli_cmd *cli_cmd_find(const char *name)
{
	int i;

	for (i = 0; i < CMD_MAX; i++)
		if (!strcmp(name, cli_cmds[i].name))
			return &cli_cmds[i];
	return NULL;
}

const char *cli_iface_arg(const struct cli_cmd *c)
{
	return c->iface == IFACE_OPTIONAL ? "[IFACE]" : "IFACE";
}

bool cli_action_ok(const struct cli_cmd *c, const char *action)
{
	size_t n = strlen(action);
	const char *p = c->actions;

	while (p && *p) {
		if (!strncmp(p, action, n) && (p[n] == '|' || !p[n]))
			return n > 0;
		p = strchr(p, '|');
		p = p ? p + 1 : NULL;
	}
	return false;
}

#define HELP_WIDTH 79
#define HELP_COL 24

/*
 * Prints the words of @text (separated by @sep) joined by spaces, from
 * column @col (the cursor is at @at), breaking lines between words before
 * HELP_WIDTH; continuation lines start at @indent.
 */
static void wrap(FILE *f, const char *text, char sep, int at, int col,
		 int indent)
{
	const char seps[2] = { sep, '\0' };
	const char *p = text;

	for (; at < col; at++)
		fputc(' ', f);
	while (*p) {
		int n = strcspn(p, seps);

		if (at > indent && at + 1 + n > HELP_WIDTH) {
			fprintf(f, "\n%*s", indent, "");
			at = indent;
		} else if (p != text) {
			fputc(' ', f);
			at++;
		}
		fwrite(p, 1, n, f);
		at += n;
		p += n;
		while (*p == sep)
			p++;
	}
	fputc('\n', f);
}

/*
 * "bpfmasq attach IFACE [--address A.B.C.D] ...", wrapped; the options
 * every command takes are left out (listed once, under Options).
 */
static void synopsis(FILE *f, const char *prefix, const struct cli_cmd *c)
{
	char line[1024];
	size_t len, n;
	unsigned int i;

	len = snprintf(line, sizeof(line), "%s\t%s%s%s%s%s", c->name,
		       c->actions ? c->actions : "", c->actions ? "\t" : "",
		       cli_iface_arg(c), c->args ? "\t" : "",
		       c->args ? c->args : "");
	for (i = 0; i < cli_n_opts; i++) {
		const struct cli_opt *o = &cli_opts[i];

		if (!cli_takes(c, o) || o->cmds == CMDS_ALL)
			continue;
		n = snprintf(line + len, sizeof(line) - len, "\t[--%s%s%s]%s",
			     o->name, o->arg ? " " : "", o->arg ? o->arg : "",
			     o->repeat ? "..." : "");
		if (n >= sizeof(line) - len)
			break;
		len += n;
	}
	fputs(prefix, f);
	wrap(f, line, '\t', strlen(prefix), strlen(prefix),
	     strlen(prefix) + strlen(c->name) + 1);
}

/* "  -v, --verbose" or "  --ports LO-HI", then the help from HELP_COL. */
static void opt_help(FILE *f, const struct cli_opt *o)
{
	int at;

	if (o->short_name)
		at = fprintf(f, "  -%c, --%s", o->short_name, o->name);
	else
		at = fprintf(f, "  --%s", o->name);
	if (o->arg)
		at += fprintf(f, " %s", o->arg);
	if (at >= HELP_COL) {
		fputc('\n', f);
		at = 0;
	}
	wrap(f, o->help, ' ', at, HELP_COL, HELP_COL);
}

void cli_help(FILE *f, const struct cli_cmd *c)
{
	unsigned int i;
	int at;

	if (c) {
		synopsis(f, "usage: bpfmasq ", c);
		fprintf(f, "\n%c%s.\n", toupper(c->summary[0]), c->summary + 1);
		fputs("\nOptions:\n", f);
		for (i = 0; i < cli_n_opts; i++)
			if (cli_takes(c, &cli_opts[i]))
				opt_help(f, &cli_opts[i]);
		return;
	}
	fputs("usage: bpfmasq COMMAND [IFACE] [OPTIONS]\n\n", f);
	for (i = 0; i < CMD_MAX; i++)
		synopsis(f, "bpfmasq ", &cli_cmds[i]);
	fputs("\nCommands:\n", f);
	for (i = 0; i < CMD_MAX; i++) {
		at = fprintf(f, "  %s %s", cli_cmds[i].name,
			     cli_cmds[i].actions ? "..."
						 : cli_iface_arg(&cli_cmds[i]));
		wrap(f, cli_cmds[i].summary, ' ', at, 18, 18);
	}
	fputs("\nOptions (every command takes", f);
	for (i = 0, at = 0; i < cli_n_opts; i++)
		if (cli_opts[i].cmds == CMDS_ALL)
			fprintf(f, "%s --%s", at++ ? "," : "",
				cli_opts[i].name);
	fputs("):\n", f);
	for (i = 0; i < cli_n_opts; i++)
		opt_help(f, &cli_opts[i]);
	fputs("\n'bpfmasq COMMAND --help' lists the options of one command.\n",
	      f);
}
