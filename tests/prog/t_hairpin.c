// SPDX-License-Identifier: GPL-2.0
/*
 * t_hairpin.c - hairpinning (bpf/hairpin.h, RFC 4787 REQ-9, RFC 5382
 * REQ-8), through the TC ingress program of a --hairpin LAN interface, in
 * the fast path's namespace (harness.h), whose routes bpf_fib_lookup
 * reads: HOST1 reaches a forward to HOST2, and another host's mapping
 * under endpoint-independent filtering; each side sees the other's
 * external endpoint; the answer goes back the same way. What is not
 * hairpinned is left to the kernel untouched, uncounted: a port nobody
 * holds (the gateway's own services), another destination. A mapping that
 * filters the caller drops the packet, counted.
 */
#include <linux/pkt_cls.h>

#include "bpfmasq.skel.h"
#include "clock.h"
#include "forward.h"
#include "scenario.h"

static const struct fx_opts hairpin_opts = { .fast_path = true,
					     .hairpin = true };
static const struct fx_opts hairpin_eif = {
	.fast_path = true,
	.hairpin = true,
	.filtering = BPFMASQ_FILTER_INDEPENDENT
};

#define HP_PORT 2222

static int fx_hairpin(struct fixture *fx, const struct frame *in,
		      struct frame *out)
{
	return fx_prog_run(fx->skel->progs.bpfmasq_hairpin, fast_lan_ifindex,
			   in, out);
}

/*
 * Send @s in from the LAN: it must be redirected, from the external address
 * and *@sport (or @want_sport when it is not 0), to @daddr:@dport, its TTL
 * one less and its checksums right.
 */
static bool hairpinned(struct fixture *fx, const struct pkt_spec *s,
		       __be32 daddr, __u16 dport, __u16 want_sport,
		       __u16 *sport)
{
	struct frame in, out;

	frame_build(&in, s);
	if (!ASSERT_EQ(fx_hairpin(fx, &in, &out), TC_ACT_REDIRECT,
		       "verdict: redirected"))
		return false;
	ASSERT_CSUMS(&out, "hairpinned");
	ASSERT_EQ(frame_ip(&out)->ttl, 63, "TTL, one hop on");
	ASSERT_EQ(frame_ip(&out)->saddr, EXT_ADDR, "source address");
	ASSERT_EQ(frame_ip(&out)->daddr, daddr, "destination address");
	ASSERT_EQ(frame_dport(&out), dport, "destination port");
	*sport = frame_sport(&out);
	return !want_sport || ASSERT_EQ(*sport, want_sport, "source port");
}

/*
 * HOST1 connects to the forward of HP_PORT (to HOST2:22) by the external
 * address: HOST2 sees HOST1's mapping, and its SYN-ACK reaches HOST1 from
 * the forwarded port.
 */
/* Not .fast: runs the hairpin program by hand, beside the fast path. */
PROG_TEST(hairpin_forward, TEST_NO_FAST)
{
	struct forward_spec spec = { .proto = IPPROTO_TCP,
				     .lo = HP_PORT,
				     .hi = HP_PORT,
				     .inside_addr = HOST2,
				     .inside_port = 22 };
	struct pkt_spec syn =
		tcp_spec(HOST1, 5000, EXT_ADDR, HP_PORT, PKT_TCP_SYN);
	struct pkt_spec sa;
	struct bpfmasq_mapping m;
	struct gc_result res;
	struct fixture fx;
	__u16 pa = 0, back = 0;

	if (!fx_setup(&fx, &hairpin_opts) ||
	    !ASSERT_OK(forward_add(&fx.maps, &spec), "forward add") ||
	    !ASSERT_OK(gc_forwards_now(&fx.maps, now_boot_ns(), &res),
		       "forward in effect"))
		goto out;
	test_ctx("SYN");
	if (!hairpinned(&fx, &syn, HOST2, 22, 0, &pa))
		goto out;
	if (ASSERT_OK(fx_mapping(&fx, HOST1, 5000, IPPROTO_TCP, &m),
		      "the caller's mapping"))
		ASSERT_EQ(ntohs(m.ext_port), pa,
			  "HOST2 sees HOST1's external port");
	sa = tcp_spec(HOST2, 22, EXT_ADDR, pa, PKT_TCP_SYN | PKT_TCP_ACK);
	test_ctx("SYN-ACK");
	hairpinned(&fx, &sa, HOST1, 5000, HP_PORT, &back);
	test_ctx(NULL);
	ASSERT_STATS(&fx, STAT(HAIRPINNED, 2), STAT(NEW_MAPPING, 1),
		     STAT(NEW_SESSION, 2), STAT(FORWARD_OPEN, 1));
	expect_check_clean(&fx);
out:
	fx_teardown(&fx);
}

