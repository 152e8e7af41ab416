/* SPDX-License-Identifier: GPL-2.0 */
/* show.h - status, conns, stats and check, as text or JSON. */
#ifndef BPFMASQ_USER_SHOW_H
#define BPFMASQ_USER_SHOW_H

#include "opts.h"

int cmd_status(const struct masq_opts *o);
int cmd_conns(const struct masq_opts *o);
int cmd_stats(const struct masq_opts *o);
/* The state checker (check.c): 1 on a violation. */
int cmd_check(const struct masq_opts *o);
/* forward add|del|list (forward_cmd.c). */
int cmd_forward(const struct masq_opts *o);
int cmd_static(const struct masq_opts *o);
/* The list action of @o's command: no more words, then @print. */
int cmd_list(const struct masq_opts *o,
	     int (*print)(const struct masq_maps *m, bool as_json));

#endif /* BPFMASQ_USER_SHOW_H */
