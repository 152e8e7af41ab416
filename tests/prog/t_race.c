// SPDX-License-Identifier: GPL-2.0
/*
 * t_race.c - the state under interleaving, by hand: a collector step, a
 * flush step or a flush killed half-way between two packets, at each point
 * where the data path and the daemon meet; the port quarantine; the bound
 * on sessions opened from outside; the collector's batched expiries. After
 * each, the checker finds nothing.
 */
#include <stdlib.h>
#include <bpf/bpf.h>

#include "gc.h"
#include "scenario.h"
#include "state.h"

#define LATER_S(s) (now_boot_ns() + (__u64)(s)*NS_PER_S)

/* Age a mapping's clock by @s seconds, as if it had been idle that long. */
static bool mapping_age(struct fixture *fx, __be32 addr, __u16 port, __u8 proto,
			__u32 s, struct bpfmasq_mapping *m)
{
	struct bpfmasq_endpoint k = { .addr = addr,
				      .port = htons(port),
				      .proto = proto };

	if (!ASSERT_OK(fx_mapping(fx, addr, port, proto, m), "mapping"))
		return false;
	m->used_ms = s == BPFMASQ_MAPPING_DYING ? s : m->used_ms - s * 1000;
	return ASSERT_OK(
		bpf_map_update_elem(fx->maps.mappings, &k, m, BPF_EXIST)
			? -errno
			: 0,
		"writing the mapping");
}

static int ctl(struct fixture *fx, enum bpfmasq_ctl_op op,
	       const struct bpfmasq_endpoint *ep, __u64 stamp)
{
	struct bpfmasq_ctl_args a = {
		.op = op, .stamp = stamp, .now_ns = now_boot_ns(), .ep = *ep
	};

	return ctl_run(&fx->maps, &a);
}

static int expire(struct fixture *fx, __be32 remote, __u16 rport)
{
	struct bpfmasq_ctl_args a = { .op = BPFMASQ_CTL_SESSION_EXPIRE };
	struct bpfmasq_session s;
	int err = fx_session(fx, HOST1, OUT_RANGE_PORT, remote, rport,
			     IPPROTO_UDP, &s);

	if (err)
		return err;
	a.stamp = s.last_ns;
	a.session = (struct bpfmasq_session_key){ .inside_addr = HOST1,
						  .remote_addr = remote,
						  .inside_port =
							  htons(OUT_RANGE_PORT),
						  .remote_port = htons(rport),
						  .proto = IPPROTO_UDP };
	return ctl_run(&fx->maps, &a);
}

/*
 * The collector read a mapping as idle and is about to release it; a
 * packet starts a session on it first. The release must fail, the session
 * and the port stay, and replies still reach the host (finding 2).
 */
PROG_TEST(race_release_vs_new_session, TEST_REPLIES | TEST_SUBTESTS)
{
	const struct bpfmasq_endpoint inside = { .addr = HOST1,
						 .port = htons(OUT_RANGE_PORT),
						 .proto = IPPROTO_UDP };
	struct pkt_spec q = udp_spec(HOST1, OUT_RANGE_PORT, REMOTE1, 53, query);
	struct pkt_spec q2 =
		udp_spec(HOST1, OUT_RANGE_PORT, REMOTE2, 53, query);
	struct bpfmasq_mapping m;
	struct bpfmasq_owner o;
	struct fixture fx;
	int packet;
	__u16 port, p2;

	for (packet = 0; packet < 2; packet++) {
		if (!test_subtest(packet ? "packet first" : "no packet"))
			continue;
		if (!setup_flow(&fx, NULL, &q, &port) ||
		    !ASSERT_OK(expire(&fx, REMOTE1, 53),
			       "expire the session") ||
		    !mapping_age(&fx, HOST1, OUT_RANGE_PORT, IPPROTO_UDP, 10,
				 &m))
			goto next;
		/* The collector has read m.used_ms; a packet comes first. */
		if (packet && (!send_out(&fx, &q2, &p2) ||
			       !ASSERT_EQ(p2, port, "port of the new session")))
			goto next;
		ASSERT_EQ(ctl(&fx, BPFMASQ_CTL_MAPPING_RELEASE, &inside,
			      m.used_ms),
			  packet ? -EBUSY : 0, "release");
		ASSERT_EQ(fx_port_state(&fx, EXT_ADDR, port, IPPROTO_UDP, &o),
			  packet ? BPFMASQ_PORT_OWNED
				 : BPFMASQ_PORT_QUARANTINED,
			  "port state");
		ASSERT_EQ(
			fx_mapping(&fx, HOST1, OUT_RANGE_PORT, IPPROTO_UDP, &m),
			packet ? 0 : -ENOENT, "mapping");
		if (packet) {
			q2 = udp_spec(REMOTE2, 53, EXT_ADDR, port, answer);
			send_in(&fx, &q2, HOST1, OUT_RANGE_PORT);
		}
		expect_check_clean(&fx);
	next:
		fx_teardown(&fx);
	}
}

