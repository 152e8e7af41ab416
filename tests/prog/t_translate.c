// SPDX-License-Identifier: GPL-2.0
/*
 * t_translate.c - translation: a SYN out (every table entry),
 * TCP options, Ethernet padding, UDP both ways and its checksum corner cases,
 * ICMP echo, and IP options.
 */
#include "scenario.h"

static const char http_get[] = "GET / HTTP/1.1\r\n\r\n";

PROG_TEST(tcp_syn_out, 0)
{
	struct pkt_spec syn =
		tcp_spec(HOST1, IN_RANGE_PORT, REMOTE1, 80, PKT_TCP_SYN);
	struct pkt_spec want = syn;
	struct bpfmasq_endpoint owner;
	struct frame in, out, exp;
	struct bpfmasq_session s;
	struct bpfmasq_mapping m;
	struct fixture fx;
	__u16 ext;

	if (!fx_setup(&fx, NULL))
		return;
	frame_build(&in, &syn);
	if (!ASSERT_EQ(fx_egress(&fx, &in, &out), TC_OK, "verdict"))
		goto out;
	ext = frame_sport(&out);
	ASSERT_EQ(ntohl(frame_ip(&out)->saddr), ntohl(EXT_ADDR), "source");
	ASSERT_IN_RANGE(ext, PORT_MIN, PORT_MAX, "source port (from the pool)");
	ASSERT_EQ(ntohl(frame_ip(&out)->daddr), ntohl(REMOTE1), "destination");
	ASSERT_EQ(frame_dport(&out), 80, "destination port");
	ASSERT_CSUMS(&out, "SYN");
	/* And nothing else changed. */
	want.saddr = EXT_ADDR;
	want.sport = ext;
	frame_build(&exp, &want);
	ASSERT_FRAME_EQ(&out, &exp, "SYN");

	if (ASSERT_OK(fx_mapping(&fx, HOST1, IN_RANGE_PORT, IPPROTO_TCP, &m),
		      "mapping lookup")) {
		ASSERT_EQ(ntohl(m.ext_addr), ntohl(EXT_ADDR),
			  "mapping ext_addr");
		ASSERT_EQ(ntohs(m.ext_port), ext, "mapping ext_port");
		ASSERT_EQ(m.flags, 0, "mapping flags");
		ASSERT_NEQ(m.used_ms, 0, "mapping used_ms");
	}
	if (ASSERT_OK(fx_owner(&fx, EXT_ADDR, ext, IPPROTO_TCP, &owner),
		      "port_owners lookup")) {
		ASSERT_EQ(ntohl(owner.addr), ntohl(HOST1), "owner addr");
		ASSERT_EQ(ntohs(owner.port), IN_RANGE_PORT, "owner port");
		ASSERT_EQ(owner.proto, IPPROTO_TCP, "owner proto");
	}
	if (ASSERT_OK(fx_session(&fx, HOST1, IN_RANGE_PORT, REMOTE1, 80,
				 IPPROTO_TCP, &s),
		      "session lookup")) {
		ASSERT_EQ(ntohl(s.ext_addr), ntohl(EXT_ADDR),
			  "session ext_addr");
		ASSERT_EQ(ntohs(s.ext_port), ext, "session ext_port");
		ASSERT_EQ(s.tcp_state, BPFMASQ_TCP_SYN_SENT, "tcp_state");
		ASSERT_EQ(s.packets_out, 1, "packets_out");
		ASSERT_EQ(s.bytes_out, 40, "bytes_out");
		ASSERT_EQ(s.packets_in, 0, "packets_in");
		ASSERT_EQ(s.flags, 0, "session flags");
		ASSERT_NEQ(s.last_ns, 0, "last_ns");
	}
	ASSERT_TABLES(&fx, 1, 1);
	ASSERT_STATS(&fx, STAT(TRANSLATED_OUT, 1), STAT(NEW_MAPPING, 1),
		     STAT(NEW_SESSION, 1));
out:
	fx_teardown(&fx);
}

