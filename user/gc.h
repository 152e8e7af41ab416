/* SPDX-License-Identifier: GPL-2.0 */
/* gc.h - garbage collection of expired sessions and unused mappings. */
#ifndef BPFMASQ_USER_GC_H
#define BPFMASQ_USER_GC_H

#include <stdbool.h>
#include <stdint.h>

#include "maps.h"

struct gc_result {
	long sessions; /* live after the pass */
	long sessions_expired;
	long sessions_evicted; /* made room for: never answered, or closed */
	long mappings_freed; /* their ports went to quarantine */
	long ports_returned; /* quarantine over: back in the pool */
	long frags_expired;
	long owners_repaired; /* owned ports without their mapping */
	long lent_freed; /* LENT entries no SHARED session named */
	long ports_unreserved; /* the gateway's socket on them has gone */
	long forwards_taken; /* ports (or mappings) a forward took */
	long forwards_dropped; /* ports of forwards that are gone, let go */
	long addrs_forgotten; /* DRAINING addresses with nothing left on them */
	bool flush_finished; /* a flush had been killed: the pass ran it */
};

/* Idle timeout of a session in seconds, by protocol and TCP state. */
uint32_t session_timeout(const struct bpfmasq_instance *inst,
			 const struct bpfmasq_session_key *key,
			 const struct bpfmasq_session *s);

/*
 * One pass at time @now (boot-time ns): delete expired sessions (and, past
 * 90% of the table, those that never saw a reply or are closed, oldest
 * first, down to 80%), then release the mappings no session uses any more
 * (their ports go to quarantine), forget the fragment entries past the
 * reassembly timeout, return the ports whose quarantine is over to their
 * pools and quarantine owned ports left without a mapping. A flush that
 * was killed half-way (config flag FLUSHING) is finished instead.
 */
int gc_pass(const struct masq_maps *m, uint64_t now, struct gc_result *res);

/*
 * The forwards' part of a pass, on its own: ports that forwards name are
 * taken for them (free, RETURNED, or quarantined and over), the ports of
 * forwards that are gone let go once no session is on them. For `forward
 * add` and `del`, which change the forwards and want them in effect now.
 */
int gc_forwards_now(const struct masq_maps *m, uint64_t now,
		    struct gc_result *res);

#endif /* BPFMASQ_USER_GC_H */