/*
 * The collector's expiries in one batch run, each judged on its own: a
 * session still as the collector read it goes, one that a packet refreshed
 * since (another stamp) stays (-EBUSY), one already gone is -ENOENT.
 */
PROG_TEST(race_expire_batch, 0)
{
	static const __be32 remotes[] = { REMOTE1, REMOTE2 };
	struct bpfmasq_ctl_batch *b = calloc(1, sizeof(*b));
	struct bpfmasq_session s;
	struct fixture fx;
	struct pkt_spec q;
	__u16 port;
	int i;

	if (!ASSERT_TRUE(b != NULL, "batch") || !fx_setup(&fx, NULL))
		goto out_free;
	for (i = 0; i < 2; i++) {
		q = udp_spec(HOST1, OUT_RANGE_PORT, remotes[i], 53, query);
		if (!send_out(&fx, &q, &port) ||
		    !ASSERT_OK(fx_session(&fx, HOST1, OUT_RANGE_PORT,
					  remotes[i], 53, IPPROTO_UDP, &s),
			       "session"))
			goto out;
		b->e[i].session = (struct bpfmasq_session_key){
			.inside_addr = HOST1,
			.remote_addr = remotes[i],
			.inside_port = htons(OUT_RANGE_PORT),
			.remote_port = htons(53),
			.proto = IPPROTO_UDP
		};
		b->e[i].stamp = s.last_ns;
	}
	b->e[1].stamp--; /* as if a packet had come since it was read */
	b->e[2] = b->e[0];
	b->e[2].session.remote_port = htons(54); /* no such session */
	b->n = 3;
	if (!ASSERT_OK(ctl_expire_batch(&fx.maps, b), "batch run"))
		goto out;
	ASSERT_EQ(b->e[0].ret, 0, "expiry as read");
	ASSERT_EQ(b->e[1].ret, -EBUSY, "expiry of a refreshed session");
	ASSERT_EQ(b->e[2].ret, -ENOENT, "expiry of no session");
	ASSERT_EQ(fx_session(&fx, HOST1, OUT_RANGE_PORT, REMOTE1, 53,
			     IPPROTO_UDP, &s),
		  -ENOENT, "expired session");
	ASSERT_OK(fx_session(&fx, HOST1, OUT_RANGE_PORT, REMOTE2, 53,
			     IPPROTO_UDP, &s),
		  "refreshed session");
	/* More than a batch holds is refused, and changes nothing. */
	b->n = BPFMASQ_CTL_BATCH + 1;
	ASSERT_EQ(ctl_expire_batch(&fx.maps, b), -EINVAL, "oversized batch");
	ASSERT_OK(fx_session(&fx, HOST1, OUT_RANGE_PORT, REMOTE2, 53,
			     IPPROTO_UDP, &s),
		  "session after the oversized batch");
	expect_check_clean(&fx);
out:
	fx_teardown(&fx);
out_free:
	free(b);
}

