// SPDX-License-Identifier: GPL-2.0
/*
 * t_filter.c - inbound filtering: endpoint-dependent and -independent, echo
 * replies, and unsolicited packets to the external address or to a LAN.
 */
#include <bpf/bpf.h>

#include "scenario.h"

/* Unknown remotes of a live mapping: a new address, or a new port. */
static const struct {
	const char *name;
	__be32 addr;
	__u16 port;
} strangers[] = {
	{ "other address", STRANGER, 53 },
	{ "same address, other port", REMOTE1, 5353 },
};

PROG_TEST(filter_dependent, TEST_REPLIES | TEST_SUBTESTS)
{
	struct pkt_spec q = udp_spec(HOST1, OUT_RANGE_PORT, REMOTE1, 53, query);
	struct pkt_spec a;
	struct fixture fx;
	__u16 port;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(strangers); i++) {
		if (!test_subtest("%s", strangers[i].name))
			continue;
		if (!setup_flow(&fx, NULL, &q, &port))
			goto next;
		a = udp_spec(strangers[i].addr, strangers[i].port, EXT_ADDR,
			     port, answer);
		expect_ignored_spec(&fx, false, &a, XDP_VERDICT_PASS,
				    BPFMASQ_STAT_FILTERED);
	next:
		fx_teardown(&fx);
	}
}

PROG_TEST(filter_independent, TEST_REPLIES | TEST_SUBTESTS)
{
	const struct fx_opts opts = { .filtering = BPFMASQ_FILTER_INDEPENDENT };
	struct pkt_spec q = udp_spec(HOST1, OUT_RANGE_PORT, REMOTE1, 53, query);
	struct bpfmasq_session s;
	struct pkt_spec a;
	struct fixture fx;
	__u16 port;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(strangers); i++) {
		if (!test_subtest("%s", strangers[i].name))
			continue;
		if (!setup_flow(&fx, &opts, &q, &port))
			goto next;
		a = udp_spec(strangers[i].addr, strangers[i].port, EXT_ADDR,
			     port, answer);
		if (!send_in(&fx, &a, HOST1, OUT_RANGE_PORT))
			goto next;
		if (ASSERT_OK(fx_session(&fx, HOST1, OUT_RANGE_PORT,
					 strangers[i].addr, strangers[i].port,
					 IPPROTO_UDP, &s),
			      "inbound-opened session")) {
			ASSERT_TRUE(s.flags & BPFMASQ_SESS_INBOUND,
				    "session flag INBOUND");
			ASSERT_EQ(ntohl(s.ext_addr), ntohl(EXT_ADDR),
				  "session ext_addr");
			ASSERT_EQ(ntohs(s.ext_port), port, "session ext_port");
			ASSERT_EQ(s.packets_in, 1, "packets_in");
		}
		ASSERT_TABLES(&fx, 1, 2);
		ASSERT_STATS(&fx, STAT(TRANSLATED_OUT, 1),
			     STAT(TRANSLATED_IN, 1), STAT(NEW_MAPPING, 1),
			     STAT(NEW_SESSION, 2));
	next:
		fx_teardown(&fx);
	}
}

/* Echo replies are let in only from the host that was pinged. */
PROG_TEST(filter_icmp, TEST_REPLIES | TEST_SUBTESTS)
{
	static const __u8 modes[] = { BPFMASQ_FILTER_DEPENDENT,
				      BPFMASQ_FILTER_INDEPENDENT };
	struct pkt_spec req = echo_spec(HOST1, REMOTE1, ICMP_ECHO, 0x1234);
	struct fx_opts opts = {};
	struct pkt_spec rep;
	struct fixture fx;
	__u16 ext_id;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(modes); i++) {
		if (!test_subtest("%s", modes[i] == BPFMASQ_FILTER_DEPENDENT
						? "dependent"
						: "independent"))
			continue;
		opts.filtering = modes[i];
		if (!setup_flow(&fx, &opts, &req, &ext_id))
			goto next;
		rep = echo_spec(STRANGER, EXT_ADDR, ICMP_ECHOREPLY, ext_id);
		expect_ignored_spec(&fx, false, &rep, XDP_VERDICT_PASS,
				    BPFMASQ_STAT_FILTERED);
	next:
		fx_teardown(&fx);
	}
}

/*
 * Endpoint-independent filtering opens inbound sessions only for a TCP
 * open: a stray ACK, RST or SYN-ACK from a stranger creates nothing.
 */
