// SPDX-License-Identifier: GPL-2.0
/* log.c - messages on stderr; libbpf's log only with --verbose. */
#include <stdarg.h>
#include <stdio.h>
#include <bpf/libbpf.h>

#include "log.h"

bool log_verbose;

static void vpr(const char *fmt, va_list ap)
{
	fputs("bpfmasq: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

void pr_err(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vpr(fmt, ap);
	va_end(ap);
}

void pr_info(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vpr(fmt, ap);
	va_end(ap);
}

void pr_debug(const char *fmt, ...)
{
	va_list ap;

	if (!log_verbose)
		return;
	va_start(ap, fmt);
	vpr(fmt, ap);
	va_end(ap);
}

static int libbpf_print(enum libbpf_print_level level, const char *fmt,
			va_list ap)
{
	(void)level;
	return log_verbose ? vfprintf(stderr, fmt, ap) : 0;
}

void log_setup(bool verbose)
{
	log_verbose = verbose;
	libbpf_set_print(libbpf_print);
}
