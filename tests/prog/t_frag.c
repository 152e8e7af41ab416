// SPDX-License-Identifier: GPL-2.0
/*
 * t_frag.c - IP fragments: later fragments out, a datagram in two fragments
 * each way, later fragments whose first one was not seen or is too old, and
 * the collection of old first fragments.
 */
#include <bpf/bpf.h>

#include "scenario.h"

static const __u8 frag_data[] = "0123456789abcdefghijklmnopqrstuvwxyzABCDEF";

/* A later fragment from inside: only the source address changes. */
/* .fast, none forwarded: fragments take the kernel's path. */
PROG_TEST(frag_out_later, TEST_FAST_NONE)
{
	struct pkt_spec s = { .saddr = HOST1,
			      .daddr = REMOTE1,
			      .proto = IPPROTO_UDP,
			      .frag = 3,
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
/* .fast, none forwarded: fragments take the kernel's path. */
PROG_TEST(frag_out_datagram, TEST_FAST_NONE)
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
PROG_TEST(frag_in_follow, TEST_REPLIES)
{
	struct pkt_spec q = udp_spec(HOST1, OUT_RANGE_PORT, REMOTE1, 53, query);
	__u8 l4[FRAME_MAX], want_l4[FRAME_MAX], joined[FRAME_MAX];
	struct frame in1, in2, out1, out2, exp;
	struct pkt_spec a, want;
	struct fixture fx;
	size_t len, l1;
	__u16 port;
	__be16 check;

	if (!setup_flow(&fx, NULL, &q, &port))
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

/*
 * Later fragments whose first fragment was not seen are left alone; so are
 * those that come after the kernel's reassembly timeout: by then the id may
 * belong to another datagram.
 */
PROG_TEST(frag_in_unmatched, TEST_REPLIES | TEST_SUBTESTS)
{
	static const struct {
		const char *name;
		__be32 saddr;
		__u16 ip_id;
		__u64 age_s; /* of the first fragment */
	} rows[] = {
		{ "no first fragment", REMOTE1, 0x9999, 0 },
		{ "other source, same id", REMOTE2, 0x7777, 0 },
		{ "first fragment past the reassembly timeout", REMOTE1, 0x7777,
		  BPFMASQ_FRAG_TIMEOUT_S + 1 },
	};
	struct bpfmasq_frag_key fk = { .saddr = REMOTE1,
				       .daddr = EXT_ADDR,
				       .id = htons(0x7777),
				       .proto = IPPROTO_UDP };
	struct pkt_spec q = udp_spec(HOST1, OUT_RANGE_PORT, REMOTE1, 53, query);
	struct pkt_spec a;
	struct frame first, out, later;
	struct fixture fx;
	__u8 l4[FRAME_MAX];
	__u16 port;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(rows); i++) {
		if (!test_subtest("%s", rows[i].name))
			continue;
		if (!setup_flow(&fx, NULL, &q, &port))
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
		if (rows[i].age_s && !frag_age(&fx, &fk, rows[i].age_s))
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

/*
 * The daemon forgets first fragments past the reassembly timeout, and only
 * those: the flow and a recent datagram's fragments stay.
 */
PROG_TEST(frag_gc, 0)
{
	struct pkt_spec q = udp_spec(HOST1, OUT_RANGE_PORT, REMOTE1, 53, query);
	struct bpfmasq_frag_key fk = { .saddr = REMOTE1,
				       .daddr = EXT_ADDR,
				       .proto = IPPROTO_UDP };
	struct bpfmasq_frag f;
	struct gc_result res;
	struct frame in, out;
	struct fixture fx;
	struct pkt_spec a;
	__u8 l4[FRAME_MAX];
	__u16 port, id;

	if (!setup_flow(&fx, NULL, &q, &port))
		goto out;
	a = udp_spec(REMOTE1, 53, EXT_ADDR, port, (const char *)frag_data);
	a.frag = PKT_IP_MF;
	l4_build(&a, l4);
	for (id = 1; id <= 2; id++) {
		a.ip_id = id;
		frame_wrap(&in, &a, l4, 24);
		if (!ASSERT_EQ(fx_ingress(&fx, &in, &out), XDP_VERDICT_PASS,
			       "first fragment verdict"))
			goto out;
	}
	fk.id = htons(1);
	if (!frag_age(&fx, &fk, BPFMASQ_FRAG_TIMEOUT_S))
		goto out;
	if (!ASSERT_OK(gc_pass(&fx.maps, now_boot_ns(), &res), "gc_pass"))
		goto out;
	ASSERT_EQ(res.frags_expired, 1, "fragment entries expired");
	ASSERT_EQ(res.sessions_expired, 0, "sessions expired");
	ASSERT_EQ(map_count(fx.maps.frags), 1, "frags entries left");
	fk.id = htons(2);
	ASSERT_OK(bpf_map_lookup_elem(fx.maps.frags, &fk, &f) ? -errno : 0,
		  "the recent datagram's entry");
	ASSERT_TABLES(&fx, 1, 1);
out:
	fx_teardown(&fx);
}
