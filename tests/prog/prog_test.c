// SPDX-License-Identifier: GPL-2.0
/*
 * prog_test.c - program tests: hand-built frames through the real egress
 * (TC) and ingress (XDP) programs with BPF_PROG_TEST_RUN, asserting the
 * exact bytes that come out, checksums recomputed from scratch, the map
 * state and the counters. Each test loads a fresh instance.
 *
 *	prog_test [-v] [test name]
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "bpfmasq.skel.h"
#include "harness.h"
#include "log.h"

static const char query[] = "dns query for example"; /* odd length */
static const char answer[] = "dns answer: 192.0.2.80";
static const char http_get[] = "GET / HTTP/1.1\r\n\r\n";

/* --- packet shorthands --- */

static struct pkt_spec tcp_spec(__be32 saddr, __u16 sport, __be32 daddr,
				__u16 dport, __u8 flags)
{
	return (struct pkt_spec){ .saddr = saddr, .daddr = daddr,
				  .sport = sport, .dport = dport,
				  .proto = IPPROTO_TCP, .tcp_flags = flags };
}

static struct pkt_spec udp_spec(__be32 saddr, __u16 sport, __be32 daddr,
				__u16 dport, const char *payload)
{
	return (struct pkt_spec){ .saddr = saddr, .daddr = daddr,
				  .sport = sport, .dport = dport,
				  .proto = IPPROTO_UDP, .payload = payload,
				  .payload_len = strlen(payload) };
}

static struct pkt_spec echo_spec(__be32 saddr, __be32 daddr, __u8 type,
				 __u16 id)
{
	return (struct pkt_spec){ .saddr = saddr, .daddr = daddr, .sport = id,
				  .proto = IPPROTO_ICMP, .icmp_type = type,
				  .payload = "ping", .payload_len = 4 };
}

/* Source port, or ICMP echo id, of an unfragmented frame. */
static __u16 frame_sport(struct frame *f)
{
	bool icmp = frame_ip(f)->protocol == IPPROTO_ICMP;
	__be16 v;

	memcpy(&v, (__u8 *)frame_l4(f) + (icmp ? 4 : 0), 2);
	return ntohs(v);
}

static __u16 frame_dport(struct frame *f)
{
	bool icmp = frame_ip(f)->protocol == IPPROTO_ICMP;
	__be16 v;

	memcpy(&v, (__u8 *)frame_l4(f) + (icmp ? 4 : 2), 2);
	return ntohs(v);
}

/*
 * Send @s out: it must come out as exactly @s from the external address
 * and the port (or id) the program chose, returned in @ext_port, with
 * checksums that verify from scratch.
 */
static bool send_out(struct fixture *fx, const struct pkt_spec *s,
		     __u16 *ext_port)
{
	struct pkt_spec want = *s;
	struct frame in, out, exp;

	frame_build(&in, s);
	if (!ASSERT_EQ(fx_egress(fx, &in, &out), TC_OK, "outbound verdict"))
		return false;
	/* An absent UDP checksum has nothing to verify; the frame does. */
	if (!s->udp_no_csum && !ASSERT_CSUMS(&out, "outbound"))
		return false;
	want.saddr = EXT_ADDR;
	want.sport = frame_sport(&out);
	if (ext_port)
		*ext_port = want.sport;
	frame_build(&exp, &want);
	return ASSERT_FRAME_EQ(&out, &exp, "outbound frame");
}

/* Send @s in: it must come out as @s to the inside endpoint, nothing else. */
static bool send_in(struct fixture *fx, const struct pkt_spec *s,
		    __be32 inside_addr, __u16 inside_port)
{
	struct pkt_spec want = *s;
	struct frame in, out, exp;

	frame_build(&in, s);
	if (!ASSERT_EQ(fx_ingress(fx, &in, &out), XDP_VERDICT_PASS,
		       "inbound verdict"))
		return false;
	if (!s->udp_no_csum && !ASSERT_CSUMS(&out, "inbound"))
		return false;
	want.daddr = inside_addr;
	if (s->proto == IPPROTO_ICMP)
		want.sport = inside_port; /* the echo id */
	else
		want.dport = inside_port;
	frame_build(&exp, &want);
	return ASSERT_FRAME_EQ(&out, &exp, "inbound frame");
}

/* @in must get @verdict and, when passed, come out byte for byte. */
static bool expect_untouched(struct fixture *fx, bool outbound,
			     const struct frame *in, int verdict)
{
	struct frame out;
	int ret = outbound ? fx_egress(fx, in, &out) : fx_ingress(fx, in, &out);
	bool pass = outbound ? verdict == TC_OK : verdict == XDP_VERDICT_PASS;

	if (!ASSERT_EQ(ret, verdict, outbound ? "outbound verdict" :
						"inbound verdict"))
		return false;
	return !pass || ASSERT_FRAME_EQ(&out, in, "passed frame");
}

static bool expect_untouched_spec(struct fixture *fx, bool outbound,
				  const struct pkt_spec *s, int verdict)
{
	struct frame in;

	frame_build(&in, s);
	return expect_untouched(fx, outbound, &in, verdict);
}

#define ASSERT_TABLES(fx, nmappings, nsessions)                              \
	({                                                                   \
		bool __t = ASSERT_EQ(map_count((fx)->maps.mappings),          \
				     nmappings, "mappings entries");         \
		__t &= ASSERT_EQ(map_count((fx)->maps.port_owners),           \
				 nmappings, "port_owners entries");          \
		__t &= ASSERT_EQ(map_count((fx)->maps.sessions), nsessions,   \
				 "sessions entries");                        \
		__t;                                                         \
	})

/* --- 1. outbound TCP SYN, port preserved --- */

static void test_tcp_syn_out(void)
{
	struct pkt_spec syn = tcp_spec(HOST1, IN_RANGE_PORT, REMOTE1, 80,
				       PKT_TCP_SYN);
	struct pkt_spec want = syn;
	struct bpfmasq_endpoint owner;
	struct frame in, out, exp;
	struct bpfmasq_session s;
	struct bpfmasq_mapping m;
	struct fixture fx;

	if (!fx_setup(&fx, NULL))
		return;
	frame_build(&in, &syn);
	if (!ASSERT_EQ(fx_egress(&fx, &in, &out), TC_OK, "verdict"))
		goto out;
	ASSERT_EQ(ntohl(frame_ip(&out)->saddr), ntohl(EXT_ADDR), "source");
	ASSERT_EQ(frame_sport(&out), IN_RANGE_PORT, "source port (preserved)");
	ASSERT_EQ(ntohl(frame_ip(&out)->daddr), ntohl(REMOTE1), "destination");
	ASSERT_EQ(frame_dport(&out), 80, "destination port");
	ASSERT_CSUMS(&out, "SYN");
	/* And nothing else changed. */
	want.saddr = EXT_ADDR;
	frame_build(&exp, &want);
	ASSERT_FRAME_EQ(&out, &exp, "SYN");

	if (ASSERT_OK(fx_mapping(&fx, HOST1, IN_RANGE_PORT, IPPROTO_TCP, &m),
		      "mapping lookup")) {
		ASSERT_EQ(ntohl(m.ext_addr), ntohl(EXT_ADDR),
			  "mapping ext_addr");
		ASSERT_EQ(ntohs(m.ext_port), IN_RANGE_PORT, "mapping ext_port");
		ASSERT_EQ(m.flags, 0, "mapping flags (preserved, not pooled)");
		ASSERT_NEQ(m.last_ns, 0, "mapping last_ns");
	}
	if (ASSERT_OK(fx_owner(&fx, EXT_ADDR, IN_RANGE_PORT, IPPROTO_TCP,
			       &owner), "port_owners lookup")) {
		ASSERT_EQ(ntohl(owner.addr), ntohl(HOST1), "owner addr");
		ASSERT_EQ(ntohs(owner.port), IN_RANGE_PORT, "owner port");
		ASSERT_EQ(owner.proto, IPPROTO_TCP, "owner proto");
	}
	if (ASSERT_OK(fx_session(&fx, HOST1, IN_RANGE_PORT, REMOTE1, 80,
				 IPPROTO_TCP, &s), "session lookup")) {
		ASSERT_EQ(ntohl(s.ext_addr), ntohl(EXT_ADDR),
			  "session ext_addr");
		ASSERT_EQ(ntohs(s.ext_port), IN_RANGE_PORT, "session ext_port");
		ASSERT_EQ(s.tcp_state, BPFMASQ_TCP_SYN_SENT, "tcp_state");
		ASSERT_EQ(s.packets_out, 1, "packets_out");
		ASSERT_EQ(s.bytes_out, 40, "bytes_out");
		ASSERT_EQ(s.packets_in, 0, "packets_in");
		ASSERT_EQ(s.flags, 0, "session flags");
		ASSERT_NEQ(s.created_ns, 0, "created_ns");
	}
	ASSERT_TABLES(&fx, 1, 1);
	ASSERT_STATS(&fx, STAT(TRANSLATED_OUT, 1), STAT(NEW_MAPPING, 1),
		     STAT(NEW_SESSION, 1));
out:
	fx_teardown(&fx);
}

/* A SYN as stacks send it, with options: they must come out untouched. */
static void test_tcp_syn_options(void)
{
	static const __u8 opts[] = {
		0x02, 0x04, 0x05, 0xb4, /* MSS 1460 */
		0x04, 0x02, 0x08, 0x0a, /* SACK permitted, timestamps */
		0x00, 0x11, 0x22, 0x33, 0x00, 0x00, 0x00, 0x00,
		0x01, 0x03, 0x03, 0x07, /* NOP, window scale 7 */
	};
	struct pkt_spec syn = tcp_spec(HOST1, OUT_RANGE_PORT, REMOTE1, 443,
				       PKT_TCP_SYN);
	struct pkt_spec synack;
	struct bpfmasq_session s;
	struct fixture fx;
	__u16 port;

	syn.tcp_opts = opts;
	syn.tcp_opts_len = sizeof(opts);
	if (!fx_setup(&fx, NULL))
		return;
	if (!send_out(&fx, &syn, &port))
		goto out;
	synack = tcp_spec(REMOTE1, 443, EXT_ADDR, port,
			  PKT_TCP_SYN | PKT_TCP_ACK);
	synack.tcp_opts = opts;
	synack.tcp_opts_len = sizeof(opts);
	if (!send_in(&fx, &synack, HOST1, OUT_RANGE_PORT))
		goto out;
	if (ASSERT_OK(fx_session(&fx, HOST1, OUT_RANGE_PORT, REMOTE1, 443,
				 IPPROTO_TCP, &s), "session lookup"))
		ASSERT_EQ(s.tcp_state, BPFMASQ_TCP_ESTABLISHED, "tcp_state");
out:
	fx_teardown(&fx);
}

