// SPDX-License-Identifier: GPL-2.0
/*
 * t_malformed.c - malformed input: each broken header, outbound and as a reply
 * to a live flow, is dropped and counted without touching any state.
 */
#include "scenario.h"

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

/* .fast, none forwarded: malformed, never translated. */
PROG_TEST(malformed_out, TEST_SUBTESTS | TEST_FAST_NONE)
{
	const struct malformed_case *c;
	struct pkt_spec s;
	struct frame f;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(malformed_cases); i++) {
		c = &malformed_cases[i];
		if (c->in_only)
			continue;
		if (!test_subtest("%s", c->name))
			continue;
		s = flow_spec(c->proto, true);
		frame_build(&f, &s);
		c->mangle(&f);
		expect_ignored_fresh(NULL, true, &f, TC_SHOT,
				     BPFMASQ_STAT_MALFORMED);
	}
}

/* Malformed replies to a live flow: dropped, the flow not touched. */
PROG_TEST(malformed_in, TEST_REPLIES | TEST_SUBTESTS)
{
	const struct malformed_case *c;
	struct bpfmasq_session sess;
	struct pkt_spec s;
	struct fixture fx;
	struct frame f;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(malformed_cases); i++) {
		c = &malformed_cases[i];
		if (c->in_only && fx_ingress_tc())
			continue;
		if (!test_subtest("%s", c->name))
			continue;
		s = flow_spec(c->proto, true);
		if (!setup_flow(&fx, NULL, &s, NULL))
			goto next;
		s = flow_spec(c->proto, false);
		frame_build(&f, &s);
		c->mangle(&f);
		expect_ignored(&fx, false, &f, XDP_VERDICT_DROP,
			       BPFMASQ_STAT_MALFORMED);
		if (ASSERT_OK(fx_session(&fx, HOST1, IN_RANGE_PORT, REMOTE1,
					 c->proto == IPPROTO_ICMP ? 0 : 80,
					 c->proto, &sess),
			      "session"))
			ASSERT_EQ(sess.packets_in, 0, "packets_in");
	next:
		fx_teardown(&fx);
	}
}