/* A SYN as stacks send it, with options: they must come out untouched. */
PROG_TEST(tcp_syn_options, TEST_REPLIES)
{
	static const __u8 opts[] = {
		0x02, 0x04, 0x05, 0xb4, /* MSS 1460 */
		0x04, 0x02, 0x08, 0x0a, /* SACK permitted, timestamps */
		0x00, 0x11, 0x22, 0x33, 0x00, 0x00,
		0x00, 0x00, 0x01, 0x03, 0x03, 0x07, /* NOP, window scale 7 */
	};
	struct pkt_spec syn =
		tcp_spec(HOST1, OUT_RANGE_PORT, REMOTE1, 443, PKT_TCP_SYN);
	struct pkt_spec synack;
	struct bpfmasq_session s;
	struct fixture fx;
	__u16 port;

	syn.tcp_opts = opts;
	syn.tcp_opts_len = sizeof(opts);
	if (!setup_flow(&fx, NULL, &syn, &port))
		goto out;
	synack = tcp_spec(REMOTE1, 443, EXT_ADDR, port,
			  PKT_TCP_SYN | PKT_TCP_ACK);
	synack.tcp_opts = opts;
	synack.tcp_opts_len = sizeof(opts);
	if (!send_in(&fx, &synack, HOST1, OUT_RANGE_PORT))
		goto out;
	if (ASSERT_OK(fx_session(&fx, HOST1, OUT_RANGE_PORT, REMOTE1, 443,
				 IPPROTO_TCP, &s),
		      "session lookup"))
		ASSERT_EQ(s.tcp_state, BPFMASQ_TCP_ESTABLISHED, "tcp_state");
out:
	fx_teardown(&fx);
}

/*
 * Short frames arrive padded to the Ethernet minimum: the IP total length,
 * not the frame, bounds the packet, and the padding stays as it was.
 */
PROG_TEST(eth_padding, TEST_REPLIES)
{
	struct pkt_spec ack =
		tcp_spec(HOST1, OUT_RANGE_PORT, REMOTE1, 80, PKT_TCP_ACK);
	struct pkt_spec q = udp_spec(HOST1, OUT_RANGE_PORT, REMOTE1, 53, "hi");
	struct pkt_spec rep;
	struct fixture fx;
	__u16 tport, uport;

	ack.pad_to = ETH_ZLEN;
	q.pad_to = ETH_ZLEN;
	if (!fx_setup(&fx, NULL))
		return;
	test_ctx("TCP");
	if (send_out(&fx, &ack, &tport)) {
		rep = tcp_spec(REMOTE1, 80, EXT_ADDR, tport, PKT_TCP_ACK);
		rep.pad_to = ETH_ZLEN;
		send_in(&fx, &rep, HOST1, OUT_RANGE_PORT);
	}
	test_ctx("UDP");
	if (send_out(&fx, &q, &uport)) {
		rep = udp_spec(REMOTE1, 53, EXT_ADDR, uport, "ok");
		rep.pad_to = ETH_ZLEN;
		send_in(&fx, &rep, HOST1, OUT_RANGE_PORT);
	}
	test_ctx(NULL);
	ASSERT_STATS(&fx, STAT(TRANSLATED_OUT, 2), STAT(TRANSLATED_IN, 2),
		     STAT(NEW_MAPPING, 2), STAT(NEW_SESSION, 2));
	fx_teardown(&fx);
}

PROG_TEST(udp_reply, TEST_REPLIES)
{
	struct pkt_spec q = udp_spec(HOST1, OUT_RANGE_PORT, REMOTE1, 53, query);
	struct pkt_spec a;
	struct bpfmasq_session s;
	struct fixture fx;
	__u16 port;

	if (!setup_flow(&fx, NULL, &q, &port))
		goto out;
	a = udp_spec(REMOTE1, 53, EXT_ADDR, port, answer);
	if (!send_in(&fx, &a, HOST1, OUT_RANGE_PORT))
		goto out;
	if (ASSERT_OK(fx_session(&fx, HOST1, OUT_RANGE_PORT, REMOTE1, 53,
				 IPPROTO_UDP, &s),
		      "session lookup")) {
		ASSERT_EQ(s.packets_out, 1, "packets_out");
		ASSERT_EQ(s.packets_in, 1, "packets_in");
		ASSERT_EQ(s.bytes_in, 20 + 8 + strlen(answer), "bytes_in");
		ASSERT_EQ(s.tcp_state, BPFMASQ_TCP_NONE, "tcp_state");
		ASSERT_EQ(s.flags, BPFMASQ_SESS_REPLIED, "session flags");
	}
	ASSERT_TABLES(&fx, 1, 1);
	ASSERT_STATS(&fx, STAT(TRANSLATED_OUT, 1), STAT(TRANSLATED_IN, 1),
		     STAT(NEW_MAPPING, 1), STAT(NEW_SESSION, 1));
out:
	fx_teardown(&fx);
}