/*
 * Short frames arrive padded to the Ethernet minimum: the IP total length,
 * not the frame, bounds the packet, and the padding stays as it was.
 */
static void test_eth_padding(void)
{
	struct pkt_spec ack = tcp_spec(HOST1, OUT_RANGE_PORT, REMOTE1, 80,
				       PKT_TCP_ACK);
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

/* --- 2. pool allocation and endpoint-independent mapping --- */

static void test_port_from_pool(void)
{
	struct pkt_spec syn = tcp_spec(HOST1, OUT_RANGE_PORT, REMOTE1, 443,
				       PKT_TCP_SYN);
	struct bpfmasq_endpoint owner;
	struct bpfmasq_mapping m;
	struct fixture fx;
	__u16 port;

	if (!fx_setup(&fx, NULL))
		return;
	if (!send_out(&fx, &syn, &port))
		goto out;
	ASSERT_IN_RANGE(port, PORT_MIN, PORT_MAX, "allocated port");
	if (ASSERT_OK(fx_mapping(&fx, HOST1, OUT_RANGE_PORT, IPPROTO_TCP, &m),
		      "mapping lookup")) {
		ASSERT_EQ(ntohs(m.ext_port), port, "mapping ext_port");
		ASSERT_EQ(m.flags, BPFMASQ_MAP_FROM_POOL, "mapping flags");
	}
	if (ASSERT_OK(fx_owner(&fx, EXT_ADDR, port, IPPROTO_TCP, &owner),
		      "port_owners lookup")) {
		ASSERT_EQ(ntohl(owner.addr), ntohl(HOST1), "owner addr");
		ASSERT_EQ(ntohs(owner.port), OUT_RANGE_PORT, "owner port");
	}
	ASSERT_TABLES(&fx, 1, 1);
out:
	fx_teardown(&fx);
}

/* Two hosts, same source port: two external ports, in- or out-of-range. */
static void test_pool_distinct_hosts(void)
{
	static const __u16 ports[] = { OUT_RANGE_PORT, IN_RANGE_PORT };
	struct bpfmasq_mapping m;
	struct pkt_spec syn;
	struct fixture fx;
	__u16 p1, p2;
	size_t i;

	for (i = 0; i < sizeof(ports) / sizeof(ports[0]); i++) {
		test_ctx("inside port %u", ports[i]);
		if (!fx_setup(&fx, NULL))
			return;
		syn = tcp_spec(HOST1, ports[i], REMOTE1, 80, PKT_TCP_SYN);
		if (!send_out(&fx, &syn, &p1))
			goto next;
		syn.saddr = HOST2;
		if (!send_out(&fx, &syn, &p2))
			goto next;
		ASSERT_NEQ(p2, p1, "second host's external port");
		ASSERT_IN_RANGE(p1, PORT_MIN, PORT_MAX, "first port");
		ASSERT_IN_RANGE(p2, PORT_MIN, PORT_MAX, "second port");
		/* The second one cannot have preserved a port already held. */
		if (ASSERT_OK(fx_mapping(&fx, HOST2, ports[i], IPPROTO_TCP, &m),
			      "second mapping"))
			ASSERT_EQ(m.flags, BPFMASQ_MAP_FROM_POOL,
				  "second mapping flags");
		ASSERT_TABLES(&fx, 2, 2);
next:
		fx_teardown(&fx);
	}
}

/* One inside endpoint, two remotes: one mapping, same external port. */
static void test_endpoint_independent_mapping(void)
{
	struct pkt_spec to1 = udp_spec(HOST1, OUT_RANGE_PORT, REMOTE1, 3478,
				       query);
	struct pkt_spec to2 = udp_spec(HOST1, OUT_RANGE_PORT, REMOTE2, 5000,
				       query);
	struct bpfmasq_session s;
	struct fixture fx;
	__u16 p1, p2;

	if (!fx_setup(&fx, NULL))
		return;
	if (!send_out(&fx, &to1, &p1) || !send_out(&fx, &to2, &p2))
		goto out;
	ASSERT_EQ(p2, p1, "external port towards the second remote");
	if (ASSERT_OK(fx_session(&fx, HOST1, OUT_RANGE_PORT, REMOTE2, 5000,
				 IPPROTO_UDP, &s), "second session"))
		ASSERT_EQ(ntohs(s.ext_port), p1, "second session ext_port");
	ASSERT_TABLES(&fx, 1, 2);
	ASSERT_STATS(&fx, STAT(TRANSLATED_OUT, 2), STAT(NEW_MAPPING, 1),
		     STAT(NEW_SESSION, 2));
out:
	fx_teardown(&fx);
}

/* --- 3. UDP both ways, checksum corner cases --- */

static void test_udp_reply(void)
{
	struct pkt_spec q = udp_spec(HOST1, OUT_RANGE_PORT, REMOTE1, 53, query);
	struct pkt_spec a;
	struct bpfmasq_session s;
	struct fixture fx;
	__u16 port;

	if (!fx_setup(&fx, NULL))
		return;
	if (!send_out(&fx, &q, &port))
		goto out;
	a = udp_spec(REMOTE1, 53, EXT_ADDR, port, answer);
	if (!send_in(&fx, &a, HOST1, OUT_RANGE_PORT))
		goto out;
	if (ASSERT_OK(fx_session(&fx, HOST1, OUT_RANGE_PORT, REMOTE1, 53,
				 IPPROTO_UDP, &s), "session lookup")) {
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
static void test_udp_zero_csum(void)
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
static void test_udp_csum_mangled_0(void)
{
	struct pkt_spec q = udp_spec(HOST1, IN_RANGE_PORT, REMOTE1, 53, "");
	struct pkt_spec a = udp_spec(REMOTE1, 53, EXT_ADDR, IN_RANGE_PORT, "");
	struct pkt_spec after;
	__be16 word_out, word_in, check;
	struct frame in, out;
	struct fixture fx;

	/* Outbound: the port is preserved, so the result is known ahead. */
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

	if (!fx_setup(&fx, NULL))
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

/* --- 4. ICMP echo --- */

static void test_icmp_echo(void)
{
	static const struct {
		__u16 id;
		bool preserved;
	} rows[] = {
		{ 0x1234, false }, /* out of range: from the ICMP pool */
		{ 40500, true },
	};
	struct bpfmasq_session s;
	struct bpfmasq_mapping m;
	struct pkt_spec req, rep;
	struct fixture fx;
	__u16 ext_id;
	size_t i;

	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		test_ctx("id %u", rows[i].id);
		if (!fx_setup(&fx, NULL))
			return;
		req = echo_spec(HOST1, REMOTE1, ICMP_ECHO, rows[i].id);
		if (!send_out(&fx, &req, &ext_id))
			goto next;
		if (rows[i].preserved)
			ASSERT_EQ(ext_id, rows[i].id, "external id");
		else
			ASSERT_IN_RANGE(ext_id, PORT_MIN, PORT_MAX,
					"external id");
		if (ASSERT_OK(fx_mapping(&fx, HOST1, rows[i].id, IPPROTO_ICMP,
					 &m), "mapping lookup"))
			ASSERT_EQ(m.flags,
				  rows[i].preserved ? 0 : BPFMASQ_MAP_FROM_POOL,
				  "mapping flags");

		rep = echo_spec(REMOTE1, EXT_ADDR, ICMP_ECHOREPLY, ext_id);
		if (!send_in(&fx, &rep, HOST1, rows[i].id))
			goto next;
		/* Echo sessions are keyed by the inside id, remote port 0. */
		if (ASSERT_OK(fx_session(&fx, HOST1, rows[i].id, REMOTE1, 0,
					 IPPROTO_ICMP, &s), "session lookup")) {
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
static void test_icmp_echo_request_in(void)
{
	struct pkt_spec req = echo_spec(HOST1, REMOTE1, ICMP_ECHO, 40500);
	struct pkt_spec ping_gw;
	struct fixture fx;
	__u16 ext_id;

	if (!fx_setup(&fx, NULL))
		return;
	if (!send_out(&fx, &req, &ext_id))
		goto out;
	ping_gw = echo_spec(REMOTE1, EXT_ADDR, ICMP_ECHO, ext_id);
	expect_untouched_spec(&fx, false, &ping_gw, XDP_VERDICT_PASS);
	ASSERT_TABLES(&fx, 1, 1);
	ASSERT_STATS(&fx, STAT(TRANSLATED_OUT, 1), STAT(NEW_MAPPING, 1),
		     STAT(NEW_SESSION, 1), STAT(NOT_OURS, 1));
out:
	fx_teardown(&fx);
}

/* --- 5. filtering --- */

/* Unknown remotes of a live mapping: a new address, or a new port. */
static const struct {
	const char *name;
	__be32 addr;
	__u16 port;
} strangers[] = {
	{ "other address", STRANGER, 53 },
	{ "same address, other port", REMOTE1, 5353 },
};

static void test_filter_dependent(void)
{
	struct pkt_spec q = udp_spec(HOST1, OUT_RANGE_PORT, REMOTE1, 53, query);
	struct pkt_spec a;
	struct fixture fx;
	__u16 port;
	size_t i;

	for (i = 0; i < sizeof(strangers) / sizeof(strangers[0]); i++) {
		test_ctx("%s", strangers[i].name);
		if (!fx_setup(&fx, NULL))
			return;
		if (!send_out(&fx, &q, &port))
			goto next;
		a = udp_spec(strangers[i].addr, strangers[i].port, EXT_ADDR,
			     port, answer);
		expect_untouched_spec(&fx, false, &a, XDP_VERDICT_PASS);
		ASSERT_TABLES(&fx, 1, 1);
		ASSERT_STATS(&fx, STAT(TRANSLATED_OUT, 1),
			     STAT(NEW_MAPPING, 1), STAT(NEW_SESSION, 1),
			     STAT(FILTERED, 1));
next:
		fx_teardown(&fx);
	}
}

static void test_filter_independent(void)
{
	const struct fx_opts opts = { .filtering = BPFMASQ_FILTER_INDEPENDENT };
	struct pkt_spec q = udp_spec(HOST1, OUT_RANGE_PORT, REMOTE1, 53, query);
	struct bpfmasq_session s;
	struct pkt_spec a;
	struct fixture fx;
	__u16 port;
	size_t i;

	for (i = 0; i < sizeof(strangers) / sizeof(strangers[0]); i++) {
		test_ctx("%s", strangers[i].name);
		if (!fx_setup(&fx, &opts))
			return;
		if (!send_out(&fx, &q, &port))
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
static void test_filter_icmp(void)
{
	static const __u8 modes[] = { BPFMASQ_FILTER_DEPENDENT,
				      BPFMASQ_FILTER_INDEPENDENT };
	struct pkt_spec req = echo_spec(HOST1, REMOTE1, ICMP_ECHO, 0x1234);
	struct fx_opts opts = {};
	struct pkt_spec rep;
	struct fixture fx;
	__u16 ext_id;
	size_t i;

	for (i = 0; i < sizeof(modes); i++) {
		test_ctx("filtering %u", modes[i]);
		opts.filtering = modes[i];
		if (!fx_setup(&fx, &opts))
			return;
		if (!send_out(&fx, &req, &ext_id))
			goto next;
		rep = echo_spec(STRANGER, EXT_ADDR, ICMP_ECHOREPLY, ext_id);
		expect_untouched_spec(&fx, false, &rep, XDP_VERDICT_PASS);
		ASSERT_TABLES(&fx, 1, 1);
		ASSERT_STATS(&fx, STAT(TRANSLATED_OUT, 1),
			     STAT(NEW_MAPPING, 1), STAT(NEW_SESSION, 1),
			     STAT(FILTERED, 1));
next:
		fx_teardown(&fx);
	}
}

/* --- 6. unsolicited inbound --- */

static void test_unsolicited_in(void)
{
	const struct pkt_spec rows[] = {
		tcp_spec(REMOTE1, 80, EXT_ADDR, 40123, PKT_TCP_SYN),
		udp_spec(REMOTE1, 53, EXT_ADDR, 40123, answer),
		echo_spec(REMOTE1, EXT_ADDR, ICMP_ECHOREPLY, 40123),
		/* A live port of another protocol is not this one's. */
		udp_spec(REMOTE1, 80, EXT_ADDR, IN_RANGE_PORT, answer),
	};
	struct pkt_spec syn = tcp_spec(HOST1, IN_RANGE_PORT, REMOTE1, 80,
				       PKT_TCP_SYN);
	struct fixture fx;
	size_t i;

	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		test_ctx("row %zu (proto %u)", i, rows[i].proto);
		if (!fx_setup(&fx, NULL))
			return;
		if (!send_out(&fx, &syn, NULL))
			goto next;
		expect_untouched_spec(&fx, false, &rows[i], XDP_VERDICT_PASS);
		ASSERT_TABLES(&fx, 1, 1);
		ASSERT_STATS(&fx, STAT(TRANSLATED_OUT, 1),
			     STAT(NEW_MAPPING, 1), STAT(NEW_SESSION, 1),
			     STAT(NOT_OURS, 1));
next:
		fx_teardown(&fx);
	}
}

/* --- 7. TCP state tracking --- */

static void test_tcp_states(void)
{
	static const struct {
		bool out;
		__u8 flags;
		__u8 state;
	} steps[] = {
		{ true, PKT_TCP_SYN, BPFMASQ_TCP_SYN_SENT },
		{ false, PKT_TCP_SYN | PKT_TCP_ACK, BPFMASQ_TCP_ESTABLISHED },
		{ true, PKT_TCP_ACK, BPFMASQ_TCP_ESTABLISHED },
		{ true, PKT_TCP_PSH | PKT_TCP_ACK, BPFMASQ_TCP_ESTABLISHED },
		{ true, PKT_TCP_FIN | PKT_TCP_ACK, BPFMASQ_TCP_FIN_SEEN },
		{ false, PKT_TCP_ACK, BPFMASQ_TCP_FIN_SEEN },
		{ false, PKT_TCP_FIN | PKT_TCP_ACK, BPFMASQ_TCP_CLOSED },
		{ true, PKT_TCP_ACK, BPFMASQ_TCP_CLOSED },
		/* A new connection on the same tuple. */
		{ true, PKT_TCP_SYN, BPFMASQ_TCP_SYN_SENT },
		{ false, PKT_TCP_SYN | PKT_TCP_ACK, BPFMASQ_TCP_ESTABLISHED },
		{ false, PKT_TCP_RST, BPFMASQ_TCP_RST_SEEN },
		{ true, PKT_TCP_SYN, BPFMASQ_TCP_SYN_SENT },
		{ true, PKT_TCP_RST | PKT_TCP_ACK, BPFMASQ_TCP_RST_SEEN },
	};
	struct bpfmasq_session s;
	struct pkt_spec p;
	struct fixture fx;
	size_t i;

	if (!fx_setup(&fx, NULL))
		return;
	for (i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		test_ctx("step %zu (%s, flags 0x%02x)", i,
			 steps[i].out ? "out" : "in", steps[i].flags);
		if (steps[i].out) {
			p = tcp_spec(HOST1, IN_RANGE_PORT, REMOTE1, 80,
				     steps[i].flags);
			if (!send_out(&fx, &p, NULL))
				break;
		} else {
			p = tcp_spec(REMOTE1, 80, EXT_ADDR, IN_RANGE_PORT,
				     steps[i].flags);
			if (!send_in(&fx, &p, HOST1, IN_RANGE_PORT))
				break;
		}
		if (!ASSERT_OK(fx_session(&fx, HOST1, IN_RANGE_PORT, REMOTE1,
					  80, IPPROTO_TCP, &s), "session"))
			break;
		if (!ASSERT_EQ(s.tcp_state, steps[i].state, "tcp_state"))
			break;
		/* A reopened session must not remember the old FINs. */
		if (steps[i].state == BPFMASQ_TCP_SYN_SENT)
			ASSERT_EQ(s.flags & (BPFMASQ_SESS_FIN_OUT |
					     BPFMASQ_SESS_FIN_IN), 0,
				  "FIN flags");
	}
	test_ctx(NULL);
	ASSERT_TABLES(&fx, 1, 1);
	fx_teardown(&fx);
}

/* --- 8. malformed packets --- */

static void set_tot_len(struct frame *f, size_t len)
{
	frame_ip(f)->tot_len = htons(len);
	frame_fix_ip_csum(f);
}

/* Headers cut short consistently: IP length and frame agree. */
static void truncate_l4(struct frame *f, size_t l4_len)
{
	set_tot_len(f, frame_ip(f)->ihl * 4 + l4_len);
	f->len = ETH_HLEN + ntohs(frame_ip(f)->tot_len);
}

static void mangle_trunc_ip(struct frame *f)
{
	f->len = ETH_HLEN + 10;
}

static void mangle_ihl_4(struct frame *f)
{
	frame_ip(f)->ihl = 4;
	frame_ip(f)->check = 0;
}

static void mangle_ihl_past_end(struct frame *f)
{
	frame_ip(f)->ihl = 15;
}

static void mangle_version_6(struct frame *f)
{
	frame_ip(f)->version = 6;
	frame_fix_ip_csum(f);
}

static void mangle_tot_len_long(struct frame *f)
{
	set_tot_len(f, ntohs(frame_ip(f)->tot_len) + 8);
}

static void mangle_tot_len_short(struct frame *f)
{
	set_tot_len(f, 16);
}

static void mangle_trunc_l4(struct frame *f)
{
	truncate_l4(f, 4);
}

static void mangle_trunc_tcp(struct frame *f)
{
	truncate_l4(f, 10);
}

static void mangle_tcp_doff_4(struct frame *f)
{
	((struct tcphdr *)frame_l4(f))->doff = 4;
}

static void mangle_tcp_doff_long(struct frame *f)
{
	((struct tcphdr *)frame_l4(f))->doff = 15;
}

static void mangle_udp_len_4(struct frame *f)
{
	((struct udphdr *)frame_l4(f))->len = htons(4);
}

static void mangle_udp_len_long(struct frame *f)
{
	((struct udphdr *)frame_l4(f))->len = htons(frame_l4_len(f) + 1);
}

/*
 * in_only: the kernel's skb test run refuses (EINVAL) an IPv4 frame shorter
 * than an IP header, so such a frame can only be fed to the XDP program.
 */
static const struct malformed_case {
	const char *name;
	__u8 proto;
	void (*mangle)(struct frame *f);
	bool in_only;
} malformed_cases[] = {
	{ "truncated IP header", IPPROTO_TCP, mangle_trunc_ip, true },
	{ "IHL 4", IPPROTO_TCP, mangle_ihl_4, false },
	{ "IHL past the end", IPPROTO_UDP, mangle_ihl_past_end, false },
	{ "IP version 6", IPPROTO_UDP, mangle_version_6, false },
	{ "total length past the frame", IPPROTO_TCP, mangle_tot_len_long,
	  false },
	{ "total length below IHL", IPPROTO_UDP, mangle_tot_len_short, false },
	{ "truncated TCP header", IPPROTO_TCP, mangle_trunc_tcp, false },
	{ "TCP doff 4", IPPROTO_TCP, mangle_tcp_doff_4, false },
	{ "TCP doff past the segment", IPPROTO_TCP, mangle_tcp_doff_long,
	  false },
	{ "truncated UDP header", IPPROTO_UDP, mangle_trunc_l4, false },
	{ "UDP length 4", IPPROTO_UDP, mangle_udp_len_4, false },
	{ "UDP length past the packet", IPPROTO_UDP, mangle_udp_len_long,
	  false },
	{ "truncated ICMP header", IPPROTO_ICMP, mangle_trunc_l4, false },
};

static struct pkt_spec malformed_base(__u8 proto, bool outbound)
{
	__be32 src = outbound ? HOST1 : REMOTE1;
	__be32 dst = outbound ? REMOTE1 : EXT_ADDR;
	__u16 sport = outbound ? IN_RANGE_PORT : 80;
	__u16 dport = outbound ? 80 : IN_RANGE_PORT;

	switch (proto) {
	case IPPROTO_TCP:
		return tcp_spec(src, sport, dst, dport, PKT_TCP_ACK);
	case IPPROTO_UDP:
		return udp_spec(src, sport, dst, dport, query);
	}
	return echo_spec(src, dst, outbound ? ICMP_ECHO : ICMP_ECHOREPLY,
			 IN_RANGE_PORT);
}

static void test_malformed_out(void)
{
	const struct malformed_case *c;
	struct pkt_spec s;
	struct fixture fx;
	struct frame f;
	size_t i;

	for (i = 0; i < sizeof(malformed_cases) / sizeof(*c); i++) {
		c = &malformed_cases[i];
		if (c->in_only)
			continue;
		test_ctx("%s", c->name);
		if (!fx_setup(&fx, NULL))
			return;
		s = malformed_base(c->proto, true);
		frame_build(&f, &s);
		c->mangle(&f);
		expect_untouched(&fx, true, &f, TC_SHOT);
		ASSERT_TABLES(&fx, 0, 0);
		ASSERT_STATS(&fx, STAT(MALFORMED, 1));
		fx_teardown(&fx);
	}
}

/* Malformed replies to a live flow: dropped, the flow not touched. */
static void test_malformed_in(void)
{
	const struct malformed_case *c;
	struct bpfmasq_session sess;
	struct pkt_spec s;
	struct fixture fx;
	struct frame f;
	size_t i;

	for (i = 0; i < sizeof(malformed_cases) / sizeof(*c); i++) {
		c = &malformed_cases[i];
		if (c->in_only && ingress_tc)
			continue;
		test_ctx("%s", c->name);
		if (!fx_setup(&fx, NULL))
			return;
		s = malformed_base(c->proto, true);
		if (!send_out(&fx, &s, NULL))
			goto next;
		s = malformed_base(c->proto, false);
		frame_build(&f, &s);
		c->mangle(&f);
		expect_untouched(&fx, false, &f, XDP_VERDICT_DROP);
		if (ASSERT_OK(fx_session(&fx, HOST1, IN_RANGE_PORT, REMOTE1,
					 c->proto == IPPROTO_ICMP ? 0 : 80,
					 c->proto, &sess), "session"))
			ASSERT_EQ(sess.packets_in, 0, "packets_in");
		ASSERT_TABLES(&fx, 1, 1);
		ASSERT_STATS(&fx, STAT(TRANSLATED_OUT, 1),
			     STAT(NEW_MAPPING, 1), STAT(NEW_SESSION, 1),
			     STAT(MALFORMED, 1));
next:
		fx_teardown(&fx);
	}
}

/* --- 9. IP options --- */

static void test_ip_options(void)
{
	static const __u8 ihls[] = { 6, 8, 15 };
	struct pkt_spec out, in;
	struct fixture fx;
	__u16 port;
	size_t i;

	for (i = 0; i < sizeof(ihls); i++) {
		test_ctx("IHL %u", ihls[i]);
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

/* --- 10. non-IPv4 --- */

static void test_non_ipv4(void)
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
	struct fixture fx;
	struct frame f;
	size_t i;

	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		test_ctx("%s", rows[i].name);
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

/* --- 11. sources that are not inside --- */

static void test_not_inside(void)
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
		{ "external address ICMP, inside 0/0", true, EXT_ADDR,
		  IPPROTO_ICMP },
		{ "outside the prefixes", false, OUTSIDER, IPPROTO_TCP },
		{ "outside the prefixes, ICMP", false, OUTSIDER, IPPROTO_ICMP },
		{ "outside the prefixes, GRE", false, OUTSIDER, PKT_PROTO_GRE },
	};
	static const __u8 gre[] = { 0, 0, 0x08, 0x00 };
	struct fx_opts opts = {};
	struct pkt_spec s;
	struct fixture fx;
	size_t i;

	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		test_ctx("%s", rows[i].name);
		opts.inside_any = rows[i].inside_any;
		if (!fx_setup(&fx, &opts))
			return;
		s = malformed_base(rows[i].proto, true);
		if (rows[i].proto == PKT_PROTO_GRE)
			s = (struct pkt_spec){ .daddr = REMOTE1,
					       .proto = PKT_PROTO_GRE,
					       .payload = gre,
					       .payload_len = sizeof(gre) };
		s.saddr = rows[i].saddr;
		expect_untouched_spec(&fx, true, &s, TC_OK);
		ASSERT_TABLES(&fx, 0, 0);
		ASSERT_STATS(&fx, STAT(NOT_INSIDE, 1));
		fx_teardown(&fx);
	}
}

/* --- 12., 16. port pool --- */

static void test_pool_exhausted(void)
{
	const struct fx_opts opts = { .port_min = 41000, .port_max = 41001 };
	const __be32 hosts[] = { HOST1, HOST2, HOST3 };
	struct bpfmasq_mapping m;
	struct pkt_spec q[3];
	struct frame in, out;
	struct fixture fx;
	__u16 port[2], again;
	int i;

	if (!fx_setup(&fx, &opts))
		return;
	for (i = 0; i < 3; i++)
		q[i] = udp_spec(hosts[i], OUT_RANGE_PORT, REMOTE1, 53, query);
	for (i = 0; i < 2; i++) {
		test_ctx("host %d", i + 1);
		if (!send_out(&fx, &q[i], &port[i]))
			goto out;
		ASSERT_IN_RANGE(port[i], 41000, 41001, "external port");
	}
	test_ctx("host 3");
	ASSERT_NEQ(port[1], port[0], "second external port");
	frame_build(&in, &q[2]);
	ASSERT_EQ(fx_egress(&fx, &in, &out), TC_SHOT, "verdict, pool empty");
	ASSERT_EQ(fx_mapping(&fx, HOST3, OUT_RANGE_PORT, IPPROTO_UDP, &m),
		  -ENOENT, "third mapping lookup");
	/* The flows that have ports keep them. */
	for (i = 0; i < 2; i++) {
		test_ctx("host %d again", i + 1);
		if (send_out(&fx, &q[i], &again))
			ASSERT_EQ(again, port[i], "external port");
	}
	test_ctx(NULL);
	ASSERT_TABLES(&fx, 2, 2);
	ASSERT_STATS(&fx, STAT(TRANSLATED_OUT, 4), STAT(NEW_MAPPING, 2),
		     STAT(NEW_SESSION, 2), STAT(PORT_POOL_EMPTY, 1));
out:
	fx_teardown(&fx);
}

/*
 * A preserved port stays in the pool (it is not removed when preserved);
 * allocation must skip it, and preservation must not take a pooled port
 * someone holds: four ports, four distinct mappings, then a clean failure.
 */
static void test_pool_skips_preserved(void)
{
	const struct fx_opts opts = { .port_min = 41000, .port_max = 41003 };
	struct pkt_spec q;
	struct frame in, out;
	struct fixture fx;
	__u16 got[4];
	int i, j;

	if (!fx_setup(&fx, &opts))
		return;
	test_ctx("preserving host");
	q = udp_spec(HOST1, 41001, REMOTE1, 53, query);
	if (!send_out(&fx, &q, &got[0]) ||
	    !ASSERT_EQ(got[0], 41001, "preserved port"))
		goto out;
	for (i = 1; i < 3; i++) {
		test_ctx("pool host %d", i);
		q = udp_spec(i == 1 ? HOST2 : HOST3, OUT_RANGE_PORT, REMOTE1,
			     53, query);
		if (!send_out(&fx, &q, &got[i]))
			goto out;
	}
	/* Wants to preserve a port the pool gave away: must not share it. */
	test_ctx("host preserving a pooled port");
	q = udp_spec(HOST4, got[1], REMOTE1, 53, query);
	if (!send_out(&fx, &q, &got[3]))
		goto out;
	test_ctx(NULL);
	for (i = 0; i < 4; i++) {
		ASSERT_IN_RANGE(got[i], 41000, 41003, "external port");
		for (j = 0; j < i; j++)
			if (!ASSERT_NEQ(got[i], got[j], "distinct ports"))
				printf("  (mappings %d and %d)\n", j, i);
	}
	q = udp_spec(HOST5, OUT_RANGE_PORT, REMOTE1, 53, query);
	frame_build(&in, &q);
	ASSERT_EQ(fx_egress(&fx, &in, &out), TC_SHOT, "fifth verdict");
	ASSERT_TABLES(&fx, 4, 4);
	ASSERT_STATS(&fx, STAT(TRANSLATED_OUT, 4), STAT(NEW_MAPPING, 4),
		     STAT(NEW_SESSION, 4), STAT(PORT_POOL_EMPTY, 1));
out:
	fx_teardown(&fx);
}

/* --- 13. session table full --- */

static void test_session_table_full(void)
{
	const struct fx_opts opts = { .max_sessions = 2 };
	const __be32 hosts[] = { HOST1, HOST2, HOST3 };
	struct pkt_spec q[3];
	struct frame in, out;
	struct fixture fx;
	__u16 port[2], again;
	int i;

	if (!fx_setup(&fx, &opts))
		return;
	for (i = 0; i < 3; i++)
		q[i] = udp_spec(hosts[i], OUT_RANGE_PORT, REMOTE1, 53, query);
	for (i = 0; i < 2; i++) {
		test_ctx("flow %d", i + 1);
		if (!send_out(&fx, &q[i], &port[i]))
			goto out;
	}
	test_ctx("flow 3");
	frame_build(&in, &q[2]);
	ASSERT_EQ(fx_egress(&fx, &in, &out), TC_SHOT, "verdict, table full");
	ASSERT_STAT(&fx, BPFMASQ_STAT_TABLE_FULL, 1);
	for (i = 0; i < 2; i++) {
		test_ctx("flow %d again", i + 1);
		if (send_out(&fx, &q[i], &again))
			ASSERT_EQ(again, port[i], "external port");
	}
	test_ctx(NULL);
	ASSERT_EQ(map_count(fx.maps.sessions), 2, "sessions entries");
	/* The refused flow's mapping and port are given back at once. */
	ASSERT_EQ(map_count(fx.maps.mappings), 2, "mappings entries");
	ASSERT_EQ(map_count(fx.maps.port_owners), 2, "port_owners entries");
	ASSERT_STAT(&fx, BPFMASQ_STAT_TRANSLATED_OUT, 4);
	ASSERT_STAT(&fx, BPFMASQ_STAT_NEW_SESSION, 2);
out:
	fx_teardown(&fx);
}

/* --- 14. fragments --- */

static const __u8 frag_data[] = "0123456789abcdefghijklmnopqrstuvwxyzABCDEF";

/* A later fragment from inside: only the source address changes. */
static void test_frag_out_later(void)
{
	struct pkt_spec s = { .saddr = HOST1, .daddr = REMOTE1,
			      .proto = IPPROTO_UDP, .frag = 3,
			      .ip_id = 0x5151 };
	struct frame in, out, exp;
	struct fixture fx;

	if (!fx_setup(&fx, NULL))
		return;
	frame_wrap(&in, &s, frag_data, 16);
	if (!ASSERT_EQ(fx_egress(&fx, &in, &out), TC_OK, "verdict"))
		goto out;
	ASSERT_CSUMS(&out, "later fragment");
	s.saddr = EXT_ADDR;
	frame_wrap(&exp, &s, frag_data, 16);
	ASSERT_FRAME_EQ(&out, &exp, "later fragment");
	ASSERT_TABLES(&fx, 0, 0);
	ASSERT_STATS(&fx, STAT(TRANSLATED_OUT, 1));
out:
	fx_teardown(&fx);
}

/*
 * A datagram from inside in two fragments: the first gets the new source
 * address and port, the second the address only; the reassembled datagram
 * must carry a UDP checksum that is right for the external endpoint.
 */
static void test_frag_out_datagram(void)
{
	struct pkt_spec q = udp_spec(HOST1, OUT_RANGE_PORT, REMOTE1, 53,
				     (const char *)frag_data);
	__u8 l4[FRAME_MAX], want_l4[FRAME_MAX], joined[FRAME_MAX];
	struct frame in1, in2, out1, out2, exp;
	struct pkt_spec want;
	struct fixture fx;
	size_t len, l1;
	__be16 check;

	if (!fx_setup(&fx, NULL))
		return;
	q.ip_id = 0x6161;
	len = l4_build(&q, l4);
	q.frag = PKT_IP_MF;
	frame_wrap(&in1, &q, l4, 24);
	q.frag = 3;
	frame_wrap(&in2, &q, l4 + 24, len - 24);

	if (!ASSERT_EQ(fx_egress(&fx, &in1, &out1), TC_OK,
		       "first fragment verdict") ||
	    !ASSERT_EQ(fx_egress(&fx, &in2, &out2), TC_OK,
		       "second fragment verdict"))
		goto out;
	ASSERT_CSUMS(&out1, "first fragment");
	ASSERT_CSUMS(&out2, "second fragment");
	want = q;
	want.saddr = EXT_ADDR;
	want.sport = frame_sport(&out1);
	ASSERT_IN_RANGE(want.sport, PORT_MIN, PORT_MAX, "external port");
	want.frag = 0;
	l4_build(&want, want_l4);
	want.frag = PKT_IP_MF;
	frame_wrap(&exp, &want, want_l4, 24);
	ASSERT_FRAME_EQ(&out1, &exp, "first fragment");
	want.frag = 3;
	frame_wrap(&exp, &want, want_l4 + 24, len - 24);
	ASSERT_FRAME_EQ(&out2, &exp, "second fragment");

	l1 = frame_l4_len(&out1);
	memcpy(joined, frame_l4(&out1), l1);
	memcpy(joined + l1, frame_l4(&out2), frame_l4_len(&out2));
	memcpy(&check, joined + 6, 2);
	if (ASSERT_EQ(l1 + frame_l4_len(&out2), len, "reassembled length"))
		ASSERT_EQ(ntohs(check),
			  l4_csum_compute(EXT_ADDR, REMOTE1, IPPROTO_UDP,
					  joined, len),
			  "reassembled UDP checksum");
	ASSERT_TABLES(&fx, 1, 1);
	ASSERT_STATS(&fx, STAT(TRANSLATED_OUT, 2), STAT(NEW_MAPPING, 1),
		     STAT(NEW_SESSION, 1));
out:
	fx_teardown(&fx);
}

/*
 * A reply datagram in two fragments: the first is translated like any
 * reply and remembered, the second follows it. The reassembled datagram's
 * UDP checksum must verify for the inside destination.
 */
static void test_frag_in_follow(void)
{
	struct pkt_spec q = udp_spec(HOST1, OUT_RANGE_PORT, REMOTE1, 53, query);
	__u8 l4[FRAME_MAX], want_l4[FRAME_MAX], joined[FRAME_MAX];
	struct frame in1, in2, out1, out2, exp;
	struct pkt_spec a, want;
	struct fixture fx;
	size_t len, l1;
	__u16 port;
	__be16 check;

	if (!fx_setup(&fx, NULL))
		return;
	if (!send_out(&fx, &q, &port))
		goto out;
	a = udp_spec(REMOTE1, 53, EXT_ADDR, port, (const char *)frag_data);
	a.ip_id = 0x7777;
	len = l4_build(&a, l4); /* 8 + 42 bytes */
	want = a;
	want.daddr = HOST1;
	want.dport = OUT_RANGE_PORT;
	l4_build(&want, want_l4);

	/* First fragment: UDP header and 16 bytes, offset 0, MF. */
	a.frag = PKT_IP_MF;
	frame_wrap(&in1, &a, l4, 24);
	if (!ASSERT_EQ(fx_ingress(&fx, &in1, &out1), XDP_VERDICT_PASS,
		       "first fragment verdict"))
		goto out;
	ASSERT_CSUMS(&out1, "first fragment");
	want.frag = PKT_IP_MF;
	frame_wrap(&exp, &want, want_l4, 24);
	ASSERT_FRAME_EQ(&out1, &exp, "first fragment");
	ASSERT_EQ(map_count(fx.maps.frags), 1, "frags entries");

	/* Second fragment: the rest, at offset 24 (3 units). */
	a.frag = 3;
	frame_wrap(&in2, &a, l4 + 24, len - 24);
	if (!ASSERT_EQ(fx_ingress(&fx, &in2, &out2), XDP_VERDICT_PASS,
		       "second fragment verdict"))
		goto out;
	ASSERT_CSUMS(&out2, "second fragment");
	want.frag = 3;
	frame_wrap(&exp, &want, want_l4 + 24, len - 24);
	ASSERT_FRAME_EQ(&out2, &exp, "second fragment");

	/* Reassemble what came out and verify the UDP checksum. */
	l1 = frame_l4_len(&out1);
	memcpy(joined, frame_l4(&out1), l1);
	memcpy(joined + l1, frame_l4(&out2), frame_l4_len(&out2));
	memcpy(&check, joined + 6, 2);
	if (ASSERT_EQ(l1 + frame_l4_len(&out2), len, "reassembled length"))
		ASSERT_EQ(ntohs(check),
			  l4_csum_compute(frame_ip(&out2)->saddr,
					  frame_ip(&out2)->daddr, IPPROTO_UDP,
					  joined, len),
			  "reassembled UDP checksum");
	ASSERT_STATS(&fx, STAT(TRANSLATED_OUT, 1), STAT(TRANSLATED_IN, 2),
		     STAT(NEW_MAPPING, 1), STAT(NEW_SESSION, 1));
out:
	fx_teardown(&fx);
}

/* Later fragments whose first fragment was not seen are left alone. */
static void test_frag_in_unmatched(void)
{
	static const struct {
		const char *name;
		__be32 saddr;
		__u16 ip_id;
	} rows[] = {
		{ "no first fragment", REMOTE1, 0x9999 },
		{ "other source, same id", REMOTE2, 0x7777 },
	};
	struct pkt_spec q = udp_spec(HOST1, OUT_RANGE_PORT, REMOTE1, 53, query);
	struct pkt_spec a;
	struct frame first, out, later;
	struct fixture fx;
	__u8 l4[FRAME_MAX];
	__u16 port;
	size_t i;

	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		test_ctx("%s", rows[i].name);
		if (!fx_setup(&fx, NULL))
			return;
		if (!send_out(&fx, &q, &port))
			goto next;
		/* A translated first fragment with id 0x7777 from REMOTE1. */
		a = udp_spec(REMOTE1, 53, EXT_ADDR, port,
			     (const char *)frag_data);
		a.ip_id = 0x7777;
		a.frag = PKT_IP_MF;
		l4_build(&a, l4);
		frame_wrap(&first, &a, l4, 24);
		if (!ASSERT_EQ(fx_ingress(&fx, &first, &out), XDP_VERDICT_PASS,
			       "first fragment verdict") ||
		    !ASSERT_EQ(ntohl(frame_ip(&out)->daddr), ntohl(HOST1),
			       "first fragment destination"))
			goto next;

		a.saddr = rows[i].saddr;
		a.ip_id = rows[i].ip_id;
		a.frag = 3;
		frame_wrap(&later, &a, l4 + 24, 16);
		expect_untouched(&fx, false, &later, XDP_VERDICT_PASS);
		ASSERT_STATS(&fx, STAT(TRANSLATED_OUT, 1),
			     STAT(TRANSLATED_IN, 1), STAT(NEW_MAPPING, 1),
			     STAT(NEW_SESSION, 1), STAT(FRAGMENT, 1));
next:
		fx_teardown(&fx);
	}
}

/* --- 15. other protocols, no address --- */

static void test_unsupported_out(void)
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
	struct fixture fx;
	struct frame in, out;
	size_t i;

	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		test_ctx("%s", rows[i].name);
		if (!fx_setup(&fx, NULL))
			return;
		s = (struct pkt_spec){ .saddr = HOST1, .daddr = REMOTE1,
				       .proto = rows[i].proto,
				       .icmp_type = rows[i].icmp_type,
				       .payload = gre,
				       .payload_len = sizeof(gre) };
		frame_build(&in, &s);
		ASSERT_EQ(fx_egress(&fx, &in, &out), TC_SHOT, "verdict");
		ASSERT_TABLES(&fx, 0, 0);
		ASSERT_STATS(&fx, STAT(UNSUPPORTED, 1));
		fx_teardown(&fx);
	}
}

/* Without an external address nothing from inside may leave. */
static void test_no_address(void)
{
	const struct fx_opts opts = { .no_ext_addr = true };
	struct pkt_spec syn = tcp_spec(HOST1, IN_RANGE_PORT, REMOTE1, 80,
				       PKT_TCP_SYN);
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

/* --- 17. flush --- */

static void test_state_flush(void)
{
	const struct fx_opts opts = { .port_min = 41000, .port_max = 41001 };
	const __be32 hosts[] = { HOST1, HOST2, HOST3 };
	struct pkt_spec q[3];
	struct frame in, out;
	struct fixture fx;
	__u16 p1, p3;
	int i;

	if (!fx_setup(&fx, &opts))
		return;
	for (i = 0; i < 3; i++)
		q[i] = udp_spec(hosts[i], OUT_RANGE_PORT, REMOTE1, 53, query);
	if (!send_out(&fx, &q[0], NULL) || !send_out(&fx, &q[1], NULL))
		goto out;
	frame_build(&in, &q[2]);
	if (!ASSERT_EQ(fx_egress(&fx, &in, &out), TC_SHOT,
		       "third host before flush"))
		goto out;

	if (!ASSERT_OK(state_flush(&fx.maps), "state_flush"))
		goto out;
	ASSERT_TABLES(&fx, 0, 0);

	/* The pools are whole again: two new mappings fit. */
	test_ctx("after flush");
	if (send_out(&fx, &q[2], &p3) && send_out(&fx, &q[0], &p1)) {
		ASSERT_IN_RANGE(p3, 41000, 41001, "third host's port");
		ASSERT_IN_RANGE(p1, 41000, 41001, "first host's port");
		ASSERT_NEQ(p1, p3, "distinct ports");
	}
	ASSERT_TABLES(&fx, 2, 2);
out:
	fx_teardown(&fx);
}

/* --- 18. ICMP errors (RFC 5508, RFC 5382 REQ-9) --- */

/* An error's quoted IP header, L4 header and L4 length, in @f. */
static struct iphdr *quote_ip(struct frame *f)
{
	return (void *)((__u8 *)frame_l4(f) + sizeof(struct icmphdr));
}

static __u8 *quote_l4(struct frame *f)
{
	return (__u8 *)quote_ip(f) + quote_ip(f)->ihl * 4;
}

static size_t quote_l4_len(struct frame *f)
{
	return frame_l4_len(f) - sizeof(struct icmphdr) - quote_ip(f)->ihl * 4;
}

/* Quoted source (@src) or destination port, or echo id. */
static __u16 quote_port(struct frame *f, bool src)
{
	bool icmp = quote_ip(f)->protocol == IPPROTO_ICMP;
	__be16 v;

	memcpy(&v, quote_l4(f) + (icmp ? 4 : src ? 0 : 2), 2);
	return ntohs(v);
}

/* A quote of @f's IP header and @l4_bytes of what follows; 0: all of @f. */
static __u16 quote_len(struct frame *f, __u16 l4_bytes)
{
	return l4_bytes ? frame_ip(f)->ihl * 4 + l4_bytes : 0;
}

/* The frame @s leaves as, translated to EXT_ADDR:@ext_port (an id). */
static void frame_translated(struct frame *f, const struct pkt_spec *s,
			     __u16 ext_port)
{
	struct pkt_spec t = *s;

	t.saddr = EXT_ADDR;
	t.sport = ext_port;
	frame_build(f, &t);
}

/* A router quotes the header as the packet reached it, TTL included. */
static void set_ttl(struct frame *f, __u8 ttl)
{
	frame_ip(f)->ttl = ttl;
	frame_fix_ip_csum(f);
}

/* The session of the flow that @s, sent from inside, opened. */
static int flow_session(struct fixture *fx, const struct pkt_spec *s,
			struct bpfmasq_session *sess)
{
	return fx_session(fx, s->saddr, s->sport, s->daddr,
			  s->proto == IPPROTO_ICMP ? 0 : s->dport, s->proto,
			  sess);
}

/*
 * Send @s out as a flow's first packet: @sent gets the frame as it left
 * (for an error to quote), @sess the flow's session as it is now.
 */
static bool open_flow(struct fixture *fx, const struct pkt_spec *s,
		      struct frame *sent, __u16 *ext_port,
		      struct bpfmasq_session *sess)
{
	__u16 port;

	if (!send_out(fx, s, &port))
		return false;
	frame_translated(sent, s, port);
	if (ext_port)
		*ext_port = port;
	return ASSERT_OK(flow_session(fx, s, sess), "session lookup");
}

/* Errors neither refresh a session nor count as its traffic (REQ-6). */
static void expect_session_unchanged(struct fixture *fx,
				     const struct pkt_spec *s,
				     const struct bpfmasq_session *before)
{
	struct bpfmasq_session now;

	if (!ASSERT_OK(flow_session(fx, s, &now), "session lookup"))
		return;
	ASSERT_EQ(now.last_ns, before->last_ns, "session last_ns");
	ASSERT_EQ(now.packets_out, before->packets_out, "packets_out");
	ASSERT_EQ(now.bytes_out, before->bytes_out, "bytes_out");
	ASSERT_EQ(now.packets_in, before->packets_in, "packets_in");
	ASSERT_EQ(now.bytes_in, before->bytes_in, "bytes_in");
	ASSERT_EQ(now.tcp_state, before->tcp_state, "tcp_state");
	ASSERT_EQ(now.flags, before->flags, "session flags");
}

/*
 * The checksums of the error @out, each on its own so that a failure names
 * it: outer IP header and whole ICMP message, both from scratch; the quoted
 * IP header from scratch; and the quoted L4 checksum, when the quote holds
 * it. The quote may be cut short, so that one cannot be recomputed from it:
 * it must be the checksum @orig (whole, as its sender sent it) carries.
 */
static bool expect_error_csums(struct frame *out, struct frame *orig)
{
	int off = l4_csum_offset(frame_ip(orig)->protocol);
	struct iphdr *qiph = quote_ip(out);
	__be16 got, want;
	bool ok;

	ok = ASSERT_CSUMS(out, "ICMP error");
	ok &= ASSERT_EQ(ntohs(qiph->check), ip_csum_compute(qiph),
			"quoted IP checksum");
	if (off < 0 || quote_l4_len(out) < (size_t)off + 2)
		return ok;
	memcpy(&got, quote_l4(out) + off, 2);
	memcpy(&want, (__u8 *)frame_l4(orig) + off, 2);
	ok &= ASSERT_EQ(ntohs(got), ntohs(want),
			"quoted L4 checksum (as originally sent)");
	return ok;
}

/*
 * Send the error @e, quoting @quoted, through the program of its direction.
 * It must come out as the same error quoting @orig, the packet as its
 * sender sent it: inbound to the inside host that sent @orig, outbound
 * from the external endpoint @orig was sent to.
 */
static bool send_error(struct fixture *fx, bool outbound,
		       const struct icmp_error_spec *e,
		       const struct frame *quoted, struct frame *orig)
{
	struct icmp_error_spec want = *e;
	struct iphdr *oip = frame_ip(orig);
	struct frame in, out, exp;
	int ret;
	bool ok;

	frame_build_icmp_error(&in, e, quoted);
	if (outbound)
		want.saddr = oip->daddr;
	else
		want.daddr = oip->saddr;
	frame_build_icmp_error(&exp, &want, orig);
	ret = outbound ? fx_egress(fx, &in, &out) : fx_ingress(fx, &in, &out);
	if (!ASSERT_EQ(ret, outbound ? TC_OK : XDP_VERDICT_PASS,
		       outbound ? "outbound verdict" : "inbound verdict") ||
	    !ASSERT_EQ(out.len, exp.len, "ICMP error frame length"))
		return false;
	if (outbound) {
		ok = ASSERT_EQ(ntohl(frame_ip(&out)->saddr), ntohl(oip->daddr),
			       "outer source");
		ok &= ASSERT_EQ(ntohl(quote_ip(&out)->daddr),
				ntohl(oip->daddr), "quoted destination");
		ok &= ASSERT_EQ(quote_port(&out, false), frame_dport(orig),
				"quoted destination port");
	} else {
		ok = ASSERT_EQ(ntohl(frame_ip(&out)->daddr), ntohl(oip->saddr),
			       "outer destination");
		ok &= ASSERT_EQ(ntohl(quote_ip(&out)->saddr),
				ntohl(oip->saddr), "quoted source");
		ok &= ASSERT_EQ(quote_port(&out, true), frame_sport(orig),
				"quoted source port");
	}
	ok &= expect_error_csums(&out, orig);
	return ASSERT_FRAME_EQ(&out, &exp, "ICMP error frame") && ok;
}

/* Each error type about a UDP flow, from the remote or a router. */
static void test_icmp_error_in_udp(void)
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
		{ "parameter problem, pointer 8", ROUTER, ICMP_PARAMETERPROB,
		  0, 8 << 24, 8, 0, 0 },
		{ "port unreachable, quoted IP options", REMOTE1,
		  ICMP_DEST_UNREACH, ICMP_PORT_UNREACH, 0, 8, 0, 8 },
	};
	struct pkt_spec q = udp_spec(HOST1, OUT_RANGE_PORT, REMOTE1, 53, query);
	struct bpfmasq_session before;
	struct icmp_error_spec e;
	struct frame sent, orig;
	struct fixture fx;
	size_t i;

	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		test_ctx("%s", rows[i].name);
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
			.saddr = rows[i].from, .daddr = EXT_ADDR,
			.type = rows[i].type, .code = rows[i].code,
			.rest = rows[i].rest,
			.quote_len = quote_len(&sent, rows[i].l4_quoted),
		};
		if (!send_error(&fx, false, &e, &sent, &orig))
			goto next;
		expect_session_unchanged(&fx, &q, &before);
		ASSERT_TABLES(&fx, 1, 1);
		ASSERT_STATS(&fx, STAT(TRANSLATED_OUT, 1),
			     STAT(TRANSLATED_IN, 1), STAT(NEW_MAPPING, 1),
			     STAT(NEW_SESSION, 1));
next:
		fx_teardown(&fx);
	}
}

