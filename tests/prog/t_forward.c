// SPDX-License-Identifier: GPL-2.0
/*
 * t_forward.c - port forwards (bpfmasq forward): a connection from outside
 * to a forwarded port reaches the inside endpoint, whatever the filtering,
 * and its replies leave from that port; --from; a stray segment opens
 * nothing. The forward's port as the collector takes and lets it go, each
 * step against the data path's: one that is queued (dropped by the pop
 * that meets it), one given back while still queued (claimed by the next
 * pop), one a live mapping holds (the forward waits for it). The checker
 * finds nothing after each.
 */
#include <bpf/bpf.h>

#include "clock.h"
#include "forward.h"
#include "scenario.h"

/* Out of the test ranges, and in them (IN_RANGE_PORT is the one-port pool). */
#define FWD_PORT 2222
#define FWD_INSIDE_PORT 22

static bool forward(struct fixture *fx, __u8 proto, __u16 port, __be32 addr,
		    __u16 inside_port, const struct cidr *from)
{
	struct forward_spec spec = { .proto = proto,
				     .lo = port,
				     .hi = port,
				     .inside_addr = addr,
				     .inside_port = inside_port };
	struct gc_result res;

	if (from)
		spec.from = *from;
	return ASSERT_OK(forward_add(&fx->maps, &spec), "forward add") &&
	       ASSERT_OK(gc_forwards_now(&fx->maps, now_boot_ns(), &res),
			 "forwards in effect");
}

/*
 * Delete the forward of @port, then let the collector act as it would
 * past the grace period of the forward's mapping, which was just made.
 */
static bool unforward(struct fixture *fx, __u8 proto, __u16 port)
{
	struct forward_spec spec = { .proto = proto, .lo = port, .hi = port };
	__u64 later =
		now_boot_ns() + (BPFMASQ_MAPPING_GRACE_S + 1) * 1000000000ull;
	struct gc_result res;

	return ASSERT_OK(forward_del(&fx->maps, &spec), "forward del") &&
	       ASSERT_OK(gc_forwards_now(&fx->maps, later, &res),
			 "forwards in effect");
}

static __u8 port_state(struct fixture *fx, __u16 port, __u8 proto)
{
	struct bpfmasq_owner o;

	return fx_port_state(fx, EXT_ADDR, port, proto, &o);
}

/*
 * A connection from outside through the forward, in both filterings: the
 * SYN reaches HOST1:22, the SYN-ACK leaves from the forwarded port, and
 * the session says it was forwarded.
 */
static void forward_tcp(__u8 filtering)
{
	struct fx_opts opts = { .filtering = filtering };
	struct pkt_spec syn =
		tcp_spec(REMOTE1, 40001, EXT_ADDR, FWD_PORT, PKT_TCP_SYN);
	struct pkt_spec sa = tcp_spec(HOST1, FWD_INSIDE_PORT, REMOTE1, 40001,
				      PKT_TCP_SYN | PKT_TCP_ACK);
	struct bpfmasq_session sess;
	struct fixture fx;
	__u16 ext = 0;

	if (!fx_setup(&fx, &opts) ||
	    !forward(&fx, IPPROTO_TCP, FWD_PORT, HOST1, FWD_INSIDE_PORT, NULL))
		goto out;
	ASSERT_EQ(port_state(&fx, FWD_PORT, IPPROTO_TCP), BPFMASQ_PORT_FORWARD,
		  "the port out of range: FORWARD");
	if (!send_in(&fx, &syn, HOST1, FWD_INSIDE_PORT) ||
	    !send_out(&fx, &sa, &ext))
		goto out;
	ASSERT_EQ(ext, FWD_PORT, "the reply's external port");
	if (ASSERT_OK(fx_session(&fx, HOST1, FWD_INSIDE_PORT, REMOTE1, 40001,
				 IPPROTO_TCP, &sess),
		      "session"))
		ASSERT_EQ(sess.flags &
				  (BPFMASQ_SESS_FORWARDED |
				   BPFMASQ_SESS_INBOUND | BPFMASQ_SESS_REPLIED),
			  BPFMASQ_SESS_FORWARDED | BPFMASQ_SESS_INBOUND |
				  BPFMASQ_SESS_REPLIED,
			  "session flags");
	ASSERT_STATS(&fx, STAT(TRANSLATED_IN, 1), STAT(TRANSLATED_OUT, 1),
		     STAT(NEW_SESSION, 1), STAT(FORWARD_OPEN, 1));
	expect_check_clean(&fx);
out:
	fx_teardown(&fx);
}

