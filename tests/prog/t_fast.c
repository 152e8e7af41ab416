// SPDX-License-Identifier: GPL-2.0
/*
 * t_fast.c - the fast path (bpf/fast.h), in a network namespace whose
 * routes and neighbours bpf_fib_lookup reads (harness.h: a LAN and a
 * WAN veth): a new flow translated at the LAN's XDP hook and redirected to the
 * WAN's next hop, its reply redirected from the WAN's XDP ingress to the
 * inside host, TTL one less, MAC addresses the next hop's, checksums
 * right; the flow going on on the normal path; and what goes to the kernel
 * as it is: a TTL that would run out, a neighbour not resolved, a route
 * that does not leave by the WAN, a fast path that is off.
 */
#include <linux/if_ether.h>
#include <bpf/bpf.h>

#include "bpfmasq.skel.h"
#include "scenario.h"

static const struct fx_opts fast_opts = { .fast_path = true };

/*
 * @out, from @in, left for the next hop as the kernel forwards: TTL one
 * less, checksums right, to @dmac from @smac.
 */
static void expect_forwarded(struct frame *in, struct frame *out,
			     const void *dmac, const void *smac,
			     const char *what)
{
	ASSERT_CSUMS(out, what);
	ASSERT_FAST_FORWARDED(in, out, dmac, smac, what);
}

/*
 * A new UDP flow out and its reply in, both on the fast path; the flow's
 * next packet on the normal path (TC egress) keeps its external port.
 */
/* Not .fast: runs the fast path by hand; fx_egress() is its normal path. */
PROG_TEST(fast_out_in, TEST_NO_FAST)
{
	struct pkt_spec q = udp_spec(HOST1, OUT_RANGE_PORT, REMOTE1, 53, query);
	struct pkt_spec a;
	struct frame in, out;
	struct fixture fx;
	__u8 host1_mac[ETH_ALEN];
	__u16 port = 0;

	if (!fx_setup(&fx, &fast_opts))
		goto out;
	frame_build(&in, &q);
	test_ctx("out");
	if (!ASSERT_EQ(fx_fast_lan(&fx, &in, &out), XDP_VERDICT_REDIRECT,
		       "verdict: to the WAN"))
		goto out;
	port = frame_sport(&out);
	ASSERT_EQ(frame_ip(&out)->saddr, EXT_ADDR, "source address");
	ASSERT_IN_RANGE(port, PORT_MIN, PORT_MAX, "external port");
	ASSERT_EQ(frame_ip(&out)->daddr, REMOTE1, "destination address");
	expect_forwarded(&in, &out, FAST_NEXT_HOP_MAC, FAST_WAN_MAC, "out");

	a = udp_spec(REMOTE1, 53, EXT_ADDR, port, answer);
	frame_build(&in, &a);
	test_ctx("in");
	fast_host_mac(HOST1, host1_mac);
	if (ASSERT_EQ(fx_fast_wan(&fx, &in, &out), XDP_VERDICT_REDIRECT,
		      "verdict: to the LAN")) {
		ASSERT_EQ(frame_ip(&out)->daddr, HOST1, "destination address");
		ASSERT_EQ(frame_dport(&out), OUT_RANGE_PORT,
			  "destination port");
		expect_forwarded(&in, &out, host1_mac, FAST_LAN_MAC, "in");
	}
	test_ctx(NULL);
	ASSERT_TABLES(&fx, 1, 1);
	ASSERT_STATS(&fx, STAT(TRANSLATED_OUT, 1), STAT(TRANSLATED_IN, 1),
		     STAT(NEW_MAPPING, 1), STAT(NEW_SESSION, 1),
		     STAT(FAST_OUT, 1), STAT(FAST_IN, 1));
	test_ctx("next packet, normal path");
	frame_build(&in, &q);
	if (ASSERT_EQ(fx_egress(&fx, &in, &out), TC_OK, "verdict"))
		ASSERT_EQ(frame_sport(&out), port, "external port");
	test_ctx(NULL);
	expect_check_clean(&fx);
out:
	fx_teardown(&fx);
}

/*
 * What the fast path leaves to the kernel, as it came (and translated, on
 * the way in, as the normal path does), counted by reason: a TTL that
 * would run out, IP options, a fragment, a neighbour not resolved yet; and
 * not counted: a route that does not leave by the WAN, an address that is
 * not unicast, a fast path that is off.
 */
/*
 * @in through the LAN's XDP program: left to the kernel as it came, with
 * no state made and nothing counted.
 */
static void lan_passed_uncounted(struct fixture *fx, const struct frame *in)
{
	struct frame out;

	if (ASSERT_EQ(fx_fast_lan(fx, in, &out), XDP_VERDICT_PASS, "verdict"))
		ASSERT_FRAME_EQ(&out, in, "passed frame");
	ASSERT_TABLES(fx, 0, 0);
	/* Every counter zero. */
	ASSERT_STATS(fx, STAT(FAST_OUT, 0));
}

