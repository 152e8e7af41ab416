// SPDX-License-Identifier: GPL-2.0
/*
 * t_icmp_error_in.c - ICMP errors in (RFC 5508, RFC 5382 REQ-9): errors from
 * remotes and routers about a flow, translated back to the inside host, quotes
 * cut short, and errors that match no state or are truncated.
 */
#include "scenario.h"

/* Each error type about a UDP flow, from the remote or a router. */
PROG_TEST(icmp_error_in_udp, TEST_REPLIES | TEST_SUBTESTS)
{
	static const struct {
		const char *name;
		__be32 from;
		__u8 type;
		__u8 code;
		__u32 rest;
		__u16 l4_quoted; /* 0: the whole datagram */
		__u8 ttl; /* as the router got it; 0: as sent */
		__u8 ihl; /* of the flow's packets; 0: 5 */
	} rows[] = {
		{ "port unreachable", REMOTE1, ICMP_DEST_UNREACH,
		  ICMP_PORT_UNREACH, 0, 0, 0, 0 },
		{ "fragmentation needed, MTU 1400", ROUTER, ICMP_DEST_UNREACH,
		  ICMP_FRAG_NEEDED, 1400, 0, 0, 0 },
		{ "time exceeded, 8 bytes quoted", ROUTER, ICMP_TIME_EXCEEDED,
		  ICMP_EXC_TTL, 0, 8, 1, 0 },
		{ "parameter problem, pointer 8", ROUTER, ICMP_PARAMETERPROB, 0,
		  8 << 24, 8, 0, 0 },
		{ "port unreachable, quoted IP options", REMOTE1,
		  ICMP_DEST_UNREACH, ICMP_PORT_UNREACH, 0, 8, 0, 8 },
	};
	struct pkt_spec q = udp_spec(HOST1, OUT_RANGE_PORT, REMOTE1, 53, query);
	struct bpfmasq_session before;
	struct icmp_error_spec e;
	struct frame sent, orig;
	struct fixture fx;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(rows); i++) {
		if (!test_subtest("%s", rows[i].name))
			continue;
		if (!fx_setup(&fx, NULL))
			return;
		q.ihl = rows[i].ihl;
		if (!open_flow(&fx, &q, &sent, NULL, &before))
			goto next;
		frame_build(&orig, &q);
		if (rows[i].ttl) {
			set_ttl(&sent, rows[i].ttl);
			set_ttl(&orig, rows[i].ttl);
		}
		e = (struct icmp_error_spec){
			.saddr = rows[i].from,
			.daddr = EXT_ADDR,
			.type = rows[i].type,
			.code = rows[i].code,
			.rest = rows[i].rest,
			.quote_len = quote_len(&sent, rows[i].l4_quoted),
		};
		if (!send_error(&fx, false, &e, &sent, &orig))
			goto next;
		expect_flow_after_error(&fx, &q, &before);
	next:
		fx_teardown(&fx);
	}
}

/* A quoted zero (absent) UDP checksum stays zero as the port changes back. */
PROG_TEST(icmp_error_in_udp_no_csum, TEST_REPLIES)
{
	struct pkt_spec q = udp_spec(HOST1, OUT_RANGE_PORT, REMOTE1, 53, query);
	struct bpfmasq_session before;
	struct icmp_error_spec e;
	struct frame sent, orig;
	struct fixture fx;
	__be16 check;

	q.udp_no_csum = true;
	if (!fx_setup(&fx, NULL))
		return;
	if (!open_flow(&fx, &q, &sent, NULL, &before))
		goto out;
	frame_build(&orig, &q);
	memcpy(&check, (__u8 *)frame_l4(&orig) + 6, 2);
	if (!ASSERT_EQ(check, 0, "original UDP checksum"))
		goto out;
	e = (struct icmp_error_spec){ .saddr = REMOTE1,
				      .daddr = EXT_ADDR,
				      .type = ICMP_DEST_UNREACH,
				      .code = ICMP_PORT_UNREACH,
				      .quote_len = quote_len(&sent, 8) };
	if (!send_error(&fx, false, &e, &sent, &orig))
		goto out;
	expect_flow_after_error(&fx, &q, &before);
out:
	fx_teardown(&fx);
}

