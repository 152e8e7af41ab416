// SPDX-License-Identifier: GPL-2.0
/*
 * t_gc.c - the collector making room: with the session table nearly full,
 * sessions that never saw a reply give way, oldest first, and answered
 * ones are never evicted (RFC 6888 REQ-11).
 */
#include "scenario.h"

#define TABLE 20 /* sessions: 90% is 18, 80% is 16 */

/*
 * @answered flows from HOST1 that got a reply, then @unreplied from HOST2
 * that did not, in that order (so by age); then one GC pass.
 */
static bool fill(struct fixture *fx, int answered, int unreplied,
		 struct gc_result *res)
{
	const struct fx_opts opts = { .max_sessions = TABLE };
	struct pkt_spec s, r;
	__u16 port;
	int i;

	if (!fx_setup(fx, &opts))
		return false;
	for (i = 0; i < answered; i++) {
		s = udp_spec(HOST1, 50000 + i, REMOTE1, 53, query);
		r = udp_spec(REMOTE1, 53, EXT_ADDR, 0, answer);
		if (!send_out(fx, &s, &port))
			return false;
		r.dport = port;
		if (!send_in(fx, &r, HOST1, 50000 + i))
			return false;
	}
	for (i = 0; i < unreplied; i++) {
		s = udp_spec(HOST2, 50000 + i, REMOTE1, 53, query);
		if (!send_out(fx, &s, NULL))
			return false;
	}
	return ASSERT_OK(gc_pass(&fx->maps, now_boot_ns(), res), "gc_pass");
}

PROG_TEST(gc_pressure, TEST_REPLIES | TEST_SUBTESTS)
{
	struct bpfmasq_session sess;
	struct gc_result res;
	struct fixture fx;
	int i;

	/* 19 of 20: past 90%, down to 80% by the 3 oldest unanswered. */
	if (test_subtest("nearly full")) {
		if (fill(&fx, 10, 9, &res)) {
			ASSERT_EQ(res.sessions_evicted, 3, "sessions evicted");
			ASSERT_EQ(res.sessions, 16, "sessions live");
			ASSERT_EQ(map_count(fx.maps.sessions), 16,
				  "sessions entries");
			for (i = 0; i < 10; i++)
				ASSERT_OK(fx_session(&fx, HOST1, 50000 + i,
						     REMOTE1, 53, IPPROTO_UDP,
						     &sess),
					  "an answered session");
			for (i = 0; i < 9; i++)
				ASSERT_EQ(
					fx_session(&fx, HOST2, 50000 + i,
						   REMOTE1, 53, IPPROTO_UDP,
						   &sess),
					i < 3 ? -ENOENT : 0,
					"an unanswered session (oldest gone)");
		}
		fx_teardown(&fx);
	}
	/* 18 of 20: not past 90%, nothing goes. */
	if (test_subtest("below the mark")) {
		if (fill(&fx, 10, 8, &res)) {
			ASSERT_EQ(res.sessions_evicted, 0, "sessions evicted");
			ASSERT_EQ(map_count(fx.maps.sessions), 18,
				  "sessions entries");
		}
		fx_teardown(&fx);
	}
	/* 19 of 20, all answered: none gives way. */
	if (test_subtest("answered only")) {
		if (fill(&fx, 19, 0, &res)) {
			ASSERT_EQ(res.sessions_evicted, 0, "sessions evicted");
			ASSERT_EQ(map_count(fx.maps.sessions), 19,
				  "sessions entries");
		}
		fx_teardown(&fx);
	}
}
