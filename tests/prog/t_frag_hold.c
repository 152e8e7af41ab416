// SPDX-License-Identifier: GPL-2.0
/*
 * t_frag_hold.c - fragments from outside that come before their first one
 * (RFC 4787 REQ-14): handed whole to the daemon and dropped while one runs,
 * left to the stack when none does; the first fragment settles where the
 * datagram goes and says so; the daemon's hold sends what it held on to
 * the inside host, or to the gateway itself; and a second first fragment
 * never moves a datagram to another host.
 */
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "frag.h"
#include "scenario.h"

static const char frag_data[] = "0123456789abcdefghijklmnopqrstuvwxyzABCDEF";

#define MAX_RECS 64

/* What the ring held, and what the daemon's hold sent on. */
struct capture {
	struct frag_hold *hold; /* if set, every record goes to it too */
	int held, settled;
	struct bpfmasq_frag_event ev[MAX_RECS];
	int sent;
	__u8 pkt[4][BPFMASQ_FRAG_HOLD_BYTES];
	size_t len[4];
	__be32 dst[4];
};

static int capture_send(void *ctx, const __u8 *pkt, size_t len, __be32 dst)
{
	struct capture *c = ctx;

	if (c->sent < 4) {
		memcpy(c->pkt[c->sent], pkt, len);
		c->len[c->sent] = len;
		c->dst[c->sent] = dst;
	}
	c->sent++;
	return 0;
}

static int capture_record(void *ctx, void *data, size_t size)
{
	struct capture *c = ctx;
	const struct bpfmasq_frag_event *ev = data;
	int n = c->held + c->settled;

	if (n < MAX_RECS)
		c->ev[n] = *ev;
	if (ev->type == BPFMASQ_FRAG_EV_HELD)
		c->held++;
	else
		c->settled++;
	if (c->hold)
		frag_hold_event(c->hold, data, size, now_boot_ns());
	return 0;
}

/* Read every record in the ring into @c. */
static bool ring_read(struct fixture *fx, struct capture *c)
{
	struct ring_buffer *rb;
	int err;

	rb = ring_buffer__new(fx->maps.frag_events, capture_record, c, NULL);
	if (!ASSERT_TRUE(rb, "frag_events ring"))
		return false;
	err = ring_buffer__consume(rb);
	ring_buffer__free(rb);
	return ASSERT_TRUE(err >= 0, "reading the ring");
}

/* The daemon's heartbeat, as `run` writes it: 0 is "no daemon". */
static bool daemon_beat(struct fixture *fx, __u64 alive_ns)
{
	struct bpfmasq_daemon d = { .alive_ns = alive_ns, .pid = 1 };
	__u32 zero = 0;

	return ASSERT_OK(
		bpf_map_update_elem(fx->maps.daemon, &zero, &d, BPF_ANY)
			? -errno
			: 0,
		"daemon heartbeat");
}

/* The frags key of @a's datagram. */
static struct bpfmasq_frag_key spec_frag_key(const struct pkt_spec *a)
{
	return (struct bpfmasq_frag_key){ .saddr = a->saddr,
					  .daddr = a->daddr,
					  .id = htons(a->ip_id),
					  .proto = a->proto };
}

/* Where @a's datagram goes, as its frags entry says; -1 with none. */
static __be32 frag_inside(struct fixture *fx, const struct pkt_spec *a)
{
	struct bpfmasq_frag_key fk = spec_frag_key(a);
	struct bpfmasq_frag f;

	if (bpf_map_lookup_elem(fx->maps.frags, &fk, &f))
		return (__be32)-1;
	return f.inside_addr;
}

/*
 * The three fragments of UDP datagram @a: its L4 bytes in @l4 (returned
 * length), 16 bytes at offset 0 and 2 (8-byte units), the rest at 4.
 */
static size_t three_fragments(struct pkt_spec *a, __u8 *l4, struct frame f[3])
{
	size_t len = l4_build(a, l4);

	a->frag = PKT_IP_MF;
	frame_wrap(&f[0], a, l4, 16);
	a->frag = PKT_IP_MF | 2;
	frame_wrap(&f[1], a, l4 + 16, 16);
	a->frag = 4;
	frame_wrap(&f[2], a, l4 + 32, len - 32);
	a->frag = 0;
	return len;
}

