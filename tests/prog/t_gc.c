// SPDX-License-Identifier: GPL-2.0
/*
 * t_gc.c - the collector making room: with the session table nearly full,
 * sessions that never saw a reply give way, oldest first, and answered
 * ones are never evicted (RFC 6888 REQ-11); and repairing what a pass
 * killed half-way leaves.
 */
#include <errno.h>
#include <unistd.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <bpf/bpf.h>

#include "check.h"
#include "scenario.h"

#define TABLE 20 /* sessions: 90% is 18, 80% is 16 */

/*
 * @answered flows from HOST1 that got a reply, then @unreplied from HOST2
 * that did not, in that order (so by age); then one GC pass.
 */
static bool fill(struct fixture *fx, int answered, int unreplied,
		 struct gc_result *res)
{
	const struct fx_opts opts = { .max_sessions = TABLE };
	struct pkt_spec s, r;
	__u16 port;
	int i;

	if (!fx_setup(fx, &opts))
		return false;
	for (i = 0; i < answered; i++) {
		s = udp_spec(HOST1, 50000 + i, REMOTE1, 53, query);
		r = udp_spec(REMOTE1, 53, EXT_ADDR, 0, answer);
		if (!send_out(fx, &s, &port))
			return false;
		r.dport = port;
		if (!send_in(fx, &r, HOST1, 50000 + i))
			return false;
	}
	for (i = 0; i < unreplied; i++) {
		s = udp_spec(HOST2, 50000 + i, REMOTE1, 53, query);
		if (!send_out(fx, &s, NULL))
			return false;
	}
	return ASSERT_OK(gc_pass(&fx->maps, now_boot_ns(), res), "gc_pass");
}

PROG_TEST(gc_pressure, TEST_REPLIES | TEST_SUBTESTS)
{
	struct bpfmasq_session sess;
	struct gc_result res;
	struct fixture fx;
	int i;

	/* 19 of 20: past 90%, down to 80% by the 3 oldest unanswered. */
	if (test_subtest("nearly full")) {
		if (fill(&fx, 10, 9, &res)) {
			ASSERT_EQ(res.sessions_evicted, 3, "sessions evicted");
			ASSERT_EQ(res.sessions, 16, "sessions live");
			ASSERT_EQ(map_count(fx.maps.sessions), 16,
				  "sessions entries");
			for (i = 0; i < 10; i++)
				ASSERT_OK(fx_session(&fx, HOST1, 50000 + i,
						     REMOTE1, 53, IPPROTO_UDP,
						     &sess),
					  "an answered session");
			for (i = 0; i < 9; i++)
				ASSERT_EQ(
					fx_session(&fx, HOST2, 50000 + i,
						   REMOTE1, 53, IPPROTO_UDP,
						   &sess),
					i < 3 ? -ENOENT : 0,
					"an unanswered session (oldest gone)");
		}
		fx_teardown(&fx);
	}
	/* 18 of 20: not past 90%, nothing goes. */
	if (test_subtest("below the mark")) {
		if (fill(&fx, 10, 8, &res)) {
			ASSERT_EQ(res.sessions_evicted, 0, "sessions evicted");
			ASSERT_EQ(map_count(fx.maps.sessions), 18,
				  "sessions entries");
		}
		fx_teardown(&fx);
	}
	/* 19 of 20, all answered: none gives way. */
	if (test_subtest("answered only")) {
		if (fill(&fx, 19, 0, &res)) {
			ASSERT_EQ(res.sessions_evicted, 0, "sessions evicted");
			ASSERT_EQ(map_count(fx.maps.sessions), 19,
				  "sessions entries");
		}
		fx_teardown(&fx);
	}
}

/*
 * Room at insert time (bpf/room.h): 10 answered and 8 unanswered sessions
 * of 20, not past 90% so the pass evicts none, but past half, so it queues
 * the 8 unanswered, oldest first. Two more from HOST3 fill the table. A
 * new flow from inside then deletes the oldest unanswered one for itself
 * at once; with only answered sessions queued none goes (table_full); and
 * a packet from outside never makes room.
 */