/* A zero UDP checksum means "none" and must stay zero both ways. */
PROG_TEST(udp_zero_csum, TEST_REPLIES)
{
	struct pkt_spec q = udp_spec(HOST1, OUT_RANGE_PORT, REMOTE1, 53, query);
	struct pkt_spec a;
	struct fixture fx;
	__u16 port;

	if (!fx_setup(&fx, NULL))
		return;
	q.udp_no_csum = true;
	if (!send_out(&fx, &q, &port)) /* compares against check == 0 */
		goto out;
	a = udp_spec(REMOTE1, 53, EXT_ADDR, port, answer);
	a.udp_no_csum = true;
	send_in(&fx, &a, HOST1, OUT_RANGE_PORT);
out:
	fx_teardown(&fx);
}

/*
 * A UDP checksum that comes out 0 after the rewrite must be sent as 0xffff,
 * or the receiver reads "no checksum". The payload word is chosen so that
 * the translated datagram sums to exactly that, in each direction.
 */
PROG_TEST(udp_csum_mangled_0, TEST_REPLIES)
{
	struct pkt_spec q = udp_spec(HOST1, IN_RANGE_PORT, REMOTE1, 53, "");
	struct pkt_spec a = udp_spec(REMOTE1, 53, EXT_ADDR, IN_RANGE_PORT, "");
	struct pkt_spec after;
	__be16 word_out, word_in, check;
	struct frame in, out;
	struct fixture fx;

	/* Outbound: the pool has one port, so the result is known ahead. */
	after = q;
	after.saddr = EXT_ADDR;
	word_out = htons(udp_word_for_zero_csum(&after));
	q.payload = &word_out;
	q.payload_len = 2;
	/* Inbound: translated to HOST1:IN_RANGE_PORT. */
	after = a;
	after.daddr = HOST1;
	word_in = htons(udp_word_for_zero_csum(&after));
	a.payload = &word_in;
	a.payload_len = 2;

	if (!fx_setup(&fx, &fx_one_port))
		return;
	frame_build(&in, &q);
	if (!ASSERT_EQ(fx_egress(&fx, &in, &out), TC_OK, "outbound verdict"))
		goto out;
	memcpy(&check, (__u8 *)frame_l4(&out) + 6, 2);
	ASSERT_EQ(ntohs(check), 0xffff, "outbound UDP checksum (TC helper)");
	if (!send_out(&fx, &q, NULL))
		goto out;

	frame_build(&in, &a);
	if (!ASSERT_EQ(fx_ingress(&fx, &in, &out), XDP_VERDICT_PASS,
		       "inbound verdict"))
		goto out;
	memcpy(&check, (__u8 *)frame_l4(&out) + 6, 2);
	ASSERT_EQ(ntohs(check), 0xffff, "inbound UDP checksum (XDP path)");
	send_in(&fx, &a, HOST1, IN_RANGE_PORT);
out:
	fx_teardown(&fx);
}

PROG_TEST(icmp_echo, TEST_REPLIES | TEST_SUBTESTS)
{
	static const struct {
		__u16 id;
	} rows[] = {
		{ 0x1234 }, /* out of the range */
		{ 40500 }, /* in the range: from the pool all the same */
	};
	struct bpfmasq_session s;
	struct pkt_spec req, rep;
	struct fixture fx;
	__u16 ext_id;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(rows); i++) {
		if (!test_subtest("id %u", rows[i].id))
			continue;
		if (!fx_setup(&fx, NULL))
			return;
		req = echo_spec(HOST1, REMOTE1, ICMP_ECHO, rows[i].id);
		if (!send_out(&fx, &req, &ext_id))
			goto next;
		ASSERT_IN_RANGE(ext_id, PORT_MIN, PORT_MAX, "external id");

		rep = echo_spec(REMOTE1, EXT_ADDR, ICMP_ECHOREPLY, ext_id);
		if (!send_in(&fx, &rep, HOST1, rows[i].id))
			goto next;
		/* Echo sessions are keyed by the inside id, remote port 0. */
		if (ASSERT_OK(fx_session(&fx, HOST1, rows[i].id, REMOTE1, 0,
					 IPPROTO_ICMP, &s),
			      "session lookup")) {
			ASSERT_EQ(s.packets_out, 1, "packets_out");
			ASSERT_EQ(s.packets_in, 1, "packets_in");
		}
		ASSERT_TABLES(&fx, 1, 1);
		ASSERT_STATS(&fx, STAT(TRANSLATED_OUT, 1),
			     STAT(TRANSLATED_IN, 1), STAT(NEW_MAPPING, 1),
			     STAT(NEW_SESSION, 1));
	next:
		fx_teardown(&fx);
	}
}