/* @pkt, a fragment sent on, is @in's IP packet to @dst one hop on. */
static void expect_sent_on(const __u8 *pkt, size_t len, struct frame *in,
			   __be32 dst, const char *what)
{
	struct iphdr *want = frame_ip(in);
	struct frame got = { .len = in->len };

	test_ctx("%s", what);
	if (!ASSERT_EQ(len, ntohs(want->tot_len), "length sent"))
		goto out;
	memcpy(got.data, in->data, sizeof(struct ethhdr));
	memcpy(frame_ip(&got), pkt, len);
	ASSERT_CSUMS(&got, "sent on");
	ASSERT_EQ(frame_ip(&got)->daddr, dst, "destination");
	ASSERT_EQ(frame_ip(&got)->ttl, want->ttl - (dst != want->daddr), "TTL");
	ASSERT_EQ(frame_ip(&got)->id, want->id, "IP id");
	ASSERT_EQ(frame_ip(&got)->frag_off, want->frag_off, "fragment offset");
	ASSERT_TRUE(!memcmp(frame_l4(&got), frame_l4(in), len - 20),
		    "payload unchanged");
out:
	test_ctx(NULL);
}

/*
 * A reply datagram in three fragments, last first: the two later ones are
 * handed to the daemon and dropped, the datagram's entry waits; the first
 * one is translated, settles the entry and says so. The daemon's hold then
 * sends both on to the inside host, and the datagram they make with the
 * translated first fragment checks out for the inside endpoint.
 */
PROG_TEST(frag_hold_early, TEST_REPLIES)
{
	struct pkt_spec q = udp_spec(HOST1, OUT_RANGE_PORT, REMOTE1, 53, query);
	__u8 l4[FRAME_MAX], joined[FRAME_MAX];
	struct capture c = {};
	struct frame in[3], out;
	struct pkt_spec a;
	struct fixture fx;
	size_t len, l0;
	__u16 port;
	__be16 check;

	if (!setup_flow(&fx, NULL, &q, &port) ||
	    !daemon_beat(&fx, now_boot_ns()))
		goto out;
	c.hold = frag_hold_new(capture_send, &c);
	if (!ASSERT_TRUE(c.hold, "hold"))
		goto out;
	a = udp_spec(REMOTE1, 53, EXT_ADDR, port, frag_data);
	a.ip_id = 0x4242;
	len = three_fragments(&a, l4, in);

	ASSERT_EQ(fx_ingress(&fx, &in[2], &out), XDP_VERDICT_DROP,
		  "last fragment, first: held");
	ASSERT_EQ(fx_ingress(&fx, &in[1], &out), XDP_VERDICT_DROP,
		  "middle fragment: held");
	ASSERT_EQ(frag_inside(&fx, &a), 0, "the datagram waits");
	if (!ASSERT_EQ(fx_ingress(&fx, &in[0], &out), XDP_VERDICT_PASS,
		       "first fragment"))
		goto out;
	ASSERT_EQ(frame_ip(&out)->daddr, HOST1, "first fragment's destination");
	ASSERT_EQ(frag_inside(&fx, &a), HOST1, "the datagram settled");
	ASSERT_STATS(&fx, STAT(TRANSLATED_OUT, 1), STAT(TRANSLATED_IN, 1),
		     STAT(NEW_MAPPING, 1), STAT(NEW_SESSION, 1),
		     STAT(FRAG_HELD, 2));

	if (!ring_read(&fx, &c))
		goto out;
	ASSERT_EQ(c.held, 2, "HELD records");
	ASSERT_EQ(c.settled, 1, "SETTLED records");
	ASSERT_EQ(c.ev[2].type, BPFMASQ_FRAG_EV_SETTLED, "the last record");
	ASSERT_EQ(c.ev[2].inside_addr, HOST1, "settled to");
	ASSERT_EQ(c.ev[2].dgram.id, htons(0x4242), "settled datagram's id");
	ASSERT_EQ(frag_hold_count(c.hold), 0, "held after the settling");
	if (!ASSERT_EQ(c.sent, 2, "fragments sent on"))
		goto out;
	expect_sent_on(c.pkt[0], c.len[0], &in[2], HOST1, "last fragment");
	expect_sent_on(c.pkt[1], c.len[1], &in[1], HOST1, "middle fragment");
	ASSERT_EQ(c.dst[0], HOST1, "sent to");

	/* The receiver's reassembly: the UDP checksum of the whole. */
	l0 = frame_l4_len(&out);
	memcpy(joined, frame_l4(&out), l0);
	memcpy(joined + l0, c.pkt[1] + 20, c.len[1] - 20);
	memcpy(joined + l0 + c.len[1] - 20, c.pkt[0] + 20, c.len[0] - 20);
	memcpy(&check, joined + 6, 2);
	if (ASSERT_EQ(l0 + c.len[1] + c.len[0] - 40, len, "reassembled length"))
		ASSERT_EQ(ntohs(check),
			  l4_csum_compute(REMOTE1, HOST1, IPPROTO_UDP, joined,
					  len),
			  "reassembled UDP checksum");
out:
	frag_hold_free(c.hold);
	fx_teardown(&fx);
}