PROG_TEST(forward_tcp_dependent, TEST_REPLIES)
{
	forward_tcp(BPFMASQ_FILTER_DEPENDENT);
}

PROG_TEST(forward_tcp_independent, TEST_REPLIES)
{
	forward_tcp(BPFMASQ_FILTER_INDEPENDENT);
}

/*
 * The inside host's own new flow leaves from its forward's port too
 * (its mapping is the forward's): a UDP service that also talks first.
 */
PROG_TEST(forward_mapping_out, 0)
{
	struct pkt_spec q = udp_spec(HOST1, 5353, REMOTE2, 53, query);
	struct fixture fx;
	__u16 ext = 0;

	if (!fx_setup(&fx, NULL) ||
	    !forward(&fx, IPPROTO_UDP, FWD_PORT, HOST1, 5353, NULL))
		goto out;
	if (send_out(&fx, &q, &ext))
		ASSERT_EQ(ext, FWD_PORT, "the flow's external port");
	expect_check_clean(&fx);
out:
	fx_teardown(&fx);
}

/*
 * What opens nothing: a segment that is no SYN, a remote outside --from,
 * and anything once the forward is gone. Each goes to the gateway's stack
 * untouched (filtered), and leaves no session.
 */
PROG_TEST(forward_refused, TEST_REPLIES)
{
	const struct cidr from = { IP4(198, 51, 100, 0), 28 }; /* REMOTE1's */
	struct pkt_spec ack =
		tcp_spec(REMOTE1, 40001, EXT_ADDR, FWD_PORT, PKT_TCP_ACK);
	struct pkt_spec syn =
		tcp_spec(STRANGER, 40001, EXT_ADDR, FWD_PORT, PKT_TCP_SYN);
	struct fixture fx;

	if (!fx_setup(&fx, NULL) ||
	    !forward(&fx, IPPROTO_TCP, FWD_PORT, HOST1, FWD_INSIDE_PORT, &from))
		goto out;
	test_ctx("a bare ACK");
	expect_untouched_spec(&fx, false, &ack, XDP_VERDICT_PASS);
	test_ctx("a SYN from outside --from");
	expect_untouched_spec(&fx, false, &syn, XDP_VERDICT_PASS);
	test_ctx(NULL);
	ASSERT_EQ(map_count(fx.maps.sessions), 0, "sessions");
	ASSERT_STATS(&fx, STAT(FILTERED, 2));
	syn.saddr = REMOTE1;
	test_ctx("a SYN from --from");
	send_in(&fx, &syn, HOST1, FWD_INSIDE_PORT);
	test_ctx(NULL);
	if (!unforward(&fx, IPPROTO_TCP, FWD_PORT))
		goto out;
	/* Its connection goes on; the port stays the forward's until then. */
	ASSERT_EQ(port_state(&fx, FWD_PORT, IPPROTO_TCP), BPFMASQ_PORT_FORWARD,
		  "port of a forward gone, with a connection on it");
	syn.sport = 40002;
	test_ctx("a new SYN once the forward is gone");
	expect_untouched_spec(&fx, false, &syn, XDP_VERDICT_PASS);
	test_ctx(NULL);
	expect_check_clean(&fx);
out:
	fx_teardown(&fx);
}

/*
 * A forward of a port that is free and queued (the one-port pool): it is
 * FORWARD_QUEUED, and the pop that meets it drops it from the queue
 * (FORWARD); no flow gets it. Given back (forward del) with no session on
 * it, it goes to quarantine, in no queue.
 */