/* A quoted zero (absent) UDP checksum stays zero as the port changes back. */
static void test_icmp_error_in_udp_no_csum(void)
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
	e = (struct icmp_error_spec){ .saddr = REMOTE1, .daddr = EXT_ADDR,
				      .type = ICMP_DEST_UNREACH,
				      .code = ICMP_PORT_UNREACH,
				      .quote_len = quote_len(&sent, 8) };
	if (!send_error(&fx, false, &e, &sent, &orig))
		goto out;
	expect_session_unchanged(&fx, &q, &before);
	ASSERT_STATS(&fx, STAT(TRANSLATED_OUT, 1), STAT(TRANSLATED_IN, 1),
		     STAT(NEW_MAPPING, 1), STAT(NEW_SESSION, 1));
out:
	fx_teardown(&fx);
}

/*
 * TCP's checksum is at offset 16: an 8-byte quote (RFC 792) leaves it out,
 * and nothing past the quote may be touched, not even a frame trailer past
 * the IP packet; a longer quote (RFC 1812) has it, restored.
 */
static void test_icmp_error_in_tcp(void)
{
	static const __u8 opts[] = {
		0x02, 0x04, 0x05, 0xb4, /* MSS 1460 */
		0x04, 0x02, 0x08, 0x0a, /* SACK permitted, timestamps */
		0x00, 0x11, 0x22, 0x33, 0x00, 0x00, 0x00, 0x00,
		0x01, 0x03, 0x03, 0x07, /* NOP, window scale 7 */
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
	struct pkt_spec syn = tcp_spec(HOST1, OUT_RANGE_PORT, REMOTE1, 443,
				       PKT_TCP_SYN);
	struct bpfmasq_session before;
	struct icmp_error_spec e;
	struct frame sent, orig;
	struct fixture fx;
	size_t i;

	syn.tcp_opts = opts;
	syn.tcp_opts_len = sizeof(opts);
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		test_ctx("%s", rows[i].name);
		if (!fx_setup(&fx, NULL))
			return;
		if (!open_flow(&fx, &syn, &sent, NULL, &before))
			goto next;
		frame_build(&orig, &syn);
		e = (struct icmp_error_spec){
			.saddr = ROUTER, .daddr = EXT_ADDR,
			.type = ICMP_DEST_UNREACH, .code = ICMP_HOST_UNREACH,
			.quote_len = quote_len(&sent, rows[i].l4_quoted),
			.pad_to = rows[i].pad_to,
		};
		if (!send_error(&fx, false, &e, &sent, &orig))
			goto next;
		expect_session_unchanged(&fx, &syn, &before);
		ASSERT_TABLES(&fx, 1, 1);
		ASSERT_STATS(&fx, STAT(TRANSLATED_OUT, 1),
			     STAT(TRANSLATED_IN, 1), STAT(NEW_MAPPING, 1),
			     STAT(NEW_SESSION, 1));
next:
		fx_teardown(&fx);
	}
}

