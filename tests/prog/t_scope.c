// SPDX-License-Identifier: GPL-2.0
/*
 * t_scope.c - what is not translated: non-IPv4 frames, sources that are not
 * inside or are special, unsupported protocols, and no external address.
 */
#include "scenario.h"

PROG_TEST(non_ipv4, TEST_REPLIES | TEST_SUBTESTS)
{
	static const struct {
		const char *name;
		__u16 ethertype;
		bool outbound;
	} rows[] = {
		{"IPv6 out", ETH_P_IPV6, true},
		{"IPv6 in", ETH_P_IPV6, false},
		{"ARP out", ETH_P_ARP, true},
		{"ARP in", ETH_P_ARP, false},
	};
	struct fixture fx;
	struct frame f;
	size_t i;

	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		if (!test_subtest("%s", rows[i].name))
			continue;
		if (!fx_setup(&fx, NULL))
			return;
		frame_build_ethertype(&f, rows[i].ethertype);
		expect_untouched(&fx, rows[i].outbound, &f,
				 rows[i].outbound ? TC_OK : XDP_VERDICT_PASS);
		ASSERT_TABLES(&fx, 0, 0);
		ASSERT_STATS(&fx, STAT(NON_IPV4, 1));
		fx_teardown(&fx);
	}
}

PROG_TEST(not_inside, TEST_SUBTESTS)
{
	static const struct {
		const char *name;
		bool inside_any;
		__be32 saddr;
		__u8 proto;
	} rows[] = {
		{"gateway LAN address", false, GW_LAN_ADDR, IPPROTO_TCP},
		{"gateway LAN address, inside 0/0", true, GW_LAN_ADDR,
		 IPPROTO_UDP},
		{"external address, inside 0/0", true, EXT_ADDR, IPPROTO_TCP},
		{"external address ICMP, inside 0/0", true, EXT_ADDR,
		 IPPROTO_ICMP},
		{"outside the prefixes", false, OUTSIDER, IPPROTO_TCP},
		{"outside the prefixes, ICMP", false, OUTSIDER, IPPROTO_ICMP},
		{"outside the prefixes, GRE", false, OUTSIDER, PKT_PROTO_GRE},
	};
	static const __u8 gre[] = {0, 0, 0x08, 0x00};
	struct fx_opts opts = {};
	struct pkt_spec s;
	struct fixture fx;
	size_t i;

	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		if (!test_subtest("%s", rows[i].name))
			continue;
		opts.inside_any = rows[i].inside_any;
		if (!fx_setup(&fx, &opts))
			return;
		s = flow_spec(rows[i].proto, true);
		if (rows[i].proto == PKT_PROTO_GRE)
			s = (struct pkt_spec){.daddr = REMOTE1,
					      .proto = PKT_PROTO_GRE,
					      .payload = gre,
					      .payload_len = sizeof(gre)};
		s.saddr = rows[i].saddr;
		expect_untouched_spec(&fx, true, &s, TC_OK);
		ASSERT_TABLES(&fx, 0, 0);
		ASSERT_STATS(&fx, STAT(NOT_INSIDE, 1));
		fx_teardown(&fx);
	}
}

/* 0/8 (a DHCP client), loopback, link-local: never translated. */
PROG_TEST(special_sources, TEST_SUBTESTS)
{
	const struct fx_opts opts = {.inside_any = true};
	const struct pkt_spec rows[] = {
		udp_spec(IP4(0, 0, 0, 0), 68, IP4(255, 255, 255, 255), 67,
			 query),
		udp_spec(IP4(127, 0, 0, 1), 5555, REMOTE1, 53, query),
		udp_spec(IP4(169, 254, 3, 4), 5555, REMOTE1, 53, query),
	};
	static const char *const names[] = {"DHCP client", "loopback",
					    "link-local"};
	struct fixture fx;
	size_t i;

	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		if (!test_subtest("%s", names[i]))
			continue;
		if (!fx_setup(&fx, &opts))
			return;
		expect_untouched_spec(&fx, true, &rows[i], TC_OK);
		ASSERT_TABLES(&fx, 0, 0);
		ASSERT_STATS(&fx, STAT(NOT_INSIDE, 1));
		fx_teardown(&fx);
	}
}

PROG_TEST(unsupported_out, TEST_SUBTESTS)
{
	static const __u8 gre[] = {0, 0, 0x08, 0x00, 0x45, 0, 0, 20};
	static const struct {
		const char *name;
		__u8 proto;
		__u8 icmp_type;
	} rows[] = {
		{"GRE", PKT_PROTO_GRE, 0},
		{"SCTP", PKT_PROTO_SCTP, 0},
		{"ICMP timestamp", IPPROTO_ICMP, ICMP_TIMESTAMP},
	};
	struct pkt_spec s;
	struct fixture fx;
	struct frame in, out;
	size_t i;

	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		if (!test_subtest("%s", rows[i].name))
			continue;
		if (!fx_setup(&fx, NULL))
			return;
		s = (struct pkt_spec){.saddr = HOST1,
				      .daddr = REMOTE1,
				      .proto = rows[i].proto,
				      .icmp_type = rows[i].icmp_type,
				      .payload = gre,
				      .payload_len = sizeof(gre)};
		frame_build(&in, &s);
		ASSERT_EQ(fx_egress(&fx, &in, &out), TC_SHOT, "verdict");
		ASSERT_TABLES(&fx, 0, 0);
		ASSERT_STATS(&fx, STAT(UNSUPPORTED, 1));
		fx_teardown(&fx);
	}
}

/* Without an external address nothing from inside may leave. */
PROG_TEST(no_address, 0)
{
	const struct fx_opts opts = {.no_ext_addr = true};
	struct pkt_spec syn =
		tcp_spec(HOST1, IN_RANGE_PORT, REMOTE1, 80, PKT_TCP_SYN);
	struct frame in, out;
	struct fixture fx;

	if (!fx_setup(&fx, &opts))
		return;
	frame_build(&in, &syn);
	ASSERT_EQ(fx_egress(&fx, &in, &out), TC_SHOT, "verdict");
	ASSERT_TABLES(&fx, 0, 0);
	ASSERT_STATS(&fx, STAT(NO_ADDRESS, 1));
	fx_teardown(&fx);
}
