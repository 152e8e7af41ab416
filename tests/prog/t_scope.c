// SPDX-License-Identifier: GPL-2.0
/*
 * t_scope.c - what is not translated: non-IPv4 frames, sources that are not
 * inside or are special, unsupported protocols, and no external address.
 */
#include "scenario.h"

/* .fast, none forwarded: not IPv4. */
PROG_TEST(non_ipv4, TEST_REPLIES | TEST_SUBTESTS | TEST_FAST_NONE)
{
	static const struct {
		const char *name;
		__u16 ethertype;
		bool outbound;
	} rows[] = {
		{ "IPv6 out", ETH_P_IPV6, true },
		{ "IPv6 in", ETH_P_IPV6, false },
		{ "ARP out", ETH_P_ARP, true },
		{ "ARP in", ETH_P_ARP, false },
	};
	struct frame f;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(rows); i++) {
		if (!test_subtest("%s", rows[i].name))
			continue;
		frame_build_ethertype(&f, rows[i].ethertype);
		expect_ignored_fresh(NULL, rows[i].outbound, &f,
				     rows[i].outbound ? TC_OK
						      : XDP_VERDICT_PASS,
				     BPFMASQ_STAT_NON_IPV4);
	}
}

/* .fast, none forwarded: not from inside, never translated. */
PROG_TEST(not_inside, TEST_SUBTESTS | TEST_FAST_NONE)
{
	static const struct {
		const char *name;
		bool inside_any;
		__be32 saddr;
		__u8 proto;
	} rows[] = {
		{ "gateway LAN address", false, GW_LAN_ADDR, IPPROTO_TCP },
		{ "gateway LAN address, inside 0/0", true, GW_LAN_ADDR,
		  IPPROTO_UDP },
		{ "external address, inside 0/0", true, EXT_ADDR, IPPROTO_TCP },
		{ "gateway LAN address ICMP, inside 0/0", true, GW_LAN_ADDR,
		  IPPROTO_ICMP },
		{ "outside the prefixes", false, OUTSIDER, IPPROTO_TCP },
		{ "outside the prefixes, ICMP", false, OUTSIDER, IPPROTO_ICMP },
		{ "outside the prefixes, GRE", false, OUTSIDER, PKT_PROTO_GRE },
	};
	static const __u8 gre[] = { 0, 0, 0x08, 0x00 };
	struct fx_opts opts = {};
	struct pkt_spec s;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(rows); i++) {
		if (!test_subtest("%s", rows[i].name))
			continue;
		opts.inside_any = rows[i].inside_any;
		s = flow_spec(rows[i].proto, true);
		if (rows[i].proto == PKT_PROTO_GRE)
			s = (struct pkt_spec){ .daddr = REMOTE1,
					       .proto = PKT_PROTO_GRE,
					       .payload = gre,
					       .payload_len = sizeof(gre) };
		s.saddr = rows[i].saddr;
		expect_ignored_fresh_spec(&opts, true, &s, TC_OK,
					  BPFMASQ_STAT_NOT_INSIDE);
	}
}

/* 0/8 (a DHCP client), loopback, link-local: never translated. */
/* .fast, none forwarded: never translated. */
PROG_TEST(special_sources, TEST_SUBTESTS | TEST_FAST_NONE)
{
	const struct fx_opts opts = { .inside_any = true };
	const struct pkt_spec rows[] = {
		udp_spec(IP4(0, 0, 0, 0), 68, IP4(255, 255, 255, 255), 67,
			 query),
		udp_spec(IP4(127, 0, 0, 1), 5555, REMOTE1, 53, query),
		udp_spec(IP4(169, 254, 3, 4), 5555, REMOTE1, 53, query),
	};
	static const char *const names[] = { "DHCP client", "loopback",
					     "link-local" };
	size_t i;

	for (i = 0; i < ARRAY_SIZE(rows); i++) {
		if (!test_subtest("%s", names[i]))
			continue;
		expect_ignored_fresh_spec(&opts, true, &rows[i], TC_OK,
					  BPFMASQ_STAT_NOT_INSIDE);
	}
}

/* .fast, none forwarded: protocols never translated. */
PROG_TEST(unsupported_out, TEST_SUBTESTS | TEST_FAST_NONE)
{
	static const __u8 gre[] = { 0, 0, 0x08, 0x00, 0x45, 0, 0, 20 };
	static const struct {
		const char *name;
		__u8 proto;
		__u8 icmp_type;
	} rows[] = {
		{ "GRE", PKT_PROTO_GRE, 0 },
		{ "SCTP", PKT_PROTO_SCTP, 0 },
		{ "ICMP timestamp", IPPROTO_ICMP, ICMP_TIMESTAMP },
	};
	struct pkt_spec s;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(rows); i++) {
		if (!test_subtest("%s", rows[i].name))
			continue;
		s = (struct pkt_spec){ .saddr = HOST1,
				       .daddr = REMOTE1,
				       .proto = rows[i].proto,
				       .icmp_type = rows[i].icmp_type,
				       .payload = gre,
				       .payload_len = sizeof(gre) };
		expect_ignored_fresh_spec(NULL, true, &s, TC_SHOT,
					  BPFMASQ_STAT_UNSUPPORTED);
	}
}

/* Without an external address nothing from inside may leave. */
/* .fast, none forwarded: nothing translated without an address. */
PROG_TEST(no_address, TEST_FAST_NONE)
{
	const struct fx_opts opts = { .no_ext_addr = true };
	struct pkt_spec syn =
		tcp_spec(HOST1, IN_RANGE_PORT, REMOTE1, 80, PKT_TCP_SYN);

	expect_ignored_fresh_spec(&opts, true, &syn, TC_SHOT,
				  BPFMASQ_STAT_NO_ADDRESS);
}