/*
 * A mapping the collector has claimed (DYING) takes no new session: the
 * packet is dropped and counted. The next pass finishes the release; the
 * port is quarantined, so the host's next flow gets another.
 */
PROG_TEST(race_dying_mapping, TEST_REPLIES)
{
	struct pkt_spec q = udp_spec(HOST1, OUT_RANGE_PORT, REMOTE1, 53, query);
	struct bpfmasq_mapping m;
	struct bpfmasq_owner o;
	struct gc_result res;
	struct frame in, out;
	struct fixture fx;
	__u16 port, again;

	if (!setup_flow(&fx, NULL, &q, &port) ||
	    !ASSERT_OK(expire(&fx, REMOTE1, 53), "expire the session") ||
	    !mapping_age(&fx, HOST1, OUT_RANGE_PORT, IPPROTO_UDP,
			 BPFMASQ_MAPPING_DYING, &m))
		goto out;
	frame_build(&in, &q);
	ASSERT_EQ(fx_egress(&fx, &in, &out), TC_SHOT, "verdict on a DYING one");
	ASSERT_STAT(&fx, BPFMASQ_STAT_MAPPING_RELEASED, 1);
	if (!ASSERT_OK(gc_pass(&fx.maps, now_boot_ns(), &res), "gc_pass"))
		goto out;
	ASSERT_EQ(res.mappings_freed, 1, "mappings freed");
	ASSERT_EQ(fx_port_state(&fx, EXT_ADDR, port, IPPROTO_UDP, &o),
		  BPFMASQ_PORT_QUARANTINED, "old port");
	if (send_out(&fx, &q, &again))
		ASSERT_NEQ(again, port, "port of the next flow");
	q = udp_spec(REMOTE1, 53, EXT_ADDR, port, answer);
	expect_untouched_spec(&fx, false, &q, XDP_VERDICT_PASS);
	expect_check_clean(&fx);
out:
	fx_teardown(&fx);
}

/*
 * A released port is not handed out again for 120 s (RFC 6888 REQ-8):
 * with a pool of one port, the next host waits for the quarantine to end;
 * late replies to the old flow reach no one meanwhile.
 */
PROG_TEST(quarantine, TEST_REPLIES)
{
	struct pkt_spec q = udp_spec(HOST1, OUT_RANGE_PORT, REMOTE1, 53, query);
	const __u32 udp = BPFMASQ_TIMEOUT_UDP;
	struct pkt_spec late;
	struct bpfmasq_instance inst;
	struct bpfmasq_owner o;
	struct gc_result res;
	struct frame in, out;
	struct fixture fx;
	__u16 port;

	if (!setup_flow(&fx, &fx_one_port, &q, &port) ||
	    !ASSERT_OK(instance_read(&fx.maps, &inst), "instance"))
		goto out;
	/* Expired: the port goes to quarantine. */
	if (!ASSERT_OK(gc_pass(&fx.maps, LATER_S(inst.timeouts[udp] + 1), &res),
		       "gc_pass"))
		goto out;
	ASSERT_EQ(res.mappings_freed, 1, "mappings freed");
	ASSERT_EQ(fx_port_state(&fx, EXT_ADDR, port, IPPROTO_UDP, &o),
		  BPFMASQ_PORT_QUARANTINED, "port state");
	q.saddr = HOST2;
	frame_build(&in, &q);
	ASSERT_EQ(fx_egress(&fx, &in, &out), TC_SHOT, "second host, at once");
	ASSERT_STAT(&fx, BPFMASQ_STAT_PORT_POOL_EMPTY, 1);
	late = udp_spec(REMOTE1, 53, EXT_ADDR, port, answer);
	expect_untouched_spec(&fx, false, &late, XDP_VERDICT_PASS);
	expect_check_clean(&fx);
	/* Not yet over a minute later; over past 120 s. */
	if (!ASSERT_OK(gc_pass(&fx.maps,
			       LATER_S(inst.timeouts[udp] + 1 +
				       BPFMASQ_PORT_QUARANTINE_S / 2),
			       &res),
		       "gc_pass") ||
	    !ASSERT_EQ(res.ports_returned, 0, "ports returned, too early") ||
	    !ASSERT_OK(gc_pass(&fx.maps,
			       LATER_S(inst.timeouts[udp] + 2 +
				       BPFMASQ_PORT_QUARANTINE_S),
			       &res),
		       "gc_pass"))
		goto out;
	ASSERT_EQ(res.ports_returned, 1, "ports returned");
	if (send_out(&fx, &q, &port))
		ASSERT_EQ(port, IN_RANGE_PORT, "second host's port");
	expect_check_clean(&fx);
out:
	fx_teardown(&fx);
}

