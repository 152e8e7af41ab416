/* SPDX-License-Identifier: GPL-2.0 */
/* daemon.h - the `run` command: the foreground daemon for systemd. */
#ifndef BPFMASQ_USER_DAEMON_H
#define BPFMASQ_USER_DAEMON_H

#include "opts.h"

/* Attach, then collect garbage until stopped or detached; 0 or -errno. */
int daemon_run(const struct masq_opts *o);

#endif /* BPFMASQ_USER_DAEMON_H */
