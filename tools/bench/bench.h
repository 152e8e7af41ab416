/* SPDX-License-Identifier: GPL-2.0 */
/* Shared by the benchmark's XDP programs and their loader, bmqgen. */
#ifndef BENCH_H
#define BENCH_H

/* The first payload word of every generated packet: "bmqb". */
#define BENCH_MAGIC 0x626d7162

/* Ethernet, IPv4 and UDP headers and the magic word. */
#define BENCH_TMPL_LEN 46

/* Which address of the generated packet moves with the host. */
enum {
	BENCH_VARY_NONE,
	BENCH_VARY_SRC,
	BENCH_VARY_DST,
};

#endif
