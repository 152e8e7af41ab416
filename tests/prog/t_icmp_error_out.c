// SPDX-License-Identifier: GPL-2.0
/*
 * t_icmp_error_out.c - ICMP errors out: errors from an inside host, or the
 * gateway, about a reply, translated to the external endpoint; and the ones
 * that must not leave.
 */
#include "scenario.h"

/*
 * An error about a reply that reached inside host HOST1, sent by @from:
 * HOST1 itself, or the gateway (EXT_ADDR), which could not deliver the
 * reply. Either way the quote is translated back; an outer source of
 * HOST1 is translated too, the gateway's own stays.
 */
static void run_error_out(__u16 inside_port, __u16 l4_quoted, __be32 from,
			  __u8 code)
{
	struct pkt_spec q = udp_spec(HOST1, inside_port, REMOTE1, 53, query);
	struct frame sent, received, orig;
	struct bpfmasq_session before;
	struct icmp_error_spec e;
	struct pkt_spec a;
	struct fixture fx;
	__u16 port;

	if (!fx_setup(&fx, NULL))
		return;
	if (!open_flow(&fx, &q, &sent, &port, &before))
		goto out;
	a = udp_spec(REMOTE1, 53, EXT_ADDR, port, answer);
	if (!send_in(&fx, &a, HOST1, inside_port) ||
	    !ASSERT_OK(flow_session(&fx, &q, &before), "session lookup"))
		goto out;
	frame_build(&orig, &a);
	a.daddr = HOST1;
	a.dport = inside_port;
	frame_build(&received, &a);
	e = (struct icmp_error_spec){ .saddr = from,
				      .daddr = REMOTE1,
				      .type = ICMP_DEST_UNREACH,
				      .code = code,
				      .quote_len =
					      quote_len(&received, l4_quoted) };
	if (!send_error(&fx, true, &e, &received, &orig))
		goto out;
	expect_session_unchanged(&fx, &q, &before);
	ASSERT_TABLES(&fx, 1, 1);
	ASSERT_STATS(&fx, STAT(TRANSLATED_OUT, 2), STAT(TRANSLATED_IN, 1),
		     STAT(NEW_MAPPING, 1), STAT(NEW_SESSION, 1));
out:
	fx_teardown(&fx);
}

/*
 * An inside host's port unreachable about a reply it got: leaves from the
 * external address, quoting the reply as the remote sent it.
 */
PROG_TEST(icmp_error_out, TEST_REPLIES | TEST_SUBTESTS)
{
	if (test_subtest("whole datagram quoted"))
		run_error_out(OUT_RANGE_PORT, 0, HOST1, ICMP_PORT_UNREACH);
	if (test_subtest("8 bytes quoted"))
		run_error_out(OUT_RANGE_PORT, 8, HOST1, ICMP_PORT_UNREACH);
}

/* The gateway's fragmentation needed towards a smaller LAN MTU. */
PROG_TEST(icmp_error_from_gateway, TEST_REPLIES)
{
	run_error_out(OUT_RANGE_PORT, 0, EXT_ADDR, ICMP_FRAG_NEEDED);
}

/* An inside port in the range: from the pool all the same. */
PROG_TEST(icmp_error_out_in_range_port, TEST_REPLIES)
{
	run_error_out(IN_RANGE_PORT, 0, HOST1, ICMP_PORT_UNREACH);
}