/*
 * HOST1 to HOST2's endpoint-independent mapping, made by HOST2's flow to a
 * remote: it gets there under endpoint-independent filtering; under the
 * default filtering, HOST2 never sent to HOST1's external endpoint, so the
 * packet is dropped (hairpin_refused).
 */
static void hairpin_mapping(const struct fx_opts *opts, bool open)
{
	struct pkt_spec q = udp_spec(HOST2, 6000, REMOTE1, 53, query);
	struct pkt_spec h;
	struct frame in, out;
	struct fixture fx;
	__u16 pb = 0, pa = 0;

	if (!setup_flow(&fx, opts, &q, &pb))
		goto out;
	h = udp_spec(HOST1, 5000, EXT_ADDR, pb, query);
	test_ctx("to HOST2's mapping");
	if (open) {
		hairpinned(&fx, &h, HOST2, 6000, 0, &pa);
		ASSERT_STATS(&fx, STAT(TRANSLATED_OUT, 1), STAT(HAIRPINNED, 1),
			     STAT(NEW_MAPPING, 2), STAT(NEW_SESSION, 3));
	} else {
		frame_build(&in, &h);
		ASSERT_EQ(fx_hairpin(&fx, &in, &out), TC_ACT_SHOT,
			  "verdict: dropped");
		ASSERT_STATS(&fx, STAT(TRANSLATED_OUT, 1),
			     STAT(HAIRPIN_REFUSED, 1), STAT(NEW_MAPPING, 2),
			     STAT(NEW_SESSION, 2));
	}
	test_ctx(NULL);
	expect_check_clean(&fx);
out:
	fx_teardown(&fx);
}

PROG_TEST(hairpin_mapping_independent, 0)
{
	hairpin_mapping(&hairpin_eif, true);
}

PROG_TEST(hairpin_mapping_dependent, 0)
{
	hairpin_mapping(&hairpin_opts, false);
}

/*
 * Not hairpinned, left to the kernel as it came and uncounted: a port of
 * the external address nobody holds (the gateway's own service), a packet
 * to elsewhere, the gateway's own address pinged.
 */
/* Not .fast: runs the hairpin program by hand, beside the fast path. */
PROG_TEST(hairpin_not_ours, TEST_NO_FAST)
{
	struct pkt_spec s[] = {
		tcp_spec(HOST1, 5000, EXT_ADDR, 22, PKT_TCP_SYN),
		udp_spec(HOST1, 5000, REMOTE1, 53, query),
		echo_spec(HOST1, EXT_ADDR, 8, 77),
	};
	struct frame in, out;
	struct fixture fx;
	size_t i;

	if (!fx_setup(&fx, &hairpin_opts))
		goto out;
	for (i = 0; i < ARRAY_SIZE(s); i++) {
		test_ctx("packet %zu", i);
		frame_build(&in, &s[i]);
		if (ASSERT_EQ(fx_hairpin(&fx, &in, &out), TC_ACT_OK, "verdict"))
			ASSERT_FRAME_EQ(&out, &in, "passed frame");
	}
	test_ctx(NULL);
	ASSERT_TABLES(&fx, 0, 0);
	ASSERT_STATS(&fx, STAT(HAIRPINNED, 0));
out:
	fx_teardown(&fx);
}