/* Its one packet finds no port: dropped, on either path. */
PROG_TEST(forward_queued_port, TEST_FAST_NONE)
{
	struct pkt_spec q = udp_spec(HOST2, 5000, REMOTE1, 53, query);
	struct bpfmasq_mapping m;
	struct frame in, out;
	struct fixture fx;

	if (!fx_setup(&fx, &fx_one_port) ||
	    !forward(&fx, IPPROTO_UDP, IN_RANGE_PORT, HOST1, 5353, NULL))
		goto out;
	ASSERT_EQ(port_state(&fx, IN_RANGE_PORT, IPPROTO_UDP),
		  BPFMASQ_PORT_FORWARD_QUEUED, "forwarded while queued");
	expect_check_clean(&fx);
	frame_build(&in, &q);
	ASSERT_EQ(fx_egress(&fx, &in, &out), TC_SHOT,
		  "another host's flow: the only port is the forward's");
	ASSERT_EQ(port_state(&fx, IN_RANGE_PORT, IPPROTO_UDP),
		  BPFMASQ_PORT_FORWARD, "dropped from the queue by the pop");
	expect_check_clean(&fx);
	if (!unforward(&fx, IPPROTO_UDP, IN_RANGE_PORT))
		goto out;
	ASSERT_EQ(port_state(&fx, IN_RANGE_PORT, IPPROTO_UDP),
		  BPFMASQ_PORT_QUARANTINED, "let go: quarantined");
	ASSERT_EQ(fx_mapping(&fx, HOST1, 5353, IPPROTO_UDP, &m), -ENOENT,
		  "the forward's mapping went with it");
	expect_check_clean(&fx);
out:
	fx_teardown(&fx);
}

/*
 * Given back while still queued: RETURNED, free; the next flow's pop
 * claims it.
 */
PROG_TEST(forward_returned_port, 0)
{
	struct pkt_spec q = udp_spec(HOST2, 5000, REMOTE1, 53, query);
	struct fixture fx;
	__u16 ext = 0;

	if (!fx_setup(&fx, &fx_one_port) ||
	    !forward(&fx, IPPROTO_UDP, IN_RANGE_PORT, HOST1, 5353, NULL) ||
	    !unforward(&fx, IPPROTO_UDP, IN_RANGE_PORT))
		goto out;
	ASSERT_EQ(port_state(&fx, IN_RANGE_PORT, IPPROTO_UDP),
		  BPFMASQ_PORT_RETURNED, "given back while queued");
	expect_check_clean(&fx);
	if (send_out(&fx, &q, &ext))
		ASSERT_EQ(ext, IN_RANGE_PORT, "the flow got the port");
	ASSERT_EQ(port_state(&fx, IN_RANGE_PORT, IPPROTO_UDP),
		  BPFMASQ_PORT_OWNED, "claimed by the pop");
	expect_check_clean(&fx);
out:
	fx_teardown(&fx);
}

/*
 * A forward of a port a live mapping holds waits: the flow on it goes on,
 * its remote's replies reach its host, and nobody else's packets are
 * taken for the forward. Once the mapping has gone and the quarantine is
 * over, the collector gives the port to the forward.
 */
