/* SPDX-License-Identifier: GPL-2.0 */
/*
 * cli.h - the command line as data: the commands, and every option with its
 * argument, the commands that take it and its help. Parsing (opts.c),
 * `--help` and the man page (tools/gen_man.c) are all driven by these two
 * tables, so they cannot disagree. Plain C and stdio only: the man page
 * generator is built from the same source for the build host.
 */
#ifndef BPFMASQ_USER_CLI_H
#define BPFMASQ_USER_CLI_H

#include <stdbool.h>
#include <stdio.h>

#include "bpfmasq.h"

enum cli_cmd_id {
	CMD_ATTACH,
	CMD_RUN,
	CMD_DETACH,
	CMD_STATUS,
	CMD_CONNS,
	CMD_STATS,
	CMD_FLUSH,
	CMD_GC,
	CMD_CHECK,
	CMD_FORWARD,
	CMD_STATIC,
	CMD_MAX,
};

#define CMD_BIT(id) (1u << (id))
#define CMDS_ALL (CMD_BIT(CMD_MAX) - 1)

enum cli_iface {
	IFACE_REQUIRED, /* "IFACE" */
	IFACE_OPTIONAL, /* "[IFACE]" */
};

struct cli_cmd {
	enum cli_cmd_id id;
	const char *name;
	/* "add|del|list": the word before IFACE that says what to do; or NULL */
	const char *actions;
	enum cli_iface iface;
	/* What follows IFACE, e.g. "[tcp|udp PORT[-END] [ADDR[:PORT]]]"; or NULL */
	const char *args;
	const char *summary; /* one line, no final period */
};

/* The most words a command takes after IFACE. */
#define CLI_MAX_ARGS 3

/* getopt_long values; a short option's row also has its letter. */
enum cli_opt_id {
	OPT_ADDRESS = 256,
	OPT_INTERNAL,
	OPT_EXCLUDE,
	OPT_FAST_PATH,
	OPT_HAIRPIN,
	OPT_PORTS,
	OPT_FILTERING,
	OPT_MAX_SESSIONS,
	OPT_MAX_INBOUND,
	OPT_MAX_PORTS_PER_HOST,
	OPT_MAX_SESSIONS_PER_HOST,
	OPT_PORT_SHARING,
	OPT_FROM,
#define OPT_TIMEOUT_ID(name, opt, key, dflt, what) OPT_TIMEOUT_##name,
	BPFMASQ_TIMEOUTS(OPT_TIMEOUT_ID) /* in BPFMASQ_TIMEOUT_* order */
#undef OPT_TIMEOUT_ID
	OPT_MODE,
	OPT_GC_INTERVAL,
	OPT_POOLS,
	OPT_FORCE,
	OPT_JSON,
	OPT_BPFFS,
	OPT_VERBOSE,
	OPT_HELP,
};

struct cli_opt {
	enum cli_opt_id id;
	const char *name; /* long name, without the dashes */
	char short_name; /* 0: none */
	const char *arg; /* what it takes, e.g. "LO-HI"; NULL: no argument */
	bool repeat; /* may be given more than once */
	unsigned int cmds; /* CMD_BIT()s of the commands that take it */
	const char *help; /* one or more sentences */
};

extern const struct cli_cmd cli_cmds[CMD_MAX];
extern const struct cli_opt cli_opts[];
extern const unsigned int cli_n_opts;

/* NULL if @name is no command. */
const struct cli_cmd *cli_cmd_find(const char *name);
/* "IFACE", "[IFACE]". */
const char *cli_iface_arg(const struct cli_cmd *c);
/* Is @action one of @c's? */
bool cli_action_ok(const struct cli_cmd *c, const char *action);
static inline bool cli_takes(const struct cli_cmd *c, const struct cli_opt *o)
{
	return o->cmds & CMD_BIT(c->id);
}

/* `bpfmasq --help` (@c NULL) or `bpfmasq COMMAND --help`. */
void cli_help(FILE *f, const struct cli_cmd *c);

#endif /* BPFMASQ_USER_CLI_H */