/* Not .fast: runs the fast path by hand; fx_egress() is its normal path. */
PROG_TEST(fast_to_stack, TEST_SUBTESTS | TEST_NO_FAST)
{
	struct pkt_spec q = udp_spec(HOST1, OUT_RANGE_PORT, REMOTE1, 53, query);
	struct pkt_spec a;
	struct frame in, out;
	struct fixture fx;
	__u16 port;

	if (test_subtest("TTL 1") && fx_setup(&fx, &fast_opts)) {
		frame_build(&in, &q);
		frame_ip(&in)->ttl = 1;
		frame_fix_ip_csum(&in);
		if (ASSERT_EQ(fx_fast_lan(&fx, &in, &out), XDP_VERDICT_PASS,
			      "verdict"))
			ASSERT_FRAME_EQ(&out, &in, "passed frame");
		ASSERT_TABLES(&fx, 0, 0);
		ASSERT_STATS(&fx, STAT(FAST_TTL, 1));
		fx_teardown(&fx);
	}
	if (test_subtest("IP options") && fx_setup(&fx, &fast_opts)) {
		q.ihl = 6;
		frame_build(&in, &q);
		if (ASSERT_EQ(fx_fast_lan(&fx, &in, &out), XDP_VERDICT_PASS,
			      "verdict"))
			ASSERT_FRAME_EQ(&out, &in, "passed frame");
		ASSERT_TABLES(&fx, 0, 0);
		ASSERT_STATS(&fx, STAT(FAST_IP_OPTIONS, 1));
		q.ihl = 0;
		fx_teardown(&fx);
	}
	if (test_subtest("first fragment") && fx_setup(&fx, &fast_opts)) {
		__u8 l4[FRAME_MAX];

		q.frag = PKT_IP_MF;
		frame_wrap(&in, &q, l4, l4_build(&q, l4) - 8);
		if (ASSERT_EQ(fx_fast_lan(&fx, &in, &out), XDP_VERDICT_PASS,
			      "verdict"))
			ASSERT_FRAME_EQ(&out, &in, "passed frame");
		ASSERT_TABLES(&fx, 0, 0);
		ASSERT_STATS(&fx, STAT(FAST_FRAGMENT, 1));
		q.frag = 0;
		fx_teardown(&fx);
	}
	if (test_subtest("no neighbour") && fx_setup(&fx, &fast_opts)) {
		q.saddr = FAST_NO_NEIGH_HOST;
		if (send_out(&fx, &q, &port)) {
			a = udp_spec(REMOTE1, 53, EXT_ADDR, port, answer);
			frame_build(&in, &a);
			if (ASSERT_EQ(fx_fast_wan(&fx, &in, &out),
				      XDP_VERDICT_PASS, "verdict"))
				ASSERT_EQ(frame_ip(&out)->daddr,
					  FAST_NO_NEIGH_HOST,
					  "translated all the same");
			ASSERT_STATS(&fx, STAT(TRANSLATED_OUT, 1),
				     STAT(TRANSLATED_IN, 1),
				     STAT(NEW_MAPPING, 1), STAT(NEW_SESSION, 1),
				     STAT(FAST_NO_NEIGH, 1));
		}
		q.saddr = HOST1;
		fx_teardown(&fx);
	}
	if (test_subtest("routed inside") && fx_setup(&fx, &fast_opts)) {
		a = udp_spec(HOST1, OUT_RANGE_PORT, HOST4, 53, query);
		frame_build(&in, &a);
		lan_passed_uncounted(&fx, &in);
		fx_teardown(&fx);
	}
	/*
	 * An echo request from a LAN with the gateway's own address as its
	 * source is not the gateway's own: the kernel drops it (a martian
	 * source), and the fast path leaves it to the kernel as it came.
	 */
	if (test_subtest("own source from a LAN") &&
	    fx_setup(&fx, &fast_opts)) {
		a = echo_spec(EXT_ADDR, REMOTE1, ICMP_ECHO, 77);
		frame_build(&in, &a);
		lan_passed_uncounted(&fx, &in);
		fx_teardown(&fx);
	}
	/*
	 * bpf_fib_lookup takes the default route for these, where the
	 * kernel would not forward: multicast (TTL 1, as mDNS sends it, would
	 * be counted a fallback), the limited broadcast, 0/8, a multicast
	 * source. Left to the kernel uncounted, as it came.
	 */
	if (test_subtest("not unicast") && fx_setup(&fx, &fast_opts)) {
		static const struct {
			__be32 saddr, daddr;
			__u8 ttl;
		} rows[] = {
			{ HOST1, IP4(224, 0, 0, 251), 1 },
			{ HOST1, IP4(239, 1, 2, 3), 32 },
			{ HOST1, IP4(255, 255, 255, 255), 64 },
			{ HOST1, IP4(0, 1, 2, 3), 64 },
			{ IP4(224, 0, 0, 9), REMOTE1, 64 },
		};
		size_t i;

		for (i = 0; i < ARRAY_SIZE(rows); i++) {
			a = udp_spec(rows[i].saddr, 5353, rows[i].daddr, 5353,
				     query);
			frame_build(&in, &a);
			frame_ip(&in)->ttl = rows[i].ttl;
			frame_fix_ip_csum(&in);
			test_ctx("row %zu", i);
			if (ASSERT_EQ(fx_fast_lan(&fx, &in, &out),
				      XDP_VERDICT_PASS, "verdict"))
				ASSERT_FRAME_EQ(&out, &in, "passed frame");
		}
		test_ctx(NULL);
		ASSERT_TABLES(&fx, 0, 0);
		/* Every counter zero. */
		ASSERT_STATS(&fx, STAT(FAST_OUT, 0));
		fx_teardown(&fx);
	}
	if (test_subtest("fast path off") && fx_setup(&fx, &fast_opts)) {
		fx.cfg.flags &= ~BPFMASQ_CFG_FAST_PATH;
		if (ASSERT_OK(config_write(&fx.maps, &fx.cfg), "config") &&
		    send_out(&fx, &q, &port)) {
			a = udp_spec(REMOTE1, 53, EXT_ADDR, port, answer);
			frame_build(&in, &a);
			if (ASSERT_EQ(fx_fast_wan(&fx, &in, &out),
				      XDP_VERDICT_PASS, "verdict"))
				ASSERT_EQ(frame_ip(&out)->ttl, 64,
					  "TTL, left to the kernel");
			ASSERT_STAT(&fx, BPFMASQ_STAT_FAST_IN, 0);
		}
		fx_teardown(&fx);
	}
}
