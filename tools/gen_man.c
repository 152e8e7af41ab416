// SPDX-License-Identifier: GPL-2.0
/*
 * gen_man.c - writes bpfmasq(8), in roff, from the command and option tables
 * of user/cli.c; built for the build host and run by make, so the man page
 * never drifts from the parser and --help.
 */
#include <ctype.h>
#include <stdio.h>

#include "cli.h"

/* Text for a roff text line or macro argument: escapes \ and -. */
static void roff(const char *s)
{
	if (*s == '.' || *s == '\'')
		fputs("\\&", stdout);
	for (; *s; s++) {
		if (*s == '\\')
			fputs("\\e", stdout);
		else if (*s == '-')
			fputs("\\-", stdout);
		else
			putchar(*s);
	}
}

/* "\fB\-\-ports\fR \fILO\-HI\fR", inline, never hyphenated. */
static void opt_tag(const char *before, const struct cli_opt *o)
{
	/* \% starts a word that is not to be hyphenated */
	if (o->short_name)
		printf("\\%%%s\\fB\\-%c\\fR, ", before, o->short_name);
	printf("\\%%%s\\fB\\-\\-", o->short_name ? "" : before);
	roff(o->name);
	fputs("\\fR", stdout);
	if (o->arg) {
		fputs("\\ \\fI", stdout);
		roff(o->arg);
		fputs("\\fR", stdout);
	}
}

static void synopsis(const struct cli_cmd *c)
{
	unsigned int i;

	printf(".SY bpfmasq\n.B %s\n", c->name);
	if (c->actions)
		printf(".B %s\n", c->actions);
	if (c->iface == IFACE_OPTIONAL)
		puts(".RI [ IFACE ]");
	else
		puts(".I IFACE");
	if (c->args)
		printf(".I %s\n", c->args);
	for (i = 0; i < cli_n_opts; i++) {
		const struct cli_opt *o = &cli_opts[i];

		if (!cli_takes(c, o) || o->cmds == CMDS_ALL)
			continue;
		opt_tag("[", o);
		printf("]%s\n", o->repeat ? "...\\&" : "");
	}
	puts(".YS");
}

/* "attach, run" or "every command". */
static void takers(const struct cli_opt *o)
{
	int i, n = 0;

	if (o->cmds == CMDS_ALL) {
		fputs("every command", stdout);
		return;
	}
	for (i = 0; i < CMD_MAX; i++)
		if (cli_takes(&cli_cmds[i], o))
			printf("%s\\fB%s\\fR", n++ ? ", " : "",
			       cli_cmds[i].name);
}

int main(void)
{
	unsigned int i;
	int c, n;

	puts(".\\\" bpfmasq(8), written by tools/gen_man.c from the tables in "
	     "user/cli.c.\n"
	     ".\\\" Do not edit: change the tables.\n"
	     ".TH BPFMASQ 8 \"\" \"bpfmasq\" \"System Administration\"\n"
	     ".nh\n"
	     ".ad l\n"
	     ".SH NAME\n"
	     "bpfmasq \\- IPv4 masquerading NAT with an eBPF data path\n"
	     ".SH SYNOPSIS");
	for (c = 0; c < CMD_MAX; c++)
		synopsis(&cli_cmds[c]);
	puts(".PP\nEvery command also takes");
	for (i = 0, n = 0; i < cli_n_opts; i++) {
		if (cli_opts[i].cmds != CMDS_ALL)
			continue;
		fputs(n++ ? ",\n" : "", stdout);
		opt_tag("", &cli_opts[i]);
	}
	puts(".\n"
	     ".SH DESCRIPTION\n"
	     ".B bpfmasq\n"
	     "translates the IPv4 source address and port of what inside hosts "
	     "send out through a gateway's interface\n"
	     ".I IFACE\n"
	     "to the interface's address (masquerading, or NAT overload), and "
	     "translates the replies back.\n"
	     "The translation runs in BPF programs on the interface: TC egress "
	     "for outbound packets, XDP or TC ingress for replies.\n"
	     "Programs, maps and state are pinned in a bpf filesystem, so they "
	     "outlive the command that attached them;\n"
	     ".B bpfmasq run\n"
	     "adds the periodic garbage collection of expired sessions and "
	     "follows the interface's address.\n"
	     ".SH COMMANDS");
	for (c = 0; c < CMD_MAX; c++) {
		const struct cli_cmd *cmd = &cli_cmds[c];

		printf(".TP\n\\fB%s\\fR \\fI%s\\fR\n%c", cmd->name,
		       cli_iface_arg(cmd), toupper(cmd->summary[0]));
		roff(cmd->summary + 1);
		puts(".");
		for (i = 0, n = 0; i < cli_n_opts; i++) {
			if (!cli_takes(cmd, &cli_opts[i]) ||
			    cli_opts[i].cmds == CMDS_ALL)
				continue;
			fputs(n++ ? ",\n" : "Options:\n", stdout);
			opt_tag("", &cli_opts[i]);
		}
		if (n)
			puts(".");
	}
	puts(".SH OPTIONS\n"
	     "Options may come before or after the command and the interface.\n"
	     "An option that the command does not take is refused.");
	for (i = 0; i < cli_n_opts; i++) {
		puts(".TP");
		opt_tag("", &cli_opts[i]);
		putchar('\n');
		roff(cli_opts[i].help);
		fputs("\nTaken by ", stdout);
		takers(&cli_opts[i]);
		puts(".");
	}
	puts(".SH ENVIRONMENT\n"
	     ".TP\n"
	     ".B BPFMASQ_BPFFS\n"
	     "The bpf filesystem to pin under when there is no\n"
	     ".BR \\-\\-bpffs .\n"
	     ".SH FILES\n"
	     ".TP\n"
	     ".I /sys/fs/bpf/bpfmasq/IFACE/\n"
	     "The pinned programs, maps and state of the instance on\n"
	     ".IR IFACE .\n"
	     ".SH EXIT STATUS\n"
	     "0 on success, 1 on a failure, 2 on bad usage; the reason is one "
	     "line on standard error.\n"
	     ".B \\-\\-help\n"
	     "prints on standard output and exits 0.\n"
	     ".SH SEE ALSO\n"
	     ".BR ip (8),\n"
	     ".BR tc (8),\n"
	     ".BR bpftool (8)");
	return 0;
}
