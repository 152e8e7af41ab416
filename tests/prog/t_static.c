// SPDX-License-Identifier: GPL-2.0
/*
 * t_static.c - static NAT (bpfmasq static): HOST1 is STATIC_ADDR, every
 * port and protocol, both ways, with no state. Out: its source becomes
 * STATIC_ADDR, ports and ids unchanged; in: anything to STATIC_ADDR
 * reaches HOST1, unsolicited too (no filtering: that is what 1:1 means);
 * later fragments, other protocols and ICMP errors both ways, whatever
 * they quote; a flow that was masqueraded before the static keeps its
 * mapping; an excluded destination is not translated; what static_add
 * refuses; hairpinning to the outside address; what the checker finds in
 * a broken statics map.
 * No test leaves a session, mapping or owner, and checksums stay right.
 */
#include <errno.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf.h>

#include "bpfmasq.skel.h"
#include "check.h"
#include "scenario.h"
#include "state.h"
#include "static.h"

/* HOST1's outside address: not the masquerade's (EXT_ADDR). */
#define STATIC_ADDR IP4(203, 0, 113, 50)
#define STATIC_ADDR2 IP4(203, 0, 113, 51)

static bool make_static(struct fixture *fx, __be32 inside, __be32 outside)
{
	return ASSERT_OK(static_add(&fx->maps, inside, outside),
			 "static add") &&
	       ASSERT_OK(config_read(&fx->maps, &fx->cfg), "config");
}

/* Nothing stateful was made: the maps a flow would fill are empty. */
static void expect_stateless(struct fixture *fx)
{
	ASSERT_EQ(map_count(fx->maps.sessions), 0, "sessions");
	ASSERT_EQ(map_count(fx->maps.mappings), 0, "mappings");
	expect_check_clean(fx);
}

/*
 * Run @s through the egress (@outbound) or ingress: passed, and byte for
 * byte @s with @addr as its source (out) or destination (in), checksums
 * computed from scratch (a UDP checksum of 0 stays 0).
 */
static bool expect_static(struct fixture *fx, bool outbound,
			  const struct pkt_spec *s, __be32 addr)
{
	struct pkt_spec want = *s;
	struct frame in, out, exp;
	int v;

	if (outbound)
		want.saddr = addr;
	else
		want.daddr = addr;
	frame_build(&in, s);
	frame_build(&exp, &want);
	/* A later fragment's bytes past the IP header are payload, as sent. */
	if (s->frag & PKT_IP_OFFSET) {
		frame_build(&exp, s);
		frame_ip(&exp)->saddr = want.saddr;
		frame_ip(&exp)->daddr = want.daddr;
		frame_fix_ip_csum(&exp);
	}
	v = outbound ? fx_egress(fx, &in, &out) : fx_ingress(fx, &in, &out);
	if (!ASSERT_EQ(v, outbound ? TC_OK : XDP_VERDICT_PASS, "verdict"))
		return false;
	return ASSERT_FRAME_EQ(&out, &exp, "translated");
}

/* TCP both ways: a connection from outside, and one HOST1 opens. */
PROG_TEST(static_tcp, TEST_REPLIES)
{
	struct pkt_spec syn =
		tcp_spec(REMOTE1, 40001, STATIC_ADDR, 22, PKT_TCP_SYN);
	struct pkt_spec sa =
		tcp_spec(HOST1, 22, REMOTE1, 40001, PKT_TCP_SYN | PKT_TCP_ACK);
	struct pkt_spec out = tcp_spec(HOST1, 5000, REMOTE2, 443, PKT_TCP_SYN);
	struct fixture fx;

	if (!fx_setup(&fx, NULL) || !make_static(&fx, HOST1, STATIC_ADDR))
		goto out;
	test_ctx("a SYN from outside");
	expect_static(&fx, false, &syn, HOST1);
	test_ctx("its SYN-ACK");
	expect_static(&fx, true, &sa, STATIC_ADDR);
	test_ctx("HOST1's own SYN");
	expect_static(&fx, true, &out, STATIC_ADDR);
	test_ctx(NULL);
	ASSERT_STATS(&fx, STAT(TRANSLATED_IN, 1), STAT(TRANSLATED_OUT, 2),
		     STAT(STATIC_IN, 1), STAT(STATIC_OUT, 2));
	expect_stateless(&fx);
out:
	fx_teardown(&fx);
}

