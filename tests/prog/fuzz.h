/* SPDX-License-Identifier: GPL-2.0 */
/*
 * fuzz.h - the fuzz test's state and its packet generator (fuzz_gen.c):
 * a small universe of hosts, ports and remotes, so that endpoints collide
 * and mappings recur, and the mutations that make packets invalid.
 */
#ifndef PROG_TEST_FUZZ_H
#define PROG_TEST_FUZZ_H

#include "model.h"
#include "scenario.h"

struct fuzz {
	struct fixture fx;
	struct model m;
	uint64_t rng;
	long n; /* the packet being sent, from 1 */
	uint64_t stats[BPFMASQ_STAT_MAX];
	long count[2][V_OTHER + 1]; /* sent, by direction and class */
	long translated, dropped;
	long pool_empty; /* new mappings that found no port */
	long to_quarantined; /* inbound packets to a quarantined port */
	long shared; /* new flows on a port shared when the pool was dry */
	long to_borrower; /* replies on a lent port, to its borrower */
	long lent_drops; /* owners' packets to the remote their port is lent for */
	long cross_port; /* see struct expect */
	char summary[320];
};

/* splitmix64: one seed, one sequence. */
static inline __u32 fuzz_rand(struct fuzz *z)
{
	uint64_t x = (z->rng += 0x9e3779b97f4a7c15ull);

	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return (x ^ (x >> 31)) >> 16;
}

/* True with probability @pct percent. */
static inline bool chance(struct fuzz *z, __u32 pct)
{
	return fuzz_rand(z) % 100 < pct;
}

#define PICK(z, a) ((a)[fuzz_rand(z) % ARRAY_SIZE(a)])

/* Fill the junk bytes that mutations draw from, from @z's sequence. */
void fuzz_gen_init(struct fuzz *z);
/* A random frame, valid or mutated, from inside (@outbound) or outside. */
void fuzz_gen_frame(struct fuzz *z, bool outbound, struct frame *f);

#endif /* PROG_TEST_FUZZ_H */