/*
 * TCP's checksum is at offset 16: an 8-byte quote (RFC 792) leaves it out,
 * and nothing past the quote may be touched, not even a frame trailer past
 * the IP packet; a longer quote (RFC 1812) has it, restored.
 */
PROG_TEST(icmp_error_in_tcp, TEST_REPLIES | TEST_SUBTESTS)
{
	static const __u8 opts[] = {
		0x02, 0x04, 0x05, 0xb4, /* MSS 1460 */
		0x04, 0x02, 0x08, 0x0a, /* SACK permitted, timestamps */
		0x00, 0x11, 0x22, 0x33, 0x00, 0x00,
		0x00, 0x00, 0x01, 0x03, 0x03, 0x07, /* NOP, window scale 7 */
	};
	static const struct {
		const char *name;
		__u16 l4_quoted; /* 0: the whole segment */
		__u16 pad_to;
	} rows[] = {
		{ "8 bytes quoted", 8, 0 },
		{ "8 bytes quoted, frame trailer past them", 8, 128 },
		{ "20 bytes quoted", 20, 0 },
		{ "whole segment quoted", 0, 0 },
	};
	struct pkt_spec syn =
		tcp_spec(HOST1, OUT_RANGE_PORT, REMOTE1, 443, PKT_TCP_SYN);
	struct bpfmasq_session before;
	struct icmp_error_spec e;
	struct frame sent, orig;
	struct fixture fx;
	size_t i;

	syn.tcp_opts = opts;
	syn.tcp_opts_len = sizeof(opts);
	for (i = 0; i < ARRAY_SIZE(rows); i++) {
		if (!test_subtest("%s", rows[i].name))
			continue;
		if (!fx_setup(&fx, NULL))
			return;
		if (!open_flow(&fx, &syn, &sent, NULL, &before))
			goto next;
		frame_build(&orig, &syn);
		e = (struct icmp_error_spec){
			.saddr = ROUTER,
			.daddr = EXT_ADDR,
			.type = ICMP_DEST_UNREACH,
			.code = ICMP_HOST_UNREACH,
			.quote_len = quote_len(&sent, rows[i].l4_quoted),
			.pad_to = rows[i].pad_to,
		};
		if (!send_error(&fx, false, &e, &sent, &orig))
			goto next;
		expect_flow_after_error(&fx, &syn, &before);
	next:
		fx_teardown(&fx);
	}
}

/*
 * An external port equal to the inside one (a pool of that one port) does
 * not change back, but the quoted TCP/UDP checksum still covers the quoted
 * source address through its pseudo-header.
 */
PROG_TEST(icmp_error_in_same_port, TEST_REPLIES | TEST_SUBTESTS)
{
	const struct pkt_spec flows[] = {
		udp_spec(HOST1, IN_RANGE_PORT, REMOTE1, 53, query),
		tcp_spec(HOST1, IN_RANGE_PORT, REMOTE1, 80, PKT_TCP_SYN),
	};
	struct bpfmasq_session before;
	struct icmp_error_spec e;
	struct frame sent, orig;
	struct fixture fx;
	__u16 port;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(flows); i++) {
		if (!test_subtest("%s", flows[i].proto == IPPROTO_TCP ? "TCP"
								      : "UDP"))
			continue;
		if (!fx_setup(&fx, &fx_one_port))
			return;
		if (!open_flow(&fx, &flows[i], &sent, &port, &before) ||
		    !ASSERT_EQ(port, IN_RANGE_PORT, "external port"))
			goto next;
		frame_build(&orig, &flows[i]);
		e = (struct icmp_error_spec){ .saddr = ROUTER,
					      .daddr = EXT_ADDR,
					      .type = ICMP_DEST_UNREACH,
					      .code = ICMP_HOST_UNREACH };
		if (!send_error(&fx, false, &e, &sent, &orig))
			goto next;
		expect_flow_after_error(&fx, &flows[i], &before);
	next:
		fx_teardown(&fx);
	}
}