/* UDP (a zero checksum stays zero) and ICMP echo, ids unchanged. */
PROG_TEST(static_udp_echo, TEST_REPLIES)
{
	struct pkt_spec u = udp_spec(HOST1, 5353, REMOTE1, 53, query);
	struct pkt_spec r = udp_spec(REMOTE1, 53, STATIC_ADDR, 5353, query);
	struct pkt_spec ping = echo_spec(REMOTE1, STATIC_ADDR, ICMP_ECHO, 77);
	struct pkt_spec pong = echo_spec(HOST1, REMOTE1, ICMP_ECHOREPLY, 77);
	struct fixture fx;

	if (!fx_setup(&fx, NULL) || !make_static(&fx, HOST1, STATIC_ADDR))
		goto out;
	test_ctx("UDP out, no checksum");
	u.udp_no_csum = true;
	expect_static(&fx, true, &u, STATIC_ADDR);
	test_ctx("UDP in");
	expect_static(&fx, false, &r, HOST1);
	test_ctx("a ping from outside");
	expect_static(&fx, false, &ping, HOST1);
	test_ctx("HOST1's echo reply");
	expect_static(&fx, true, &pong, STATIC_ADDR);
	test_ctx(NULL);
	ASSERT_STATS(&fx, STAT(TRANSLATED_IN, 2), STAT(TRANSLATED_OUT, 2),
		     STAT(STATIC_IN, 2), STAT(STATIC_OUT, 2));
	expect_stateless(&fx);
out:
	fx_teardown(&fx);
}

/*
 * What the masquerade does not carry, a static does: GRE both ways, and
 * fragments after the first, each on its own (no state to find).
 */
PROG_TEST(static_other_and_fragments, TEST_REPLIES)
{
	static const __u8 gre[] = { 0, 0, 0x08, 0x00 };
	struct pkt_spec g = { .saddr = HOST1,
			      .daddr = REMOTE1,
			      .proto = PKT_PROTO_GRE,
			      .payload = gre,
			      .payload_len = sizeof(gre) };
	struct pkt_spec f = udp_spec(HOST1, 5000, REMOTE1, 53, query);
	struct fixture fx;

	if (!fx_setup(&fx, NULL) || !make_static(&fx, HOST1, STATIC_ADDR))
		goto out;
	test_ctx("GRE out");
	expect_static(&fx, true, &g, STATIC_ADDR);
	test_ctx("GRE in");
	g.saddr = REMOTE1;
	g.daddr = STATIC_ADDR;
	expect_static(&fx, false, &g, HOST1);
	test_ctx("a later fragment out");
	f.frag = 3;
	f.ip_id = 4242;
	expect_static(&fx, true, &f, STATIC_ADDR);
	test_ctx("a later fragment in");
	f.saddr = REMOTE1;
	f.daddr = STATIC_ADDR;
	expect_static(&fx, false, &f, HOST1);
	test_ctx(NULL);
	ASSERT_STATS(&fx, STAT(TRANSLATED_IN, 2), STAT(TRANSLATED_OUT, 2),
		     STAT(STATIC_IN, 2), STAT(STATIC_OUT, 2));
	ASSERT_EQ(map_count(fx.maps.frags), 0, "fragment entries");
	expect_stateless(&fx);
out:
	fx_teardown(&fx);
}

static struct iphdr *quote_ip(struct frame *f)
{
	return (struct iphdr *)((__u8 *)frame_l4(f) + sizeof(struct icmphdr));
}

/*
 * A router's error about @sent, a packet from STATIC_ADDR: it reaches
 * HOST1, the quote's source translated, every checksum right.
 */
static void expect_error_in(struct fixture *fx, const struct pkt_spec *sent,
			    __u8 code)
{
	const struct icmp_error_spec e = { .saddr = ROUTER,
					   .daddr = STATIC_ADDR,
					   .type = ICMP_DEST_UNREACH,
					   .code = code };
	struct frame q, in, out;

	frame_build(&q, sent);
	frame_build_icmp_error(&in, &e, &q);
	if (!ASSERT_EQ(fx_ingress(fx, &in, &out), XDP_VERDICT_PASS,
		       "inbound error: verdict"))
		return;
	ASSERT_CSUMS(&out, "inbound error");
	ASSERT_EQ(frame_ip(&out)->daddr, HOST1, "its destination");
	ASSERT_EQ(quote_ip(&out)->saddr, HOST1, "the quote's source");
	ASSERT_EQ(quote_ip(&out)->daddr, sent->daddr, "the quote's dest");
	ASSERT_EQ(ntohs(quote_ip(&out)->check), ip_csum_compute(quote_ip(&out)),
		  "the quote's IP checksum");
}