/*
 * A flush killed after it set FLUSHING and emptied the sessions: no new
 * state is made meanwhile (counted), and the next collector pass finishes
 * the flush: tables empty, every port free, the flag cleared (finding 1).
 */
PROG_TEST(flush_killed_half_way, 0)
{
	struct pkt_spec q = udp_spec(HOST1, OUT_RANGE_PORT, REMOTE1, 53, query);
	struct bpfmasq_config cfg;
	struct gc_result res;
	struct frame in, out;
	struct fixture fx;
	__u16 port;

	if (!setup_flow(&fx, NULL, &q, &port))
		goto out;
	cfg = fx.cfg;
	cfg.flags |= BPFMASQ_CFG_FLUSHING;
	if (!ASSERT_OK(config_write(&fx.maps, &cfg), "set FLUSHING") ||
	    !ASSERT_EQ(map_clear(fx.maps.sessions), 1, "clear the sessions"))
		goto out;
	q.saddr = HOST2;
	frame_build(&in, &q);
	ASSERT_EQ(fx_egress(&fx, &in, &out), TC_SHOT, "new flow, flushing");
	ASSERT_STAT(&fx, BPFMASQ_STAT_FLUSHING, 1);
	if (!ASSERT_OK(gc_pass(&fx.maps, now_boot_ns(), &res), "gc_pass"))
		goto out;
	ASSERT_TRUE(res.flush_finished, "the pass finished the flush");
	ASSERT_TABLES(&fx, 0, 0);
	ASSERT_EQ(map_count(fx.maps.port_owners), 0, "port owners");
	if (ASSERT_OK(config_read(&fx.maps, &cfg), "config"))
		ASSERT_EQ(cfg.flags, fx.cfg.flags, "config flags, as before");
	expect_check_clean(&fx);
	send_out(&fx, &q, NULL);
out:
	fx_teardown(&fx);
}

/*
 * A flush under live flows: afterwards every port of every pool is free
 * and queued exactly once, whatever the flows held (finding 8).
 */
PROG_TEST(flush_refills_pools, 0)
{
	struct pkt_spec q;
	struct fixture fx;
	int i;

	if (!fx_setup(&fx, NULL))
		return;
	for (i = 0; i < 3; i++) {
		q = udp_spec(HOST1 + htonl(i), OUT_RANGE_PORT, REMOTE1, 53,
			     query);
		if (!send_out(&fx, &q, NULL))
			goto out;
	}
	if (!ASSERT_OK(state_flush(&fx.maps), "state_flush"))
		goto out;
	ASSERT_TABLES(&fx, 0, 0);
	expect_check_clean(&fx);
out:
	fx_teardown(&fx);
}

/*
 * Under endpoint-independent filtering, remotes may open at most
 * max_inbound sessions to one mapping; one that expires makes room.
 */
