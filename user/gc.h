/* SPDX-License-Identifier: GPL-2.0 */
/* gc.h - garbage collection of expired sessions and unused mappings. */
#ifndef BPFMASQ_USER_GC_H
#define BPFMASQ_USER_GC_H

#include <stdint.h>

#include "maps.h"

struct gc_result {
	long sessions; /* live after the pass */
	long sessions_expired;
	long sessions_evicted; /* made room for: never answered, or closed */
	long mappings_freed;
	long ports_returned;
	long frags_expired;
	long owners_repaired; /* left without their mapping by a killed pass */
};

/* Idle timeout of a session in seconds, by protocol and TCP state. */
uint32_t session_timeout(const struct bpfmasq_instance *inst,
			 const struct bpfmasq_session_key *key,
			 const struct bpfmasq_session *s);

/*
 * One pass at time @now (boot-time ns): delete expired sessions (and, past
 * 90% of the table, those that never saw a reply or are closed, oldest
 * first, down to 80%), then the
 * mappings no session uses any more, returning their ports to the pools,
 * then the fragment entries past the reassembly timeout, and owners left
 * without their mapping (a pass killed half-way) with their ports.
 */
int gc_pass(const struct masq_maps *m, uint64_t now, struct gc_result *res);

#endif /* BPFMASQ_USER_GC_H */