/*
 * With no daemon to hold them (none ever, or its heartbeat stopped), early
 * fragments go to the gateway's stack untouched, as before.
 */
PROG_TEST(frag_hold_needs_daemon, TEST_REPLIES | TEST_SUBTESTS)
{
	static const struct {
		const char *name;
		__u64 ago_ns; /* of the last heartbeat; 0: none */
	} rows[] = {
		{ "no daemon", 0 },
		{ "its heartbeat stopped",
		  (BPFMASQ_DAEMON_ALIVE_S + 1) * NS_PER_S },
	};
	struct pkt_spec q = udp_spec(HOST1, OUT_RANGE_PORT, REMOTE1, 53, query);
	__u8 l4[FRAME_MAX];
	struct frame in[3];
	struct pkt_spec a;
	struct capture c;
	struct fixture fx;
	__u16 port;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(rows); i++) {
		if (!test_subtest("%s", rows[i].name))
			continue;
		memset(&c, 0, sizeof(c));
		if (!setup_flow(&fx, NULL, &q, &port) ||
		    !daemon_beat(&fx, rows[i].ago_ns
					      ? now_boot_ns() - rows[i].ago_ns
					      : 0))
			goto next;
		a = udp_spec(REMOTE1, 53, EXT_ADDR, port, frag_data);
		a.ip_id = 0x4343;
		three_fragments(&a, l4, in);
		expect_untouched(&fx, false, &in[2], XDP_VERDICT_PASS);
		ASSERT_EQ(map_count(fx.maps.frags), 0, "frags entries");
		if (ring_read(&fx, &c))
			ASSERT_EQ(c.held + c.settled, 0, "records");
		ASSERT_STATS(&fx, STAT(TRANSLATED_OUT, 1), STAT(NEW_MAPPING, 1),
			     STAT(NEW_SESSION, 1), STAT(FRAGMENT, 1));
	next:
		fx_teardown(&fx);
	}
}

/*
 * A datagram for the gateway itself (a port no flow has), its later
 * fragment first: held too; the first fragment goes to the stack and
 * settles the datagram there, and the hold sends the held one to the
 * gateway's own address, unchanged. A fragment after that goes to the
 * stack at once.
 */
/* .fast, none forwarded: fragments, for the gateway itself. */
PROG_TEST(frag_hold_to_gateway, TEST_REPLIES | TEST_FAST_NONE)
{
	struct pkt_spec a =
		udp_spec(REMOTE1, 53, EXT_ADDR, OUT_RANGE_PORT, frag_data);
	__u8 l4[FRAME_MAX];
	struct capture c = {};
	struct frame in[3], out;
	struct fixture fx;

	if (!fx_setup(&fx, NULL) || !daemon_beat(&fx, now_boot_ns()))
		goto out;
	c.hold = frag_hold_new(capture_send, &c);
	if (!ASSERT_TRUE(c.hold, "hold"))
		goto out;
	a.ip_id = 0x4444;
	three_fragments(&a, l4, in);
	ASSERT_EQ(fx_ingress(&fx, &in[1], &out), XDP_VERDICT_DROP,
		  "middle fragment, first: held");
	expect_untouched(&fx, false, &in[0], XDP_VERDICT_PASS);
	ASSERT_EQ(frag_inside(&fx, &a), EXT_ADDR, "settled to the gateway");
	expect_untouched(&fx, false, &in[2], XDP_VERDICT_PASS);
	ASSERT_STATS(&fx, STAT(FRAG_HELD, 1), STAT(NOT_OURS, 1),
		     STAT(FRAGMENT, 1));
	if (!ring_read(&fx, &c))
		goto out;
	ASSERT_EQ(c.settled, 1, "SETTLED records");
	if (ASSERT_EQ(c.sent, 1, "fragments sent on")) {
		expect_sent_on(c.pkt[0], c.len[0], &in[1], EXT_ADDR,
			       "middle fragment");
		ASSERT_EQ(c.dst[0], EXT_ADDR, "sent to");
	}
out:
	frag_hold_free(c.hold);
	fx_teardown(&fx);
}

/*
 * A second first fragment of a live datagram (same source, destination,
 * protocol and id) to another host's port: dropped, and the datagram's
 * later fragments still go to the first one's host. Once the entry is
 * past the reassembly timeout, the id is another datagram's.
 */