PROG_TEST(inbound_limit, TEST_REPLIES)
{
	const struct fx_opts opts = { .filtering = BPFMASQ_FILTER_INDEPENDENT,
				      .max_inbound = 2 };
	struct pkt_spec q = udp_spec(HOST1, OUT_RANGE_PORT, REMOTE1, 53, query);
	struct bpfmasq_session s;
	struct bpfmasq_mapping m;
	struct frame in, out;
	struct fixture fx;
	__u16 port;
	int i;

	if (!setup_flow(&fx, &opts, &q, &port))
		goto out;
	for (i = 0; i < 3; i++) {
		test_ctx("remote port %d", 1000 + i);
		q = udp_spec(REMOTE2, 1000 + i, EXT_ADDR, port, answer);
		if (i < 2) {
			if (!send_in(&fx, &q, HOST1, OUT_RANGE_PORT))
				goto out;
			continue;
		}
		frame_build(&in, &q);
		ASSERT_EQ(fx_ingress(&fx, &in, &out), XDP_VERDICT_DROP,
			  "verdict past the limit");
	}
	test_ctx(NULL);
	ASSERT_STAT(&fx, BPFMASQ_STAT_INBOUND_LIMIT, 1);
	if (ASSERT_OK(fx_mapping(&fx, HOST1, OUT_RANGE_PORT, IPPROTO_UDP, &m),
		      "mapping"))
		ASSERT_EQ(m.inbound, 2, "inbound sessions");
	/* Opened from outside, not answered: it gives way under pressure. */
	if (ASSERT_OK(fx_session(&fx, HOST1, OUT_RANGE_PORT, REMOTE2, 1000,
				 IPPROTO_UDP, &s),
		      "inbound session"))
		ASSERT_EQ(s.flags, BPFMASQ_SESS_INBOUND, "session flags");
	if (!ASSERT_OK(expire(&fx, REMOTE2, 1000), "expire one"))
		goto out;
	if (ASSERT_OK(fx_mapping(&fx, HOST1, OUT_RANGE_PORT, IPPROTO_UDP, &m),
		      "mapping"))
		ASSERT_EQ(m.inbound, 1, "inbound sessions after one expired");
	send_in(&fx, &q, HOST1, OUT_RANGE_PORT);
	expect_check_clean(&fx);
out:
	fx_teardown(&fx);
}

/*
 * A session made after the collector read the sessions, on a mapping made
 * after its pass began: the mapping's stamp is ahead of the pass's clock,
 * and it must not be taken for idle (the clock's difference wraps).
 */
PROG_TEST(race_mapping_newer_than_pass, 0)
{
	struct pkt_spec q = udp_spec(HOST1, OUT_RANGE_PORT, REMOTE1, 53, query);
	struct gc_result res;
	struct fixture fx;
	__u16 port;

	if (!setup_flow(&fx, NULL, &q, &port) ||
	    !ASSERT_EQ(map_clear(fx.maps.sessions), 1,
		       "hide the session from the pass"))
		goto out;
	if (!ASSERT_OK(gc_pass(&fx.maps, now_boot_ns() - 5 * NS_PER_S, &res),
		       "gc_pass begun 5 s ago"))
		goto out;
	ASSERT_EQ(res.mappings_freed, 0, "mappings freed");
	ASSERT_EQ(map_count(fx.maps.mappings), 1, "mappings");
out:
	fx_teardown(&fx);
}

/*
 * The mapping clock wraps every 49 days: a mapping whose last session
 * started weeks before the pass (a long-lived flow that has just ended) is
 * idle all the same, not taken for one stamped after the pass began.
 */
PROG_TEST(gc_mapping_idle_for_weeks, 0)
{
	struct pkt_spec q = udp_spec(HOST1, OUT_RANGE_PORT, REMOTE1, 53, query);
	struct gc_result res;
	struct fixture fx;
	__u16 port;
	int days;

	for (days = 20; days <= 40; days += 10) {
		test_ctx("%d days later", days);
		if (!setup_flow(&fx, NULL, &q, &port) ||
		    !ASSERT_EQ(map_clear(fx.maps.sessions), 1,
			       "the flow has ended"))
			goto next;
		if (ASSERT_OK(gc_pass(&fx.maps, LATER_S(days * 86400), &res),
			      "gc_pass"))
			ASSERT_EQ(res.mappings_freed, 1, "mappings freed");
	next:
		fx_teardown(&fx);
	}
}