/* A collector's clock past the mappings' grace period. */
#define GRACE_PAST (2 * BPFMASQ_MAPPING_GRACE_S * 1000000000ull)

PROG_TEST(gc_room_at_insert, TEST_SUBTESTS)
{
	struct bpfmasq_session sess;
	struct gc_result res;
	struct pkt_spec s, r;
	struct frame in, out;
	struct fixture fx;
	int i;

	if (test_subtest("evicts the oldest unanswered")) {
		if (!fill(&fx, 10, 8, &res))
			goto next1;
		ASSERT_EQ(res.sessions_evicted, 0,
			  "sessions evicted by the pass");
		/* A pass past the grace: each is the last of its mapping. */
		if (!ASSERT_OK(
			    gc_pass(&fx.maps, now_boot_ns() + GRACE_PAST, &res),
			    "gc_pass"))
			goto next1;
		for (i = 0; i < 2; i++) {
			s = udp_spec(HOST3, 50000 + i, REMOTE1, 53, query);
			if (!send_out(&fx, &s, NULL))
				goto next1;
		}
		ASSERT_EQ(map_count(fx.maps.sessions), TABLE, "sessions, full");
		s = udp_spec(HOST4, 50000, REMOTE1, 53, query);
		if (!send_out(&fx, &s, NULL))
			goto next1;
		ASSERT_STAT(&fx, BPFMASQ_STAT_EVICTED, 1);
		ASSERT_STAT(&fx, BPFMASQ_STAT_TABLE_FULL, 0);
		ASSERT_EQ(fx_session(&fx, HOST2, 50000, REMOTE1, 53,
				     IPPROTO_UDP, &sess),
			  -ENOENT, "the oldest unanswered session");
		ASSERT_OK(fx_session(&fx, HOST2, 50001, REMOTE1, 53,
				     IPPROTO_UDP, &sess),
			  "the next oldest unanswered session");
		for (i = 0; i < 10; i++)
			ASSERT_OK(fx_session(&fx, HOST1, 50000 + i, REMOTE1, 53,
					     IPPROTO_UDP, &sess),
				  "an answered session");
		ASSERT_EQ(map_count(fx.maps.sessions), TABLE, "sessions");
		/* Its mapping went with it, its port to quarantine. */
		ASSERT_EQ(map_count(fx.maps.mappings), TABLE, "mappings");
		expect_check_clean(&fx);
	next1:
		fx_teardown(&fx);
	}
	if (test_subtest("answered only")) {
		if (!fill(&fx, 18, 0, &res))
			goto next2;
		for (i = 0; i < 2; i++) {
			s = udp_spec(HOST3, 50000 + i, REMOTE1, 53, query);
			r = udp_spec(REMOTE1, 53, EXT_ADDR, 0, answer);
			if (!send_out(&fx, &s, &r.dport) ||
			    !send_in(&fx, &r, HOST3, 50000 + i))
				goto next2;
		}
		s = udp_spec(HOST4, 50000, REMOTE1, 53, query);
		frame_build(&in, &s);
		ASSERT_EQ(fx_egress(&fx, &in, &out), TC_SHOT,
			  "verdict, table full of answered sessions");
		ASSERT_STAT(&fx, BPFMASQ_STAT_TABLE_FULL, 1);
		ASSERT_STAT(&fx, BPFMASQ_STAT_EVICTED, 0);
		ASSERT_EQ(map_count(fx.maps.sessions), TABLE, "sessions");
	next2:
		fx_teardown(&fx);
	}
}

/*
 * Under endpoint-independent filtering a full table refuses a new remote:
 * the queued unanswered sessions stay, for flows from inside. The refused
 * packet still stamped the mapping it was sent to (the stamp comes before
 * the session, so that no collector releases the mapping under it): a new
 * flow from inside, which needs room in the mappings table too, deletes
 * that mapping's session without the mapping, and goes on to the next one.
 */