/*
 * A preserved port does not change back, but the quoted TCP/UDP checksum
 * still covers the quoted source address through its pseudo-header.
 */
static void test_icmp_error_in_preserved_port(void)
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

	for (i = 0; i < sizeof(flows) / sizeof(flows[0]); i++) {
		test_ctx("%s", flows[i].proto == IPPROTO_TCP ? "TCP" : "UDP");
		if (!fx_setup(&fx, NULL))
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
		expect_session_unchanged(&fx, &flows[i], &before);
		ASSERT_STATS(&fx, STAT(TRANSLATED_OUT, 1),
			     STAT(TRANSLATED_IN, 1), STAT(NEW_MAPPING, 1),
			     STAT(NEW_SESSION, 1));
next:
		fx_teardown(&fx);
	}
}

/* traceroute -I: time exceeded quoting an echo request gets its id back. */
static void test_icmp_error_in_echo(void)
{
	static const struct {
		__u16 id;
		__u16 l4_quoted; /* 0: the whole request */
	} rows[] = {
		{ 0x1234, 0 }, /* from the ICMP pool */
		{ 0x1234, 8 },
		{ 40500, 0 }, /* preserved */
	};
	struct bpfmasq_session before;
	struct icmp_error_spec e;
	struct frame sent, orig;
	struct pkt_spec req;
	struct fixture fx;
	size_t i;

	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		test_ctx("id %u, %u bytes quoted", rows[i].id,
			 rows[i].l4_quoted);
		if (!fx_setup(&fx, NULL))
			return;
		req = echo_spec(HOST1, REMOTE1, ICMP_ECHO, rows[i].id);
		if (!open_flow(&fx, &req, &sent, NULL, &before))
			goto next;
		frame_build(&orig, &req);
		set_ttl(&sent, 1);
		set_ttl(&orig, 1);
		e = (struct icmp_error_spec){
			.saddr = ROUTER, .daddr = EXT_ADDR,
			.type = ICMP_TIME_EXCEEDED, .code = ICMP_EXC_TTL,
			.quote_len = quote_len(&sent, rows[i].l4_quoted),
		};
		if (!send_error(&fx, false, &e, &sent, &orig))
			goto next;
		expect_session_unchanged(&fx, &req, &before);
		ASSERT_TABLES(&fx, 1, 1);
		ASSERT_STATS(&fx, STAT(TRANSLATED_OUT, 1),
			     STAT(TRANSLATED_IN, 1), STAT(NEW_MAPPING, 1),
			     STAT(NEW_SESSION, 1));
next:
		fx_teardown(&fx);
	}
}