/* traceroute -I: time exceeded quoting an echo request gets its id back. */
PROG_TEST(icmp_error_in_echo, TEST_REPLIES | TEST_SUBTESTS)
{
	static const struct {
		__u16 id;
		__u16 l4_quoted; /* 0: the whole request */
	} rows[] = {
		{ 0x1234, 0 }, /* from the ICMP pool */
		{ 0x1234, 8 },
		{ 40500, 0 }, /* in the range: from the pool all the same */
	};
	struct bpfmasq_session before;
	struct icmp_error_spec e;
	struct frame sent, orig;
	struct pkt_spec req;
	struct fixture fx;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(rows); i++) {
		if (!test_subtest("id %u, %u bytes quoted", rows[i].id,
				  rows[i].l4_quoted))
			continue;
		if (!fx_setup(&fx, NULL))
			return;
		req = echo_spec(HOST1, REMOTE1, ICMP_ECHO, rows[i].id);
		if (!open_flow(&fx, &req, &sent, NULL, &before))
			goto next;
		frame_build(&orig, &req);
		set_ttl(&sent, 1);
		set_ttl(&orig, 1);
		e = (struct icmp_error_spec){
			.saddr = ROUTER,
			.daddr = EXT_ADDR,
			.type = ICMP_TIME_EXCEEDED,
			.code = ICMP_EXC_TTL,
			.quote_len = quote_len(&sent, rows[i].l4_quoted),
		};
		if (!send_error(&fx, false, &e, &sent, &orig))
			goto next;
		expect_flow_after_error(&fx, &req, &before);
	next:
		fx_teardown(&fx);
	}
}

/*
 * Errors that match no state go to the gateway's own stack untouched: no
 * owner of the quoted source, or an owner but no session with the quoted
 * destination (a spoofed error naming another remote).
 */