PROG_TEST(gc_room_not_for_strangers, TEST_REPLIES)
{
	const struct fx_opts opts = { .max_sessions = TABLE,
				      .filtering = BPFMASQ_FILTER_INDEPENDENT };
	struct bpfmasq_mapping m;
	struct pkt_spec s, r;
	struct gc_result res;
	struct frame in, out;
	struct fixture fx;
	__u16 port = 0;
	int i;

	if (!fx_setup(&fx, &opts))
		return;
	for (i = 0; i < TABLE; i++) {
		s = udp_spec(HOST2, 50000 + i, REMOTE1, 53, query);
		if (!send_out(&fx, &s, i ? NULL : &port))
			goto out;
		/* Seen by a pass past the grace: last of their mappings. */
		if (i == TABLE - 3 &&
		    !ASSERT_OK(
			    gc_pass(&fx.maps, now_boot_ns() + GRACE_PAST, &res),
			    "gc_pass"))
			goto out;
	}
	/* A new remote to HOST2:50000's mapping, a clock tick later. */
	usleep(2000);
	r = udp_spec(REMOTE2, 53, EXT_ADDR, port, answer);
	frame_build(&in, &r);
	ASSERT_EQ(fx_ingress(&fx, &in, &out), XDP_VERDICT_DROP,
		  "verdict, table full, from outside");
	ASSERT_STAT(&fx, BPFMASQ_STAT_TABLE_FULL, 1);
	ASSERT_STAT(&fx, BPFMASQ_STAT_EVICTED, 0);
	ASSERT_EQ(map_count(fx.maps.sessions), TABLE, "sessions");
	/* From inside it may. */
	s = udp_spec(HOST3, 50000, REMOTE1, 53, query);
	if (!send_out(&fx, &s, NULL))
		goto out;
	ASSERT_STAT(&fx, BPFMASQ_STAT_EVICTED, 2);
	ASSERT_EQ(fx_mapping(&fx, HOST2, 50000, IPPROTO_UDP, &m), 0,
		  "the stamped mapping");
	ASSERT_EQ(fx_mapping(&fx, HOST2, 50001, IPPROTO_UDP, &m), -ENOENT,
		  "the next victim's mapping");
	/* HOST3's in the place of HOST2:50001's. */
	ASSERT_EQ(map_count(fx.maps.mappings), TABLE, "mappings");
	expect_check_clean(&fx);
out:
	fx_teardown(&fx);
}

/* Free ports in the UDP pool of the external address. */
static long udp_pool_len(struct fixture *fx);

/*
 * A port reserved for a socket of the gateway's own (this test's network
 * namespace) stays out of the pool while the socket is bound, and goes
 * back to it at the first pass once the socket is closed.
 */
/* Not .fast: sends no packet. */
PROG_TEST(gc_unreserve, TEST_NO_FAST)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_port = htons(IN_RANGE_PORT) };
	struct bpfmasq_owner o;
	struct gc_result res;
	struct fixture fx;
	int sock = -1;

	if (!fx_setup(&fx, &fx_one_port))
		return;
	/* As a pool built while the socket was bound has it. */
	sock = socket(AF_INET, SOCK_DGRAM, 0);
	if (!ASSERT_OK(sock < 0 || bind(sock, (void *)&sa, sizeof(sa)) ? -errno
								       : 0,
		       "bind a UDP socket on the port") ||
	    !ASSERT_OK(state_flush(&fx.maps), "state_flush"))
		goto out;
	ASSERT_EQ(fx_port_state(&fx, EXT_ADDR, IN_RANGE_PORT, IPPROTO_UDP, &o),
		  BPFMASQ_PORT_RESERVED, "port state, socket bound");
	ASSERT_EQ(udp_pool_len(&fx), 0, "UDP pool, socket bound");
	if (!ASSERT_OK(gc_pass(&fx.maps, now_boot_ns(), &res), "gc_pass"))
		goto out;
	ASSERT_EQ(res.ports_unreserved, 0, "ports unreserved, socket bound");
	ASSERT_EQ(fx_port_state(&fx, EXT_ADDR, IN_RANGE_PORT, IPPROTO_UDP, &o),
		  BPFMASQ_PORT_RESERVED, "port state after a pass");
	close(sock);
	sock = -1;
	if (!ASSERT_OK(gc_pass(&fx.maps, now_boot_ns(), &res), "gc_pass"))
		goto out;
	ASSERT_EQ(res.ports_unreserved, 1, "ports unreserved, socket closed");
	ASSERT_EQ(fx_port_state(&fx, EXT_ADDR, IN_RANGE_PORT, IPPROTO_UDP, &o),
		  BPFMASQ_PORT_FREE, "port state, socket closed");
	ASSERT_EQ(udp_pool_len(&fx), 1, "UDP pool, socket closed");
	expect_check_clean(&fx);
