/* SPDX-License-Identifier: GPL-2.0 */
/*
 * check.h - the state checker: reads the maps of an instance and reports
 * every invariant of README.md's "Where state lives" that does not hold.
 */
#ifndef BPFMASQ_USER_CHECK_H
#define BPFMASQ_USER_CHECK_H

#include <stdbool.h>

#include "maps.h"

/* X(name, what is wrong): the kinds of violation, as printed. */
#define CHECK_KINDS(X)                                                         \
	X(OWNER_MISSING, "owner_missing")                                      \
	X(OWNER_MISMATCH, "owner_mismatch")                                    \
	X(OWNER_ORPHAN, "owner_orphan")                                        \
	X(MAPPING_ADDRESS, "mapping_address")                                  \
	X(PORT_RANGE, "port_range")                                            \
	X(OWNER_STATE, "owner_state")                                          \
	X(SESSION_UNMAPPED, "session_unmapped")                                \
	X(SESSION_MISMATCH, "session_mismatch")                                \
	X(SHARED_UNLENT, "shared_unlent")                                      \
	X(LENT_ORPHAN, "lent_orphan")                                          \
	X(PAIR_TWICE, "pair_twice")                                            \
	X(POOL_MISSING, "pool_missing")                                        \
	X(PORT_QUEUED_OWNED, "port_queued_owned")                              \
	X(PORT_QUEUED_TWICE, "port_queued_twice")                              \
	X(PORT_QUEUED_OUT_OF_RANGE, "port_queued_out_of_range")                \
	X(PORT_LOST, "port_lost")                                              \
	X(STATIC_UNPAIRED, "static_unpaired")                                  \
	X(STATIC_ADDRESS, "static_address")                                    \
	X(STATIC_FLAG, "static_flag")                                          \
	X(HOST_COUNT, "host_count")                                            \
	X(HOST_ADDRESS, "host_address")                                        \
	X(POOL_ADDRESS, "pool_address")                                        \
	/* Not a violation: a session of an old address (see check.c). */      \
	X(STALE_SESSION, "stale_session")

#define CHECK_KIND_ENUM(name, str) CHECK_##name,
enum check_kind { CHECK_KINDS(CHECK_KIND_ENUM) CHECK_KIND_MAX };
#undef CHECK_KIND_ENUM

extern const char *const check_kind_names[CHECK_KIND_MAX];

struct check_finding {
	enum check_kind kind;
	/* What it is about; fields that do not apply are zero. */
	struct bpfmasq_endpoint inside;
	struct bpfmasq_endpoint ext;
	__be32 remote_addr;
	__be16 remote_port;
	char msg[160]; /* the whole finding in words, endpoints included */
};

struct check_opts {
	/* Read the port pools too: drains each queue and refills it. */
	bool pools;
};

struct check_result {
	long mappings, owners, sessions, ports_queued, statics; /* read */
	long n_violations;
	struct check_finding *violations;
	long n_stale;
	struct check_finding *stale; /* CHECK_STALE_SESSION */
};

/*
 * Check the state in @m. A violation is reported only when every one of a
 * few passes, some milliseconds apart, finds it: the data path and the
 * garbage collector change several maps one after the other, and what is
 * seen between two such steps is no violation. 0, or -errno when a map
 * could not be read. Free @res with check_result_free() either way.
 */
int check_run(const struct masq_maps *m, const struct check_opts *o,
	      struct check_result *res);
void check_result_free(struct check_result *res);

#endif /* BPFMASQ_USER_CHECK_H */