/*
 * Errors that match no state go to the gateway's own stack untouched: no
 * owner of the quoted source, or an owner but no session with the quoted
 * destination (a spoofed error naming another remote).
 */
static void test_icmp_error_in_unmatched(void)
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

	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		test_ctx("%s", rows[i].name);
		if (!fx_setup(&fx, NULL))
			return;
		if (!open_flow(&fx, &q, &sent, &port, &before))
			goto next;
		if (rows[i].sport)
			port = rows[i].sport;
		s = rows[i].proto == IPPROTO_TCP ?
			    tcp_spec(rows[i].saddr, port, rows[i].daddr,
				     rows[i].dport, PKT_TCP_SYN) :
			    udp_spec(rows[i].saddr, port, rows[i].daddr,
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
		expect_untouched(&fx, false, &in, XDP_VERDICT_PASS);
		expect_session_unchanged(&fx, &q, &before);
		ASSERT_TABLES(&fx, 1, 1);
		ASSERT_STATS(&fx, STAT(TRANSLATED_OUT, 1),
			     STAT(NEW_MAPPING, 1), STAT(NEW_SESSION, 1),
			     { rows[i].stat, 1 });
next:
		fx_teardown(&fx);
	}
}

/* Less than the quoted IP header and 8 bytes: dropped, malformed. */
static void test_icmp_error_in_truncated(void)
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

	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		test_ctx("%s", rows[i].name);
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
		expect_untouched(&fx, false, &in, XDP_VERDICT_DROP);
		expect_session_unchanged(&fx, &q, &before);
		ASSERT_TABLES(&fx, 1, 1);
		ASSERT_STATS(&fx, STAT(TRANSLATED_OUT, 1),
			     STAT(NEW_MAPPING, 1), STAT(NEW_SESSION, 1),
			     STAT(MALFORMED, 1));