out:
	if (sock >= 0)
		close(sock);
	fx_teardown(&fx);
}

static long udp_pool_len(struct fixture *fx)
{
	struct bpfmasq_pool_key pk = { .addr = EXT_ADDR, .proto = IPPROTO_UDP };
	__u32 id;
	long n;
	int fd;

	if (bpf_map_lookup_elem(fx->maps.port_pools, &pk, &id))
		return -errno;
	fd = bpf_map_get_fd_by_id(id);
	if (fd < 0)
		return -errno;
	n = queue_len(fd);
	close(fd);
	return n;
}

/*
 * An owner left without its mapping (by hand, or by an older version that
 * deleted them one by one): the next pass quarantines its port; once the
 * quarantine is over, the port is back in its pool. An owner whose mapping
 * is there is left alone. The state checks clean throughout.
 */
PROG_TEST(gc_orphan_owner, TEST_SUBTESTS)
{
	static const struct {
		const char *name;
		bool kill; /* leave the owner without its mapping */
	} rows[] = {
		{ "orphan", true },
		{ "mapping there", false },
	};
	const __u64 later = (BPFMASQ_PORT_QUARANTINE_S + 1) * NS_PER_S;
	struct bpfmasq_endpoint inside;
	struct bpfmasq_owner o;
	struct gc_result res;
	struct fixture fx;
	struct pkt_spec q;
	long before;
	__u16 port;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(rows); i++) {
		if (!test_subtest("%s", rows[i].name))
			continue;
		q = udp_spec(HOST1, OUT_RANGE_PORT, REMOTE1, 53, query);
		if (!setup_flow(&fx, NULL, &q, &port))
			goto next;
		inside = (struct bpfmasq_endpoint){ .addr = HOST1,
						    .port = htons(q.sport),
						    .proto = IPPROTO_UDP };
		if (rows[i].kill &&
		    (!ASSERT_OK(map_clear(fx.maps.sessions) == 1 ? 0 : -EIO,
				"deleting the session") ||
		     !ASSERT_OK(bpf_map_delete_elem(fx.maps.mappings, &inside)
					? -errno
					: 0,
				"deleting the mapping") ||
		     !ASSERT_OK(fx_host_ports(&fx, HOST1, -1),
				"counting it out of its host") ||
		     !ASSERT_OK(fx_host_sessions(&fx, HOST1, -1),
				"and its session")))
			goto next;
		before = udp_pool_len(&fx);
		if (!ASSERT_OK(gc_pass(&fx.maps, now_boot_ns(), &res),
			       "gc_pass"))
			goto next;
		ASSERT_EQ(res.owners_repaired, rows[i].kill, "owners repaired");
		ASSERT_EQ(fx_port_state(&fx, EXT_ADDR, port, IPPROTO_UDP, &o),
			  rows[i].kill ? BPFMASQ_PORT_QUARANTINED
				       : BPFMASQ_PORT_OWNED,
			  "port state");
		ASSERT_EQ(udp_pool_len(&fx), before, "free ports");
		expect_check_clean(&fx);
		if (!rows[i].kill)
			goto next;
		if (!ASSERT_OK(gc_pass(&fx.maps, now_boot_ns() + later, &res),
			       "gc_pass after the quarantine"))
			goto next;
		ASSERT_EQ(res.ports_returned, 1, "ports returned");
		ASSERT_EQ(fx_port_state(&fx, EXT_ADDR, port, IPPROTO_UDP, &o),
			  BPFMASQ_PORT_FREE, "port state after the quarantine");
		ASSERT_EQ(udp_pool_len(&fx), before + 1, "free ports");
		expect_check_clean(&fx);
	next:
		fx_teardown(&fx);
	}
}