PROG_TEST(filter_independent_tcp, TEST_REPLIES | TEST_SUBTESTS)
{
	const struct fx_opts opts = { .filtering = BPFMASQ_FILTER_INDEPENDENT };
	const struct pkt_spec syn =
		tcp_spec(HOST1, OUT_RANGE_PORT, REMOTE1, 80, PKT_TCP_SYN);
	static const __u8 stray[] = { PKT_TCP_ACK, PKT_TCP_RST,
				      PKT_TCP_SYN | PKT_TCP_ACK };
	struct pkt_spec a;
	struct fixture fx;
	__u16 port;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(stray); i++) {
		if (!test_subtest("stray flags 0x%02x", stray[i]))
			continue;
		if (!setup_flow(&fx, &opts, &syn, &port))
			goto next;
		a = tcp_spec(STRANGER, 4444, EXT_ADDR, port, stray[i]);
		expect_ignored_spec(&fx, false, &a, XDP_VERDICT_PASS,
				    BPFMASQ_STAT_FILTERED);
	next:
		fx_teardown(&fx);
	}
	if (test_subtest("SYN from a stranger") && fx_setup(&fx, &opts)) {
		if (send_out(&fx, &syn, &port)) {
			a = tcp_spec(STRANGER, 4444, EXT_ADDR, port,
				     PKT_TCP_SYN);
			if (send_in(&fx, &a, HOST1, OUT_RANGE_PORT))
				ASSERT_TABLES(&fx, 1, 2);
		}
		fx_teardown(&fx);
	}
	/*
	 * The mapping released (by the collector) after the owner was found:
	 * the SYN opens nothing, and is not delivered.
	 */
	if (test_subtest("SYN to a mapping just released") &&
	    setup_flow(&fx, &opts, &syn, &port)) {
		const struct bpfmasq_endpoint inside = {
			.addr = HOST1,
			.port = htons(OUT_RANGE_PORT),
			.proto = IPPROTO_TCP,
		};

		if (ASSERT_OK(bpf_map_delete_elem(fx.maps.mappings, &inside)
				      ? -errno
				      : 0,
			      "releasing the mapping")) {
			a = tcp_spec(STRANGER, 4444, EXT_ADDR, port,
				     PKT_TCP_SYN);
			expect_untouched_spec(&fx, false, &a, XDP_VERDICT_PASS);
			ASSERT_EQ(map_count(fx.maps.sessions), 1,
				  "sessions entries (the flow's only)");
			ASSERT_STAT(&fx, BPFMASQ_STAT_FILTERED, 1);
		}
		fx_teardown(&fx);
	}
}

PROG_TEST(unsolicited_in, TEST_REPLIES | TEST_SUBTESTS)
{
	const struct pkt_spec rows[] = {
		tcp_spec(REMOTE1, 80, EXT_ADDR, 40123, PKT_TCP_SYN),
		udp_spec(REMOTE1, 53, EXT_ADDR, 40123, answer),
		echo_spec(REMOTE1, EXT_ADDR, ICMP_ECHOREPLY, 40123),
		/* A live port of another protocol is not this one's. */
		udp_spec(REMOTE1, 80, EXT_ADDR, IN_RANGE_PORT, answer),
	};
	static const char *const names[] = { "TCP", "UDP", "echo reply",
					     "UDP to a live TCP port" };
	struct pkt_spec syn =
		tcp_spec(HOST1, IN_RANGE_PORT, REMOTE1, 80, PKT_TCP_SYN);
	struct fixture fx;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(rows); i++) {
		if (!test_subtest("%s", names[i]))
			continue;
		if (!setup_flow(&fx, NULL, &syn, NULL))
			goto next;
		expect_ignored_spec(&fx, false, &rows[i], XDP_VERDICT_PASS,
				    BPFMASQ_STAT_NOT_OURS);
	next:
		fx_teardown(&fx);
	}
}

/*
 * Packets from the WAN addressed straight to a LAN host match no state:
 * dropped and counted, never left to the stack, which would forward them.
 */
/* .fast, none forwarded: unsolicited: dropped, none translated. */
PROG_TEST(unsolicited_to_lan, TEST_REPLIES | TEST_SUBTESTS | TEST_FAST_NONE)
{
	const struct pkt_spec rows[] = {
		tcp_spec(STRANGER, 4444, HOST1, 22, PKT_TCP_SYN),
		udp_spec(STRANGER, 53, HOST1, OUT_RANGE_PORT, answer),
		echo_spec(STRANGER, HOST2, ICMP_ECHO, 7),
	};
	static const char *const names[] = { "TCP", "UDP", "echo request" };
	/* The gateway's own LAN address is its own: the stack decides. */
	const struct pkt_spec to_gw =
		tcp_spec(STRANGER, 4444, GW_LAN_ADDR, 22, PKT_TCP_SYN);
	size_t i;

	for (i = 0; i < ARRAY_SIZE(rows); i++) {
		if (!test_subtest("%s", names[i]))
			continue;
		expect_ignored_fresh_spec(NULL, false, &rows[i],
					  XDP_VERDICT_DROP,
					  BPFMASQ_STAT_UNSOLICITED);
	}
	if (test_subtest("to the gateway's LAN address"))
		expect_ignored_fresh_spec(NULL, false, &to_gw, XDP_VERDICT_PASS,
					  BPFMASQ_STAT_NOT_OURS);
}

/*
 * A reply sent straight to the inside host, on the tuple of a live flow:
 * dropped like any stranger's packet, except while a re-attach swaps the
 * ingress hooks (BPFMASQ_CFG_SWITCHING), when it may be one that XDP has
 * translated already on its way to TC ingress.
 */
PROG_TEST(known_tuple_to_lan, TEST_REPLIES | TEST_SUBTESTS)
{
	struct pkt_spec q = udp_spec(HOST1, OUT_RANGE_PORT, REMOTE1, 53, query);
	struct pkt_spec direct =
		udp_spec(REMOTE1, 53, HOST1, OUT_RANGE_PORT, answer);
	struct fixture fx;
	__u16 port;
	int switching;

	for (switching = 0; switching <= 1; switching++) {
		if (!test_subtest("%s", switching ? "while switching"
						  : "at other times"))
			continue;
		if (!setup_flow(&fx, NULL, &q, &port))
			goto next;
		if (switching) {
			fx.cfg.flags |= BPFMASQ_CFG_SWITCHING;
			if (!ASSERT_OK(config_write(&fx.maps, &fx.cfg),
				       "config"))
				goto next;
		}
		expect_ignored_spec(&fx, false, &direct,
				    switching ? XDP_VERDICT_PASS
					      : XDP_VERDICT_DROP,
				    switching ? BPFMASQ_STAT_NOT_OURS
					      : BPFMASQ_STAT_UNSOLICITED);
	next:
		fx_teardown(&fx);
	}
}