next:
		fx_teardown(&fx);
	}
}

/*
 * An inside host's port unreachable about a reply it got: leaves from the
 * external address, quoting the reply as the remote sent it.
 */
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
	e = (struct icmp_error_spec){ .saddr = from, .daddr = REMOTE1,
				      .type = ICMP_DEST_UNREACH, .code = code,
				      .quote_len = quote_len(&received,
							     l4_quoted) };
	if (!send_error(&fx, true, &e, &received, &orig))
		goto out;
	expect_session_unchanged(&fx, &q, &before);
	ASSERT_TABLES(&fx, 1, 1);
	ASSERT_STATS(&fx, STAT(TRANSLATED_OUT, 2), STAT(TRANSLATED_IN, 1),
		     STAT(NEW_MAPPING, 1), STAT(NEW_SESSION, 1));
out:
	fx_teardown(&fx);
}

static void test_icmp_error_out(void)
{
	test_ctx("whole datagram quoted");
	run_error_out(OUT_RANGE_PORT, 0, HOST1, ICMP_PORT_UNREACH);
	test_ctx("8 bytes quoted");
	run_error_out(OUT_RANGE_PORT, 8, HOST1, ICMP_PORT_UNREACH);
}

/* The gateway's fragmentation needed towards a smaller LAN MTU. */
static void test_icmp_error_from_gateway(void)
{
	run_error_out(OUT_RANGE_PORT, 0, EXT_ADDR, ICMP_FRAG_NEEDED);
}