/*
 * @host's error about @got, a packet it received from REMOTE1: it leaves
 * from STATIC_ADDR, outer source and quote's destination alike, every
 * checksum right.
 */
static void expect_error_out(struct fixture *fx, const struct pkt_spec *got,
			     __u8 code)
{
	const struct icmp_error_spec e = { .saddr = got->daddr,
					   .daddr = got->saddr,
					   .type = ICMP_DEST_UNREACH,
					   .code = code };
	struct frame q, in, out;

	frame_build(&q, got);
	frame_build_icmp_error(&in, &e, &q);
	if (!ASSERT_EQ(fx_egress(fx, &in, &out), TC_OK,
		       "outbound error: verdict"))
		return;
	ASSERT_CSUMS(&out, "outbound error");
	ASSERT_EQ(frame_ip(&out)->saddr, STATIC_ADDR, "its source");
	ASSERT_EQ(quote_ip(&out)->daddr, STATIC_ADDR,
		  "the quote's destination");
	ASSERT_EQ(quote_ip(&out)->saddr, got->saddr, "the quote's source");
	ASSERT_EQ(ntohs(quote_ip(&out)->check), ip_csum_compute(quote_ip(&out)),
		  "the quote's IP checksum");
}

/*
 * ICMP errors: one from a router about HOST1's packet (to STATIC_ADDR,
 * quoting it) reaches HOST1, the quote's source translated; HOST1's
 * unreachable about a packet from outside leaves with STATIC_ADDR, outer
 * source and quote alike. A quote with no ports (GRE), which only a static
 * can carry, has its addresses translated alone; from a masqueraded host
 * such an error is still dropped.
 */
PROG_TEST(static_icmp_errors, TEST_REPLIES | TEST_SUBTESTS)
{
	static const __u8 gre[] = { 0, 0, 0x08, 0x00, 0x45, 0, 0, 0x14 };
	const struct pkt_spec gre_out = { .saddr = STATIC_ADDR,
					  .daddr = REMOTE1,
					  .proto = PKT_PROTO_GRE,
					  .payload = gre,
					  .payload_len = sizeof(gre) };
	const struct {
		const char *name;
		struct pkt_spec sent, got;
		__u8 code_in, code_out;
	} rows[] = {
		{ "udp", udp_spec(STATIC_ADDR, 5000, REMOTE1, 53, query),
		  udp_spec(REMOTE1, 53, HOST1, 5000, query), ICMP_HOST_UNREACH,
		  ICMP_PORT_UNREACH },
		{ "gre", gre_out, gre_out, ICMP_FRAG_NEEDED,
		  ICMP_PROT_UNREACH },
	};
	struct pkt_spec got;
	struct fixture fx;
	struct frame in, out, q;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(rows); i++) {
		bool gre_row = rows[i].sent.proto == PKT_PROTO_GRE;
		struct icmp_error_spec e;

		if (!test_subtest("%s", rows[i].name))
			continue;
		if (!fx_setup(&fx, NULL) ||
		    !make_static(&fx, HOST1, STATIC_ADDR))
			goto next;
		expect_error_in(&fx, &rows[i].sent, rows[i].code_in);
		got = rows[i].got;
		if (gre_row) {
			got.saddr = REMOTE1;
			got.daddr = HOST1;
		}
		expect_error_out(&fx, &got, rows[i].code_out);
		if (gre_row) {
			/* HOST2 has no static: it would leak its address. */
			got.daddr = HOST2;
			e = (struct icmp_error_spec){
				.saddr = HOST2,
				.daddr = REMOTE1,
				.type = ICMP_DEST_UNREACH,
				.code = ICMP_PROT_UNREACH
			};
			frame_build(&q, &got);
			frame_build_icmp_error(&in, &e, &q);
			ASSERT_EQ(fx_egress(&fx, &in, &out), TC_SHOT,
				  "a masqueraded host's error: verdict");
		}
		ASSERT_STATS(&fx, STAT(TRANSLATED_IN, 1),
			     STAT(TRANSLATED_OUT, 1), STAT(STATIC_IN, 1),
			     STAT(STATIC_OUT, 1),
			     STAT(UNSUPPORTED, gre_row ? 1 : 0));
		expect_stateless(&fx);
	next:
		fx_teardown(&fx);
	}
}

