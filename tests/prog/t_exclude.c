// SPDX-License-Identifier: GPL-2.0
/*
 * t_exclude.c - destinations that are never translated (--exclude, RFC 6888
 * REQ-6): flows to them leave with their inside source and make no state,
 * later fragments and ICMP errors to them too; packets from them may reach
 * an inside host, when from anywhere else they would be unsolicited.
 */
#include "scenario.h"
#include "state.h"

/* REMOTE2 is excluded; REMOTE1, in the same /24, is not. */
static bool setup_excluded(struct fixture *fx)
{
	const struct cidr ex = { REMOTE2, 32 };

	return fx_setup(fx, NULL) &&
	       ASSERT_OK(lpm_set(fx->maps.excluded_nets, &ex, 1), "--exclude");
}

PROG_TEST(exclude_out, 0)
{
	struct pkt_spec s = udp_spec(HOST1, OUT_RANGE_PORT, REMOTE2, 53, query);
	struct fixture fx;

	if (!setup_excluded(&fx))
		goto out;
	test_ctx("to the excluded prefix");
	expect_untouched_spec(&fx, true, &s, TC_OK);
	s = tcp_spec(HOST1, OUT_RANGE_PORT, REMOTE2, 22, PKT_TCP_SYN);
	expect_untouched_spec(&fx, true, &s, TC_OK);
	test_ctx(NULL);
	ASSERT_TABLES(&fx, 0, 0);
	ASSERT_STATS(&fx, STAT(EXCLUDED, 2));
	s = udp_spec(HOST1, OUT_RANGE_PORT, REMOTE1, 53, query);
	if (send_out(&fx, &s, NULL))
		ASSERT_TABLES(&fx, 1, 1);
out:
	fx_teardown(&fx);
}

/*
 * A later fragment and an ICMP error to the excluded prefix leave as they
 * are: rewriting a fragment's source would part it from its first one.
 */
/* .fast, none forwarded: a later fragment and an error: the kernel's path. */
PROG_TEST(exclude_fragment_and_error, TEST_FAST_NONE)
{
	struct pkt_spec f = { .saddr = HOST1,
			      .daddr = REMOTE2,
			      .proto = IPPROTO_UDP,
			      .frag = 3,
			      .ip_id = 0x3131 };
	struct pkt_spec q =
		udp_spec(REMOTE2, 53, HOST1, OUT_RANGE_PORT, answer);
	struct icmp_error_spec e = {
		.saddr = HOST1, .daddr = REMOTE2, .type = 3, .code = 3
	};
	struct frame in, quoted;
	struct fixture fx;

	if (!setup_excluded(&fx))
		goto out;
	frame_wrap(&in, &f, (const __u8 *)query, 16);
	test_ctx("later fragment");
	expect_untouched(&fx, true, &in, TC_OK);
	frame_build(&quoted, &q);
	frame_build_icmp_error(&in, &e, &quoted);
	test_ctx("port unreachable");
	expect_untouched(&fx, true, &in, TC_OK);
	test_ctx(NULL);
	ASSERT_TABLES(&fx, 0, 0);
	ASSERT_STATS(&fx, STAT(EXCLUDED, 2));
out:
	fx_teardown(&fx);
}

/*
 * Straight to an inside address: from the excluded prefix it passes (the
 * inside talks to it untranslated), from anywhere else it is unsolicited.
 */
/* .fast, none forwarded: replies that match no flow: none translated. */
PROG_TEST(exclude_in, TEST_REPLIES | TEST_FAST_NONE)
{
	struct pkt_spec a =
		udp_spec(REMOTE2, 53, HOST1, OUT_RANGE_PORT, answer);
	struct fixture fx;

	if (!setup_excluded(&fx))
		goto out;
	test_ctx("from the excluded prefix");
	expect_untouched_spec(&fx, false, &a, XDP_VERDICT_PASS);
	a.saddr = REMOTE1;
	test_ctx("from elsewhere");
	expect_untouched_spec(&fx, false, &a, XDP_VERDICT_DROP);
	test_ctx(NULL);
	ASSERT_TABLES(&fx, 0, 0);
	ASSERT_STATS(&fx, STAT(EXCLUDED, 1), STAT(UNSOLICITED, 1));
out:
	fx_teardown(&fx);
}