static void test_icmp_error_out_preserved_port(void)
{
	run_error_out(IN_RANGE_PORT, 0, HOST1, ICMP_PORT_UNREACH);
}

/* An error from inside that matches no session would leak the address. */
static void test_icmp_error_out_unmatched(void)
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
		{ "the port is another protocol's", HOST1, IPPROTO_TCP,
		  REMOTE1, 53, HOST1, OUT_RANGE_PORT, false },
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

	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		test_ctx("%s", rows[i].name);
		if (!fx_setup(&fx, NULL))
			return;
		if (!open_flow(&fx, &q, &sent, NULL, &before))
			goto next;
		s = rows[i].proto == IPPROTO_TCP ?
			    tcp_spec(rows[i].saddr, rows[i].sport,
				     rows[i].daddr, rows[i].dport,
				     PKT_TCP_SYN | PKT_TCP_ACK) :
			    udp_spec(rows[i].saddr, rows[i].sport,
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
		expect_untouched(&fx, true, &in, TC_SHOT);
		expect_session_unchanged(&fx, &q, &before);
		ASSERT_TABLES(&fx, 1, 1);
		ASSERT_STATS(&fx, STAT(TRANSLATED_OUT, 1),
			     STAT(NEW_MAPPING, 1), STAT(NEW_SESSION, 1),
			     STAT(UNSUPPORTED, 1));
next:
		fx_teardown(&fx);
	}
}

/* The gateway's own errors, and routed ones, are not translated. */
static void test_icmp_error_out_not_inside(void)
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
	struct fixture fx;
	size_t i;

	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		test_ctx("%s", rows[i].name);
		opts.inside_any = rows[i].inside_any;
		if (!fx_setup(&fx, &opts))
			return;
		s = udp_spec(REMOTE1, 53, rows[i].saddr, PORT_MAX + 1, answer);
		frame_build(&quoted, &s);
		e = (struct icmp_error_spec){ .saddr = rows[i].saddr,
					      .daddr = REMOTE1,
					      .type = ICMP_DEST_UNREACH,
					      .code = ICMP_PORT_UNREACH };
		frame_build_icmp_error(&in, &e, &quoted);
		expect_untouched(&fx, true, &in, TC_OK);
		ASSERT_TABLES(&fx, 0, 0);
		ASSERT_STATS(&fx, STAT(NOT_INSIDE, 1));
		fx_teardown(&fx);
	}
}

/* --- runner --- */


/* --- hardening --- */

/*
 * Packets from the WAN addressed straight to a LAN host match no state:
 * dropped and counted, never left to the stack, which would forward them.
 */
static void test_unsolicited_to_lan(void)
{
	const struct pkt_spec rows[] = {
		tcp_spec(STRANGER, 4444, HOST1, 22, PKT_TCP_SYN),
		udp_spec(STRANGER, 53, HOST1, OUT_RANGE_PORT, answer),
		echo_spec(STRANGER, HOST2, ICMP_ECHO, 7),
	};
	/* The gateway's own LAN address is its own: the stack decides. */
	const struct pkt_spec to_gw = tcp_spec(STRANGER, 4444, GW_LAN_ADDR, 22,
					       PKT_TCP_SYN);
	struct fixture fx;
	size_t i;

	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		test_ctx("row %zu (proto %u)", i, rows[i].proto);
		if (!fx_setup(&fx, NULL))
			return;
		expect_untouched_spec(&fx, false, &rows[i], XDP_VERDICT_DROP);
		ASSERT_TABLES(&fx, 0, 0);
		ASSERT_STATS(&fx, STAT(UNSOLICITED, 1));
		fx_teardown(&fx);
	}
	test_ctx("to the gateway's LAN address");
	if (!fx_setup(&fx, NULL))
		return;
	expect_untouched_spec(&fx, false, &to_gw, XDP_VERDICT_PASS);
	ASSERT_STATS(&fx, STAT(NOT_OURS, 1));
	fx_teardown(&fx);
}

/* 0/8 (a DHCP client), loopback, link-local: never translated. */
static void test_special_sources(void)
{
	const struct fx_opts opts = { .inside_any = true };
	const struct pkt_spec rows[] = {
		udp_spec(IP4(0, 0, 0, 0), 68, IP4(255, 255, 255, 255), 67,
			 query),
		udp_spec(IP4(127, 0, 0, 1), 5555, REMOTE1, 53, query),
		udp_spec(IP4(169, 254, 3, 4), 5555, REMOTE1, 53, query),
	};
	struct fixture fx;
	size_t i;

	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		test_ctx("row %zu", i);
		if (!fx_setup(&fx, &opts))
			return;
		expect_untouched_spec(&fx, true, &rows[i], TC_OK);
		ASSERT_TABLES(&fx, 0, 0);
		ASSERT_STATS(&fx, STAT(NOT_INSIDE, 1));
		fx_teardown(&fx);
	}
}

/* Elements in a queue map; they are popped and pushed back in order. */
static long queue_len(int fd)
{
	__be16 ports[65536];
	long n = 0, i;

	while (n < 65536 && !bpf_map_lookup_and_delete_elem(fd, NULL, &ports[n]))
		n++;
	for (i = 0; i < n; i++)
		bpf_map_update_elem(fd, NULL, &ports[i], BPF_ANY);
	return n;
}