/*
 * A flow HOST1 began before its static keeps its mapping (its remote
 * knows it by EXT_ADDR) until it ends; its next flow is static. Another
 * host is masqueraded as ever, and a destination in --exclude is not
 * translated at all.
 */
PROG_TEST(static_beside_masquerade, TEST_REPLIES)
{
	const struct cidr ex_net = { IP4(192, 0, 2, 0), 24 };
	struct pkt_spec old = udp_spec(HOST1, 5000, REMOTE1, 53, query);
	struct pkt_spec next = udp_spec(HOST1, 5001, REMOTE1, 53, query);
	struct pkt_spec other = udp_spec(HOST2, 5000, REMOTE1, 53, query);
	struct pkt_spec ex =
		udp_spec(HOST1, 5002, IP4(192, 0, 2, 99), 53, query);
	struct fixture fx;
	__u16 ext = 0;

	if (!fx_setup(&fx, NULL) || !send_out(&fx, &old, &ext) ||
	    !make_static(&fx, HOST1, STATIC_ADDR))
		goto out;
	test_ctx("the flow from before");
	send_out(&fx, &old, &ext);
	send_in(&fx,
		&(struct pkt_spec){ .saddr = REMOTE1,
				    .sport = 53,
				    .daddr = EXT_ADDR,
				    .dport = ext,
				    .proto = IPPROTO_UDP },
		HOST1, 5000);
	test_ctx("its next flow");
	expect_static(&fx, true, &next, STATIC_ADDR);
	test_ctx("another host's");
	send_out(&fx, &other, &ext);
	test_ctx("to an excluded prefix");
	if (ASSERT_OK(lpm_set(fx.maps.excluded_nets, &ex_net, 1), "exclude"))
		expect_untouched_spec(&fx, true, &ex, TC_OK);
	test_ctx(NULL);
	ASSERT_STATS(&fx, STAT(TRANSLATED_IN, 1), STAT(TRANSLATED_OUT, 4),
		     STAT(STATIC_OUT, 1), STAT(NEW_MAPPING, 2),
		     STAT(NEW_SESSION, 2), STAT(EXCLUDED, 1));
	expect_check_clean(&fx);
out:
	fx_teardown(&fx);
}

/*
 * What static_add refuses, each leaving the map as it was: the masquerade's
 * address, an address on both sides, either address twice, an address
 * that is not inside. Deleted, the static translates nothing and the
 * config flag is clear again.
 */
/* .fast, none forwarded: the one packet is left to the kernel. */
PROG_TEST(static_refused, TEST_FAST_NONE)
{
	struct pkt_spec syn =
		tcp_spec(REMOTE1, 40001, STATIC_ADDR, 22, PKT_TCP_SYN);
	struct fixture fx;

	if (!fx_setup(&fx, NULL))
		goto out;
	ASSERT_EQ(static_add(&fx.maps, HOST1, EXT_ADDR), -EADDRINUSE,
		  "outside is the masquerade's address");
	ASSERT_EQ(static_add(&fx.maps, HOST1, HOST1), -EINVAL,
		  "inside is outside");
	ASSERT_EQ(static_add(&fx.maps, OUTSIDER, STATIC_ADDR), -EINVAL,
		  "inside is not inside");
	if (!make_static(&fx, HOST1, STATIC_ADDR))
		goto out;
	ASSERT_EQ(static_add(&fx.maps, HOST1, STATIC_ADDR2), -EEXIST,
		  "inside twice");
	ASSERT_EQ(static_add(&fx.maps, HOST2, STATIC_ADDR), -EEXIST,
		  "outside twice");
	ASSERT_EQ(map_count(fx.maps.statics), 2, "entries: one static's");
	expect_check_clean(&fx);
	ASSERT_EQ(static_del(&fx.maps, HOST1, STATIC_ADDR2), -ENOENT,
		  "del with another outside address");
	ASSERT_OK(static_del(&fx.maps, HOST1, 0), "del");
	ASSERT_EQ(static_del(&fx.maps, HOST1, 0), -ENOENT, "del again");
	ASSERT_OK(config_read(&fx.maps, &fx.cfg), "config");
	ASSERT_EQ(fx.cfg.flags & BPFMASQ_CFG_STATICS, 0, "flag STATICS");
	test_ctx("a SYN to the address once the static is gone");
	expect_untouched_spec(&fx, false, &syn, XDP_VERDICT_PASS);
	test_ctx(NULL);
	expect_stateless(&fx);
out:
	fx_teardown(&fx);
}