/* An echo request to the gateway is the gateway's, even on a live id. */
PROG_TEST(icmp_echo_request_in, TEST_REPLIES)
{
	struct pkt_spec req = echo_spec(HOST1, REMOTE1, ICMP_ECHO, 40500);
	struct pkt_spec ping_gw;
	struct fixture fx;
	__u16 ext_id;

	if (!setup_flow(&fx, NULL, &req, &ext_id))
		goto out;
	ping_gw = echo_spec(REMOTE1, EXT_ADDR, ICMP_ECHO, ext_id);
	expect_ignored_spec(&fx, false, &ping_gw, XDP_VERDICT_PASS,
			    BPFMASQ_STAT_NOT_OURS);
out:
	fx_teardown(&fx);
}

/*
 * The gateway's own ping from the external address gets an id from the
 * pool, like an inside host's, and its reply comes back to it: even when
 * an inside host's mapping holds the very id the gateway's ping uses, each
 * gets its own replies.
 */
PROG_TEST(own_echo, TEST_REPLIES)
{
	struct pkt_spec req = echo_spec(HOST1, REMOTE1, ICMP_ECHO, 40500);
	struct pkt_spec own, rep;
	struct fixture fx;
	__u16 host_id, own_id;

	if (!setup_flow(&fx, NULL, &req, &host_id))
		goto out;
	/* The gateway pings the same remote with the id lent to HOST1. */
	own = echo_spec(EXT_ADDR, REMOTE1, ICMP_ECHO, host_id);
	if (!send_out(&fx, &own, &own_id))
		goto out;
	ASSERT_NEQ(own_id, host_id, "the gateway's external id");
	ASSERT_IN_RANGE(own_id, PORT_MIN, PORT_MAX,
			"the gateway's external id");
	rep = echo_spec(REMOTE1, EXT_ADDR, ICMP_ECHOREPLY, own_id);
	send_in(&fx, &rep, EXT_ADDR, host_id);
	rep = echo_spec(REMOTE1, EXT_ADDR, ICMP_ECHOREPLY, host_id);
	send_in(&fx, &rep, HOST1, 40500);
	expect_check_clean(&fx);
out:
	fx_teardown(&fx);
}

/* .fast, none forwarded: IP options are the kernel's (fast_path_ip_options). */
PROG_TEST(ip_options, TEST_REPLIES | TEST_SUBTESTS | TEST_FAST_NONE)
{
	static const __u8 ihls[] = { 6, 8, 15 };
	struct pkt_spec out, in;
	struct fixture fx;
	__u16 port;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(ihls); i++) {
		if (!test_subtest("IHL %u", ihls[i]))
			continue;
		if (!fx_setup(&fx, NULL))
			return;
		/* Out of range, so that the port moves too. */
		out = tcp_spec(HOST1, OUT_RANGE_PORT, REMOTE1, 80,
			       PKT_TCP_PSH | PKT_TCP_ACK);
		out.ihl = ihls[i];
		out.payload = http_get;
		out.payload_len = strlen(http_get);
		if (!send_out(&fx, &out, &port))
			goto next;
		ASSERT_IN_RANGE(port, PORT_MIN, PORT_MAX, "external port");
		in = tcp_spec(REMOTE1, 80, EXT_ADDR, port,
			      PKT_TCP_PSH | PKT_TCP_ACK);
		in.ihl = ihls[i];
		in.payload = answer;
		in.payload_len = strlen(answer);
		send_in(&fx, &in, HOST1, OUT_RANGE_PORT);
	next:
		fx_teardown(&fx);
	}
}