/* A port popped for a flow the full port-owner table refused goes back. */
static void test_pool_kept_when_table_full(void)
{
	const struct fx_opts opts = { .max_owners = 4 };
	struct bpfmasq_pool_key pk = { .addr = EXT_ADDR,
				       .proto = IPPROTO_UDP };
	long before = -1, after = -2;
	struct frame in, out;
	struct fixture fx;
	struct pkt_spec q;
	__u32 inner_id;
	int i, fd;

	if (!fx_setup(&fx, &opts))
		return;
	/* Fill port_owners behind the data path's back. */
	for (i = 0; i < 4; i++) {
		struct bpfmasq_endpoint ext = { .addr = EXT_ADDR,
						.port = htons(PORT_MIN + i),
						.proto = IPPROTO_TCP };
		struct bpfmasq_endpoint held = { .addr = HOST5,
						 .port = htons(1000 + i),
						 .proto = IPPROTO_TCP };

		ASSERT_OK(bpf_map_update_elem(fx.maps.port_owners, &ext, &held,
					      BPF_NOEXIST) ? -errno : 0,
			  "filling port_owners");
	}
	if (!ASSERT_OK(bpf_map_lookup_elem(fx.maps.port_pools, &pk,
					   &inner_id) ? -errno : 0,
		       "UDP pool"))
		goto out;
	fd = bpf_map_get_fd_by_id(inner_id);
	if (!ASSERT_TRUE(fd >= 0, "UDP pool fd"))
		goto out;
	before = queue_len(fd);
	for (i = 0; i < 3; i++) {
		q = udp_spec(HOST1 + htonl(i), OUT_RANGE_PORT, REMOTE1, 53,
			     query);
		frame_build(&in, &q);
		ASSERT_EQ(fx_egress(&fx, &in, &out), TC_SHOT,
			  "verdict, table full");
	}
	after = queue_len(fd);
	close(fd);
	ASSERT_EQ(after, before, "free ports in the UDP pool");
	ASSERT_STATS(&fx, STAT(TABLE_FULL, 3));
out:
	fx_teardown(&fx);
}

/*
 * Endpoint-independent filtering opens inbound sessions only for a TCP
 * open: a stray ACK, RST or SYN-ACK from a stranger creates nothing.
 */
static void test_filter_independent_tcp(void)
{
	const struct fx_opts opts = { .filtering = BPFMASQ_FILTER_INDEPENDENT };
	const struct pkt_spec syn = tcp_spec(HOST1, OUT_RANGE_PORT, REMOTE1,
					     80, PKT_TCP_SYN);
	static const __u8 stray[] = { PKT_TCP_ACK, PKT_TCP_RST,
				      PKT_TCP_SYN | PKT_TCP_ACK };
	struct pkt_spec a;
	struct fixture fx;
	__u16 port;
	size_t i;

	for (i = 0; i < sizeof(stray); i++) {
		test_ctx("stray flags 0x%02x", stray[i]);
		if (!fx_setup(&fx, &opts))
			return;
		if (!send_out(&fx, &syn, &port))
			goto next;
		a = tcp_spec(STRANGER, 4444, EXT_ADDR, port, stray[i]);
		expect_untouched_spec(&fx, false, &a, XDP_VERDICT_PASS);
		ASSERT_TABLES(&fx, 1, 1);
		ASSERT_STATS(&fx, STAT(TRANSLATED_OUT, 1),
			     STAT(NEW_MAPPING, 1), STAT(NEW_SESSION, 1),
			     STAT(FILTERED, 1));
next:
		fx_teardown(&fx);
	}
	test_ctx("SYN from a stranger");
	if (!fx_setup(&fx, &opts))
		return;
	if (send_out(&fx, &syn, &port)) {
		a = tcp_spec(STRANGER, 4444, EXT_ADDR, port, PKT_TCP_SYN);
		if (send_in(&fx, &a, HOST1, OUT_RANGE_PORT))
			ASSERT_TABLES(&fx, 1, 2);
	}
	fx_teardown(&fx);
}

/* A session left from an old external address is not used again. */
static void test_stale_session(void)
{
	const struct pkt_spec q = udp_spec(HOST1, OUT_RANGE_PORT, REMOTE1, 53,
					   query);
	struct bpfmasq_session_key key = {
		.inside_addr = HOST1, .remote_addr = REMOTE1,
		.inside_port = htons(OUT_RANGE_PORT), .remote_port = htons(53),
		.proto = IPPROTO_UDP,
	};
	struct bpfmasq_session s;
	struct fixture fx;

	if (!fx_setup(&fx, NULL))
		return;
	if (!send_out(&fx, &q, NULL))
		goto out;
	/* As if a flush raced a packet of the flow: the old address stays. */
	if (!ASSERT_OK(bpf_map_lookup_elem(fx.maps.sessions, &key, &s) ?
			       -errno : 0,
		       "session"))
		goto out;
	s.ext_addr = IP4(192, 0, 2, 99);
	s.packets_out = 100;
	ASSERT_OK(bpf_map_update_elem(fx.maps.sessions, &key, &s, BPF_EXIST) ?
			  -errno : 0,
		  "aging the session");
	/* send_out checks the frame leaves from EXT_ADDR. */
	send_out(&fx, &q, NULL);
	if (ASSERT_OK(bpf_map_lookup_elem(fx.maps.sessions, &key, &s) ?
			      -errno : 0,
		      "session")) {
		ASSERT_EQ(ntohl(s.ext_addr), ntohl(EXT_ADDR),
			  "session ext_addr");
		ASSERT_EQ(s.packets_out, 1, "packets_out of the new session");
	}
out:
	fx_teardown(&fx);
}

struct prog_test {
	const char *name;
	void (*fn)(void);
};

static const struct prog_test tests[] = {
	{ "tcp_syn_out", test_tcp_syn_out },
	{ "tcp_syn_options", test_tcp_syn_options },
	{ "eth_padding", test_eth_padding },
	{ "port_from_pool", test_port_from_pool },
	{ "pool_distinct_hosts", test_pool_distinct_hosts },
	{ "endpoint_independent_mapping", test_endpoint_independent_mapping },
	{ "udp_reply", test_udp_reply },
	{ "udp_zero_csum", test_udp_zero_csum },
	{ "udp_csum_mangled_0", test_udp_csum_mangled_0 },
	{ "icmp_echo", test_icmp_echo },
	{ "icmp_echo_request_in", test_icmp_echo_request_in },
	{ "filter_dependent", test_filter_dependent },
	{ "filter_independent", test_filter_independent },
	{ "filter_icmp", test_filter_icmp },
	{ "unsolicited_in", test_unsolicited_in },
	{ "tcp_states", test_tcp_states },
	{ "malformed_out", test_malformed_out },
	{ "malformed_in", test_malformed_in },
	{ "ip_options", test_ip_options },
	{ "non_ipv4", test_non_ipv4 },
	{ "not_inside", test_not_inside },
	{ "pool_exhausted", test_pool_exhausted },
	{ "session_table_full", test_session_table_full },
	{ "frag_out_later", test_frag_out_later },
	{ "frag_out_datagram", test_frag_out_datagram },
	{ "frag_in_follow", test_frag_in_follow },
	{ "frag_in_unmatched", test_frag_in_unmatched },
	{ "unsupported_out", test_unsupported_out },
	{ "no_address", test_no_address },
	{ "pool_skips_preserved", test_pool_skips_preserved },
	{ "state_flush", test_state_flush },
	{ "icmp_error_from_gateway", test_icmp_error_from_gateway },
	{ "unsolicited_to_lan", test_unsolicited_to_lan },
	{ "special_sources", test_special_sources },
	{ "pool_kept_when_table_full", test_pool_kept_when_table_full },
	{ "filter_independent_tcp", test_filter_independent_tcp },
	{ "stale_session", test_stale_session },
	{ "icmp_error_in_udp", test_icmp_error_in_udp },
	{ "icmp_error_in_udp_no_csum", test_icmp_error_in_udp_no_csum },
	{ "icmp_error_in_tcp", test_icmp_error_in_tcp },
	{ "icmp_error_in_preserved_port", test_icmp_error_in_preserved_port },
	{ "icmp_error_in_echo", test_icmp_error_in_echo },
	{ "icmp_error_in_unmatched", test_icmp_error_in_unmatched },
	{ "icmp_error_in_truncated", test_icmp_error_in_truncated },
	{ "icmp_error_out", test_icmp_error_out },
	{ "icmp_error_out_preserved_port", test_icmp_error_out_preserved_port },
	{ "icmp_error_out_unmatched", test_icmp_error_out_unmatched },
	{ "icmp_error_out_not_inside", test_icmp_error_out_not_inside },
};

/* Fail early, once, with the likely reason, instead of in every test. */
static bool probe_load(void)
{
	struct bpfmasq *skel = bpfmasq__open();
	int err = skel ? bpfmasq__load(skel) : -errno;

	bpfmasq__destroy(skel);
	if (!err)
		return true;
	fprintf(stderr,
		"prog_test: cannot load the BPF programs: %s\n"
		"prog_test: run as root on a kernel with BPF support%s\n",
		strerror(-err),
		log_verbose ? "" : "; -v shows the verifier's log");
	return false;
}

static void usage(void)
{
	size_t i;

	fprintf(stderr, "usage: prog_test [-v] [test]\ntests:");
	for (i = 0; i < sizeof(tests) / sizeof(tests[0]); i++)
		fprintf(stderr, " %s", tests[i].name);
	fputc('\n', stderr);
}

int main(int argc, char **argv)
{
	const char *only = NULL;
	int passed = 0, failed = 0, i, pass;
	size_t t;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "-v"))
			log_setup(true);
		else if (argv[i][0] == '-' || only)
			goto bad_usage;
		else
			only = argv[i];
	}
	if (!log_verbose)
		log_setup(false);
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (geteuid() != 0)
		fprintf(stderr, "prog_test: not root, loading may fail\n");
	if (!probe_load())
		return 1;

	/*
	 * Every test, then again with replies through the TC ingress program:
	 * those that send replies (the others would only repeat themselves)
	 * count a second time, as NAME.tc_ingress.
	 */
	for (pass = 0; pass < 2; pass++) {
		ingress_tc = pass == 1;
		for (t = 0; t < sizeof(tests) / sizeof(tests[0]); t++) {
			if (only && strcmp(only, tests[t].name))
				continue;
			cur_test = tests[t].name;
			cur_failures = 0;
			ingress_used = false;
			tests[t].fn();
			test_ctx(NULL);
			if (ingress_tc && !ingress_used)
				continue;
			printf("%s %s%s\n", cur_failures ? "FAIL" : "PASS",
			       tests[t].name, ingress_tc ? ".tc_ingress" : "");
			if (cur_failures)
				failed++;
			else
				passed++;
		}
	}
	if (only && !passed && !failed) {
		fprintf(stderr, "prog_test: no test named '%s'\n", only);
		goto bad_usage;
	}
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;

bad_usage:
	usage();
	return 1;
}