/* What check finds when the map is no bijection, or the flag is wrong. */
/* Not .fast: it sends no packet. */
PROG_TEST(static_check, TEST_NO_FAST)
{
	struct bpfmasq_static_key k = { .addr = HOST2,
					.dir = BPFMASQ_STATIC_OUT };
	struct bpfmasq_static v = { .addr = STATIC_ADDR2 };
	struct fixture fx;

	if (!fx_setup(&fx, NULL) || !make_static(&fx, HOST1, STATIC_ADDR))
		goto out;
	expect_check_clean(&fx);
	if (!ASSERT_OK(bpf_map_update_elem(fx.maps.statics, &k, &v, 0),
		       "an entry without its pair"))
		goto out;
	expect_check_finds(&fx, CHECK_STATIC_UNPAIRED);
	bpf_map_delete_elem(fx.maps.statics, &k);
	fx.cfg.flags &= ~BPFMASQ_CFG_STATICS;
	if (!ASSERT_OK(config_write(&fx.maps, &fx.cfg), "flag cleared"))
		goto out;
	expect_check_finds(&fx, CHECK_STATIC_FLAG);
out:
	fx_teardown(&fx);
}

static const struct fx_opts hairpin_opts = { .fast_path = true,
					     .hairpin = true };

/*
 * HOST2 connects to STATIC_ADDR:22 from the LAN: it reaches HOST1:22 from
 * HOST2's mapping, and HOST1's answer reaches HOST2 from STATIC_ADDR.
 */
/* Not .fast: runs the hairpin program by hand, beside the fast path. */
PROG_TEST(static_hairpin, TEST_NO_FAST)
{
	struct pkt_spec syn =
		tcp_spec(HOST2, 5000, STATIC_ADDR, 22, PKT_TCP_SYN);
	struct pkt_spec sa;
	struct frame in, out;
	struct fixture fx;
	__u16 port;

	if (!fx_setup(&fx, &hairpin_opts) ||
	    !make_static(&fx, HOST1, STATIC_ADDR))
		goto out;
	frame_build(&in, &syn);
	if (!ASSERT_EQ(fx_prog_run(fx.skel->progs.bpfmasq_hairpin,
				   fast_lan_ifindex, &in, &out),
		       TC_ACT_REDIRECT, "the SYN: redirected"))
		goto out;
	ASSERT_CSUMS(&out, "the SYN");
	ASSERT_EQ(frame_ip(&out)->saddr, EXT_ADDR, "its source: HOST2's map");
	ASSERT_EQ(frame_ip(&out)->daddr, HOST1, "its destination");
	ASSERT_EQ(frame_dport(&out), 22, "its destination port");
	port = frame_sport(&out);
	sa = tcp_spec(HOST1, 22, EXT_ADDR, port, PKT_TCP_SYN | PKT_TCP_ACK);
	frame_build(&in, &sa);
	if (!ASSERT_EQ(fx_prog_run(fx.skel->progs.bpfmasq_hairpin,
				   fast_lan_ifindex, &in, &out),
		       TC_ACT_REDIRECT, "the SYN-ACK: redirected"))
		goto out;
	ASSERT_CSUMS(&out, "the SYN-ACK");
	ASSERT_EQ(frame_ip(&out)->saddr, STATIC_ADDR, "its source");
	ASSERT_EQ(frame_sport(&out), 22, "its source port");
	ASSERT_EQ(frame_ip(&out)->daddr, HOST2, "its destination");
	ASSERT_EQ(frame_dport(&out), 5000, "its destination port");
	ASSERT_STATS(&fx, STAT(HAIRPINNED, 2), STAT(STATIC_IN, 1),
		     STAT(STATIC_OUT, 1), STAT(NEW_MAPPING, 1),
		     STAT(NEW_SESSION, 1));
	expect_check_clean(&fx);
out:
	fx_teardown(&fx);
}