PROG_TEST(frag_first_conflict, TEST_REPLIES | TEST_SUBTESTS)
{
	struct pkt_spec q1 =
		udp_spec(HOST1, OUT_RANGE_PORT, REMOTE1, 53, query);
	struct pkt_spec q2 =
		udp_spec(HOST2, OUT_RANGE_PORT, REMOTE1, 53, query);
	__u8 l4[FRAME_MAX];
	struct frame f1[3], f2[3], out;
	struct bpfmasq_frag_key fk1;
	struct pkt_spec a1, a2;
	struct fixture fx;
	__u16 p1, p2;
	int aged;

	for (aged = 0; aged < 2; aged++) {
		if (!test_subtest(aged ? "past the reassembly timeout"
				       : "live"))
			continue;
		if (!setup_flow(&fx, NULL, &q1, &p1) ||
		    !send_out(&fx, &q2, &p2))
			goto next;
		a1 = udp_spec(REMOTE1, 53, EXT_ADDR, p1, frag_data);
		a2 = udp_spec(REMOTE1, 53, EXT_ADDR, p2, frag_data);
		a1.ip_id = a2.ip_id = 0x4545;
		fk1 = spec_frag_key(&a1);
		three_fragments(&a1, l4, f1);
		three_fragments(&a2, l4, f2);
		if (!ASSERT_EQ(fx_ingress(&fx, &f1[0], &out), XDP_VERDICT_PASS,
			       "HOST1's first fragment") ||
		    (aged && !frag_age(&fx, &fk1, BPFMASQ_FRAG_TIMEOUT_S + 1)))
			goto next;
		if (!aged) {
			ASSERT_EQ(fx_ingress(&fx, &f2[0], &out),
				  XDP_VERDICT_DROP, "HOST2's first fragment");
			ASSERT_STAT(&fx, BPFMASQ_STAT_FRAG_CONFLICT, 1);
			ASSERT_EQ(frag_inside(&fx, &a1), HOST1, "settled to");
			if (ASSERT_EQ(fx_ingress(&fx, &f1[1], &out),
				      XDP_VERDICT_PASS, "later fragment"))
				ASSERT_EQ(frame_ip(&out)->daddr, HOST1,
					  "later fragment's destination");
			goto next;
		}
		if (ASSERT_EQ(fx_ingress(&fx, &f2[0], &out), XDP_VERDICT_PASS,
			      "HOST2's first fragment"))
			ASSERT_EQ(frame_ip(&out)->daddr, HOST2,
				  "its destination");
		ASSERT_STAT(&fx, BPFMASQ_STAT_FRAG_CONFLICT, 0);
		ASSERT_EQ(frag_inside(&fx, &a2), HOST2, "settled to");
	next:
		fx_teardown(&fx);
	}
}

/*
 * A ring the daemon has not read is full after some forty fragments: the
 * rest are dropped as not held, each counted once, and the ring holds
 * exactly the ones counted held.
 */
PROG_TEST(frag_hold_ring_full, TEST_REPLIES)
{
	struct pkt_spec q = udp_spec(HOST1, OUT_RANGE_PORT, REMOTE1, 53, query);
	__u8 l4[FRAME_MAX];
	struct capture c = {};
	struct frame in[3], out;
	struct pkt_spec a;
	struct fixture fx;
	__u64 held, not_held;
	__u16 port;
	int i, n = 60;

	if (!setup_flow(&fx, NULL, &q, &port) ||
	    !daemon_beat(&fx, now_boot_ns()))
		goto out;
	a = udp_spec(REMOTE1, 53, EXT_ADDR, port, frag_data);
	for (i = 0; i < n; i++) {
		a.ip_id = 0x5000 + i;
		three_fragments(&a, l4, in);
		ASSERT_EQ(fx_ingress(&fx, &in[2], &out), XDP_VERDICT_DROP,
			  "early fragment");
	}
	held = fx_stat(&fx, BPFMASQ_STAT_FRAG_HELD);
	not_held = fx_stat(&fx, BPFMASQ_STAT_FRAG_NOT_HELD);
	ASSERT_EQ(held + not_held, n, "held and not held");
	ASSERT_TRUE(not_held > 0 && held > 0, "a full ring");
	if (ring_read(&fx, &c))
		ASSERT_EQ(c.held, held, "HELD records");
out:
	fx_teardown(&fx);
}