PROG_TEST(icmp_error_in_unmatched, TEST_REPLIES | TEST_SUBTESTS)
{
	static const struct {
		const char *name;
		__be32 to; /* outer destination */
		__u8 proto;
		__be32 saddr; /* quoted */
		__u16 sport; /* 0: the flow's external port */
		__be32 daddr;
		__u16 dport;
		bool later_fragment;
		enum bpfmasq_stat stat;
	} rows[] = {
		{ "no port owner", EXT_ADDR, IPPROTO_UDP, EXT_ADDR,
		  PORT_MAX + 1, REMOTE1, 53, false, BPFMASQ_STAT_NOT_OURS },
		{ "the port is another protocol's", EXT_ADDR, IPPROTO_TCP,
		  EXT_ADDR, 0, REMOTE1, 53, false, BPFMASQ_STAT_NOT_OURS },
		{ "spoofed, naming another remote", EXT_ADDR, IPPROTO_UDP,
		  EXT_ADDR, 0, STRANGER, 53, false, BPFMASQ_STAT_FILTERED },
		{ "same remote, another port", EXT_ADDR, IPPROTO_UDP, EXT_ADDR,
		  0, REMOTE1, 5353, false, BPFMASQ_STAT_FILTERED },
		{ "quoted source is another address", EXT_ADDR, IPPROTO_UDP,
		  OUTSIDER, 0, REMOTE1, 53, false, BPFMASQ_STAT_NOT_OURS },
		/* Quotes the live flow, but is addressed to someone else. */
		{ "outer destination is not the quoted source", OUTSIDER,
		  IPPROTO_UDP, EXT_ADDR, 0, REMOTE1, 53, false,
		  BPFMASQ_STAT_NOT_OURS },
		{ "quoted non-first fragment", EXT_ADDR, IPPROTO_UDP, EXT_ADDR,
		  0, REMOTE1, 53, true, BPFMASQ_STAT_NOT_OURS },
	};
	struct pkt_spec q = udp_spec(HOST1, OUT_RANGE_PORT, REMOTE1, 53, query);
	struct bpfmasq_session before;
	struct frame sent, quoted, in;
	struct icmp_error_spec e;
	struct pkt_spec s;
	struct fixture fx;
	__u8 l4[FRAME_MAX];
	__u16 port;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(rows); i++) {
		if (!test_subtest("%s", rows[i].name))
			continue;
		if (!fx_setup(&fx, NULL))
			return;
		if (!open_flow(&fx, &q, &sent, &port, &before))
			goto next;
		if (rows[i].sport)
			port = rows[i].sport;
		s = rows[i].proto == IPPROTO_TCP
			    ? tcp_spec(rows[i].saddr, port, rows[i].daddr,
				       rows[i].dport, PKT_TCP_SYN)
			    : udp_spec(rows[i].saddr, port, rows[i].daddr,
				       rows[i].dport, query);
		if (rows[i].later_fragment) {
			/* Data that looks like the flow's UDP header. */
			l4_build(&s, l4);
			s.frag = 3;
			frame_wrap(&quoted, &s, l4, 16);
		} else {
			frame_build(&quoted, &s);
		}
		e = (struct icmp_error_spec){ .saddr = ROUTER,
					      .daddr = rows[i].to,
					      .type = ICMP_DEST_UNREACH,
					      .code = ICMP_HOST_UNREACH };
		frame_build_icmp_error(&in, &e, &quoted);
		expect_ignored(&fx, false, &in, XDP_VERDICT_PASS, rows[i].stat);
		expect_session_unchanged(&fx, &q, &before);
	next:
		fx_teardown(&fx);
	}
}

/* Less than the quoted IP header and 8 bytes: dropped, malformed. */
PROG_TEST(icmp_error_in_truncated, TEST_REPLIES | TEST_SUBTESTS)
{
	static const struct {
		const char *name;
		__u8 ihl; /* of the flow's packets; 0: 5 */
		__u16 quote_len;
		__u16 pad_to;
	} rows[] = {
		{ "IP header cut short", 0, 12, 0 },
		{ "IP header only", 0, 20, 0 },
		{ "4 bytes of UDP", 0, 24, 0 },
		{ "4 bytes of UDP, frame trailer past them", 0, 24, 128 },
		{ "IP options, 8 bytes past the fixed header", 6, 28, 0 },
	};
	struct pkt_spec q = udp_spec(HOST1, OUT_RANGE_PORT, REMOTE1, 53, query);
	struct bpfmasq_session before;
	struct icmp_error_spec e;
	struct frame sent, in;
	struct fixture fx;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(rows); i++) {
		if (!test_subtest("%s", rows[i].name))
			continue;
		if (!fx_setup(&fx, NULL))
			return;
		q.ihl = rows[i].ihl;
		if (!open_flow(&fx, &q, &sent, NULL, &before))
			goto next;
		e = (struct icmp_error_spec){ .saddr = REMOTE1,
					      .daddr = EXT_ADDR,
					      .type = ICMP_DEST_UNREACH,
					      .code = ICMP_PORT_UNREACH,
					      .quote_len = rows[i].quote_len,
					      .pad_to = rows[i].pad_to };
		frame_build_icmp_error(&in, &e, &sent);
		expect_ignored(&fx, false, &in, XDP_VERDICT_DROP,
			       BPFMASQ_STAT_MALFORMED);
		expect_session_unchanged(&fx, &q, &before);
	next:
		fx_teardown(&fx);
	}
}
