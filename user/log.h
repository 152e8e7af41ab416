/* SPDX-License-Identifier: GPL-2.0 */
/* log.h - error messages and the verbose switch for libbpf's own logs. */
#ifndef BPFMASQ_USER_LOG_H
#define BPFMASQ_USER_LOG_H

#include <stdbool.h>

extern bool log_verbose;

/* "bpfmasq: <message>\n" on stderr. */
void pr_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void pr_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void pr_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_setup(bool verbose);

#endif /* BPFMASQ_USER_LOG_H */