/* A HELD record of @f (an IP fragment's frame) at @at_ns. */
static void held_record(struct bpfmasq_frag_held_event *e, struct frame *f,
			__u64 at_ns)
{
	struct iphdr *ip = frame_ip(f);

	memset(e, 0, sizeof(*e));
	e->ev = (struct bpfmasq_frag_event){
		.type = BPFMASQ_FRAG_EV_HELD,
		.len = ntohs(ip->tot_len),
		.dgram = { ip->saddr, ip->daddr, ip->id, ip->protocol },
		.at_ns = at_ns,
	};
	memcpy(e->data, ip, e->ev.len);
}

static void settled_record(struct bpfmasq_frag_event *ev, struct frame *f,
			   __be32 inside, __u64 at_ns)
{
	struct iphdr *ip = frame_ip(f);

	*ev = (struct bpfmasq_frag_event){
		.type = BPFMASQ_FRAG_EV_SETTLED,
		.dgram = { ip->saddr, ip->daddr, ip->id, ip->protocol },
		.inside_addr = inside,
		.at_ns = at_ns,
	};
}

/*
 * The daemon's hold, record by record: a second copy of a fragment is
 * discarded; a fragment handed over after its datagram settled goes on at
 * once; what waits past BPFMASQ_FRAG_HOLD_S goes, counted; a fragment
 * whose TTL would run out is not sent on; a full hold counts what it
 * refuses.
 */
/* Not .fast: no fixture: the daemon's hold on its own. */
PROG_TEST(frag_hold_records, TEST_NO_FAST)
{
	static struct bpfmasq_frag_held_event e;
	struct bpfmasq_frag_event ev;
	struct pkt_spec a = udp_spec(REMOTE1, 53, EXT_ADDR, 40000, frag_data);
	__u64 t = now_boot_ns();
	struct capture c = {};
	struct frame f[3];
	struct frag_counts n;
	__u8 l4[FRAME_MAX];
	int i;

	c.hold = frag_hold_new(capture_send, &c);
	if (!ASSERT_TRUE(c.hold, "hold"))
		return;
	a.ip_id = 0x4646;
	three_fragments(&a, l4, f);

	held_record(&e, &f[2], t);
	frag_hold_event(c.hold, &e, sizeof(e), t);
	frag_hold_event(c.hold, &e, sizeof(e), t);
	ASSERT_EQ(frag_hold_count(c.hold), 1, "held, after a copy");
	settled_record(&ev, &f[0], HOST1, t);
	frag_hold_event(c.hold, &ev, sizeof(ev), t);
	ASSERT_EQ(c.sent, 1, "sent on at the settling");
	held_record(&e, &f[1], t);
	frag_hold_event(c.hold, &e, sizeof(e), t);
	ASSERT_EQ(c.sent, 2, "sent on, handed over after the settling");
	ASSERT_EQ(frag_hold_count(c.hold), 0, "held");
	n = frag_hold_take(c.hold);
	ASSERT_EQ(n.sent, 2, "counted sent");
	ASSERT_EQ(n.duplicate, 1, "counted duplicate");

	/* Another datagram, never settled; and one with TTL 1. */
	a.ip_id = 0x4747;
	three_fragments(&a, l4, f);
	held_record(&e, &f[2], t);
	frag_hold_event(c.hold, &e, sizeof(e), t);
	frag_hold_expire(c.hold, t + BPFMASQ_FRAG_HOLD_S * NS_PER_S);
	ASSERT_EQ(frag_hold_count(c.hold), 1, "held, at the limit");
	frag_hold_expire(c.hold, t + (BPFMASQ_FRAG_HOLD_S + 1) * NS_PER_S);
	ASSERT_EQ(frag_hold_count(c.hold), 0, "held, past the limit");
	held_record(&e, &f[1], t);
	((struct iphdr *)e.data)->ttl = 1;
	frag_hold_event(c.hold, &e, sizeof(e), t);
	settled_record(&ev, &f[0], HOST1, t);
	frag_hold_event(c.hold, &ev, sizeof(ev), t);
	ASSERT_EQ(c.sent, 2, "sent on, TTL 1");
	n = frag_hold_take(c.hold);
	ASSERT_EQ(n.expired, 2, "counted expired");

	/* Full: distinct datagrams, one more than the hold takes. */
	for (i = 0; i <= BPFMASQ_MAX_FRAG_HOLD; i++) {
		a.ip_id = 0x6000 + i;
		three_fragments(&a, l4, f);
		held_record(&e, &f[2], t);
		frag_hold_event(c.hold, &e, sizeof(e), t);
	}
	ASSERT_EQ(frag_hold_count(c.hold), BPFMASQ_MAX_FRAG_HOLD, "held, full");
	n = frag_hold_take(c.hold);
	ASSERT_EQ(n.full, 1, "counted refused");
	frag_hold_free(c.hold);
}