/* An error from inside that matches no session would leak the address. */
PROG_TEST(icmp_error_out_unmatched, TEST_SUBTESTS)
{
	static const struct {
		const char *name;
		__be32 from; /* outer source */
		__u8 proto;
		__be32 saddr; /* quoted */
		__u16 sport;
		__be32 daddr;
		__u16 dport;
		bool later_fragment;
	} rows[] = {
		{ "no mapping for the quoted destination", HOST1, IPPROTO_UDP,
		  REMOTE1, 53, HOST1, OUT_RANGE_PORT + 1, false },
		{ "the port is another protocol's", HOST1, IPPROTO_TCP, REMOTE1,
		  53, HOST1, OUT_RANGE_PORT, false },
		{ "no session with the quoted source", HOST1, IPPROTO_UDP,
		  STRANGER, 53, HOST1, OUT_RANGE_PORT, false },
		{ "same remote, another port", HOST1, IPPROTO_UDP, REMOTE1,
		  5353, HOST1, OUT_RANGE_PORT, false },
		/* Quotes the live flow, but another inside host sends it. */
		{ "quoted destination is not the sender", HOST2, IPPROTO_UDP,
		  REMOTE1, 53, HOST1, OUT_RANGE_PORT, false },
		{ "quoted non-first fragment", HOST1, IPPROTO_UDP, REMOTE1, 53,
		  HOST1, OUT_RANGE_PORT, true },
	};
	struct pkt_spec q = udp_spec(HOST1, OUT_RANGE_PORT, REMOTE1, 53, query);
	struct bpfmasq_session before;
	struct frame sent, quoted, in;
	struct icmp_error_spec e;
	struct pkt_spec s;
	struct fixture fx;
	__u8 l4[FRAME_MAX];
	size_t i;

	for (i = 0; i < ARRAY_SIZE(rows); i++) {
		if (!test_subtest("%s", rows[i].name))
			continue;
		if (!fx_setup(&fx, NULL))
			return;
		if (!open_flow(&fx, &q, &sent, NULL, &before))
			goto next;
		s = rows[i].proto == IPPROTO_TCP
			    ? tcp_spec(rows[i].saddr, rows[i].sport,
				       rows[i].daddr, rows[i].dport,
				       PKT_TCP_SYN | PKT_TCP_ACK)
			    : udp_spec(rows[i].saddr, rows[i].sport,
				       rows[i].daddr, rows[i].dport, answer);
		if (rows[i].later_fragment) {
			/* Data that looks like the flow's UDP header. */
			l4_build(&s, l4);
			s.frag = 3;
			frame_wrap(&quoted, &s, l4, 16);
		} else {
			frame_build(&quoted, &s);
		}
		e = (struct icmp_error_spec){ .saddr = rows[i].from,
					      .daddr = rows[i].saddr,
					      .type = ICMP_DEST_UNREACH,
					      .code = ICMP_PORT_UNREACH };
		frame_build_icmp_error(&in, &e, &quoted);
		expect_ignored(&fx, true, &in, TC_SHOT,
			       BPFMASQ_STAT_UNSUPPORTED);
		expect_session_unchanged(&fx, &q, &before);
	next:
		fx_teardown(&fx);
	}
}

/* The gateway's own errors, and routed ones, are not translated. */
/* .fast, none forwarded: errors, none translated. */
PROG_TEST(icmp_error_out_not_inside, TEST_SUBTESTS | TEST_FAST_NONE)
{
	static const struct {
		const char *name;
		bool inside_any;
		__be32 saddr;
	} rows[] = {
		{ "gateway's external address", false, EXT_ADDR },
		{ "gateway's external address, inside 0/0", true, EXT_ADDR },
		{ "gateway's LAN address, inside 0/0", true, GW_LAN_ADDR },
		{ "outside the prefixes", false, OUTSIDER },
	};
	struct icmp_error_spec e;
	struct fx_opts opts = {};
	struct frame quoted, in;
	struct pkt_spec s;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(rows); i++) {
		if (!test_subtest("%s", rows[i].name))
			continue;
		opts.inside_any = rows[i].inside_any;
		s = udp_spec(REMOTE1, 53, rows[i].saddr, PORT_MAX + 1, answer);
		frame_build(&quoted, &s);
		e = (struct icmp_error_spec){ .saddr = rows[i].saddr,
					      .daddr = REMOTE1,
					      .type = ICMP_DEST_UNREACH,
					      .code = ICMP_PORT_UNREACH };
		frame_build_icmp_error(&in, &e, &quoted);
		expect_ignored_fresh(&opts, true, &in, TC_OK,
				     BPFMASQ_STAT_NOT_INSIDE);
	}
}