PROG_TEST(forward_waits_for_mapping, TEST_REPLIES)
{
	struct pkt_spec q = udp_spec(HOST2, 5000, REMOTE1, 53, query);
	struct pkt_spec a =
		udp_spec(REMOTE1, 53, EXT_ADDR, IN_RANGE_PORT, answer);
	struct pkt_spec syn =
		udp_spec(REMOTE2, 7000, EXT_ADDR, IN_RANGE_PORT, query);
	struct bpfmasq_forward_key k = { .port = htons(IN_RANGE_PORT),
					 .proto = IPPROTO_UDP };
	struct bpfmasq_forward f;
	struct bpfmasq_instance inst;
	struct gc_result res;
	struct fixture fx;
	char why[96] = "";
	__u64 later;
	__u16 ext = 0;

	if (!setup_flow(&fx, &fx_one_port, &q, &ext) ||
	    !forward(&fx, IPPROTO_UDP, IN_RANGE_PORT, HOST1, 5353, NULL))
		goto out;
	ASSERT_EQ(port_state(&fx, IN_RANGE_PORT, IPPROTO_UDP),
		  BPFMASQ_PORT_OWNED, "still the mapping's");
	if (!ASSERT_OK(bpf_map_lookup_elem(fx.maps.forwards, &k, &f),
		       "forward") ||
	    !ASSERT_OK(instance_read(&fx.maps, &inst), "record"))
		goto out;
	ASSERT_TRUE(!forward_active(&fx.maps, &fx.cfg, &inst, &k, &f, why,
				    sizeof(why)),
		    "forward list: waiting");
	ASSERT_TRUE(strstr(why, "mapping") != NULL, why);
	send_in(&fx, &a, HOST2, 5000);
	test_ctx("another remote, to the waiting forward's port");
	expect_untouched_spec(&fx, false, &syn, XDP_VERDICT_PASS);
	test_ctx(NULL);
	expect_check_clean(&fx);

	/* Past the UDP timeout: the session and mapping go; the quarantine. */
	later = now_boot_ns() +
		(inst.timeouts[BPFMASQ_TIMEOUT_UDP] + 2) * 1000000000ull;
	ASSERT_OK(gc_pass(&fx.maps, later, &res), "gc");
	ASSERT_EQ(port_state(&fx, IN_RANGE_PORT, IPPROTO_UDP),
		  BPFMASQ_PORT_QUARANTINED, "released: quarantined first");
	later +=
		(inst.timeouts[BPFMASQ_TIMEOUT_QUARANTINE] + 2) * 1000000000ull;
	ASSERT_OK(gc_pass(&fx.maps, later, &res), "gc after the quarantine");
	ASSERT_EQ(res.forwards_taken, 1, "the forward took the port");
	ASSERT_EQ(port_state(&fx, IN_RANGE_PORT, IPPROTO_UDP),
		  BPFMASQ_PORT_FORWARD, "the forward's");
	test_ctx("through the forward now");
	send_in(&fx, &syn, HOST1, 5353);
	test_ctx(NULL);
	expect_check_clean(&fx);
out:
	fx_teardown(&fx);
}

/*
 * A flush empties the tables and installs the forwards again first: the
 * pool is built without their ports.
 */
PROG_TEST(forward_after_flush, TEST_REPLIES)
{
	struct pkt_spec syn =
		udp_spec(REMOTE2, 7000, EXT_ADDR, IN_RANGE_PORT, query);
	struct fixture fx;

	if (!fx_setup(&fx, &fx_one_port) ||
	    !forward(&fx, IPPROTO_UDP, IN_RANGE_PORT, HOST1, 5353, NULL))
		goto out;
	if (!ASSERT_OK(state_flush(&fx.maps), "flush"))
		goto out;
	ASSERT_EQ(port_state(&fx, IN_RANGE_PORT, IPPROTO_UDP),
		  BPFMASQ_PORT_FORWARD, "the forward's, in no queue");
	send_in(&fx, &syn, HOST1, 5353);
	expect_check_clean(&fx);
out:
	fx_teardown(&fx);
}

/* add refuses what it cannot have, and changes nothing then. */
/* Not .fast: sends no packet. */
PROG_TEST(forward_add_refused, TEST_NO_FAST)
{
	struct forward_spec overlap = { .proto = IPPROTO_TCP,
					.lo = FWD_PORT - 1,
					.hi = FWD_PORT + 1,
					.inside_addr = HOST2 };
	struct forward_spec outside = { .proto = IPPROTO_TCP,
					.lo = 3000,
					.hi = 3000,
					.inside_addr = REMOTE1 };
	struct fixture fx;

	if (!fx_setup(&fx, NULL) ||
	    !forward(&fx, IPPROTO_TCP, FWD_PORT, HOST1, FWD_INSIDE_PORT, NULL))
		goto out;
	ASSERT_EQ(forward_add(&fx.maps, &overlap), -EEXIST,
		  "a range over a forwarded port");
	ASSERT_EQ(forward_add(&fx.maps, &outside), -EINVAL,
		  "to an address that is not inside");
	ASSERT_EQ(map_count(fx.maps.forwards), 1, "forwards left");
	overlap.lo = overlap.hi = FWD_PORT + 1;
	ASSERT_EQ(forward_del(&fx.maps, &overlap), -ENOENT,
		  "del of a port not forwarded");
out:
	fx_teardown(&fx);
}
