// SPDX-License-Identifier: GPL-2.0
/*
 * t_pool.c - pools and allocation: ports from the pool, endpoint-independent
 * mapping, an exhausted pool, each port handed out once, and full session
 * and port-owner tables.
 */
#include <unistd.h>
#include <bpf/bpf.h>

#include "scenario.h"

PROG_TEST(port_from_pool, 0)
{
	struct pkt_spec syn =
		tcp_spec(HOST1, OUT_RANGE_PORT, REMOTE1, 443, PKT_TCP_SYN);
	struct bpfmasq_endpoint owner;
	struct bpfmasq_mapping m;
	struct fixture fx;
	__u16 port;

	if (!setup_flow(&fx, NULL, &syn, &port))
		goto out;
	ASSERT_IN_RANGE(port, PORT_MIN, PORT_MAX, "allocated port");
	if (ASSERT_OK(fx_mapping(&fx, HOST1, OUT_RANGE_PORT, IPPROTO_TCP, &m),
		      "mapping lookup")) {
		ASSERT_EQ(ntohs(m.ext_port), port, "mapping ext_port");
		ASSERT_NEQ(m.used_ms, 0, "mapping used_ms");
		ASSERT_EQ(m.inbound, 0, "mapping inbound");
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
PROG_TEST(pool_distinct_hosts, TEST_SUBTESTS)
{
	static const __u16 ports[] = { OUT_RANGE_PORT, IN_RANGE_PORT };
	struct pkt_spec syn;
	struct fixture fx;
	__u16 p1, p2;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(ports); i++) {
		if (!test_subtest("inside port %u", ports[i]))
			continue;
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
		ASSERT_TABLES(&fx, 2, 2);
	next:
		fx_teardown(&fx);
	}
}

/* One inside endpoint, two remotes: one mapping, same external port. */
PROG_TEST(endpoint_independent_mapping, 0)
{
	struct pkt_spec to1 =
		udp_spec(HOST1, OUT_RANGE_PORT, REMOTE1, 3478, query);
	struct pkt_spec to2 =
		udp_spec(HOST1, OUT_RANGE_PORT, REMOTE2, 5000, query);
	struct bpfmasq_session s;
	struct fixture fx;
	__u16 p1, p2;

	if (!fx_setup(&fx, NULL))
		return;
	if (!send_out(&fx, &to1, &p1) || !send_out(&fx, &to2, &p2))
		goto out;
	ASSERT_EQ(p2, p1, "external port towards the second remote");
	if (ASSERT_OK(fx_session(&fx, HOST1, OUT_RANGE_PORT, REMOTE2, 5000,
				 IPPROTO_UDP, &s),
		      "second session"))
		ASSERT_EQ(ntohs(s.ext_port), p1, "second session ext_port");
	ASSERT_TABLES(&fx, 1, 2);
	ASSERT_STATS(&fx, STAT(TRANSLATED_OUT, 2), STAT(NEW_MAPPING, 1),
		     STAT(NEW_SESSION, 2));
out:
	fx_teardown(&fx);
}

PROG_TEST(pool_exhausted, 0)
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

/* The UDP queue of EXT_ADDR, as a new fd (-1 if none). */
static int udp_pool_fd(struct fixture *fx)
{
	struct bpfmasq_pool_key pk = { .addr = EXT_ADDR, .proto = IPPROTO_UDP };
	__u32 id;

	if (bpf_map_lookup_elem(fx->maps.port_pools, &pk, &id))
		return -1;
	return bpf_map_get_fd_by_id(id);
}

/*
 * Every port comes from the pool, even an inside port in range: four hosts
 * on port 41001 take the four ports of 41000-41003, once each, and leave
 * the queue empty; the fifth flow fails at once.
 */
PROG_TEST(pool_gives_each_port_once, 0)
{
	const struct fx_opts opts = { .port_min = 41000, .port_max = 41003 };
	struct frame in, out;
	struct fixture fx;
	struct pkt_spec q;
	__u16 got[4];
	int i, j, fd;

	if (!fx_setup(&fx, &opts))
		return;
	for (i = 0; i < 4; i++) {
		test_ctx("host %d", i + 1);
		q = udp_spec(HOST1 + htonl(i), 41001, REMOTE1, 53, query);
		if (!send_out(&fx, &q, &got[i]))
			goto out;
		ASSERT_IN_RANGE(got[i], 41000, 41003, "external port");
		for (j = 0; j < i; j++)
			if (!ASSERT_NEQ(got[i], got[j], "distinct ports"))
				printf("  (mappings %d and %d)\n", j, i);
	}
	test_ctx(NULL);
	fd = udp_pool_fd(&fx);
	if (ASSERT_TRUE(fd >= 0, "UDP pool fd")) {
		ASSERT_EQ(queue_len(fd), 0, "free ports left");
		close(fd);
	}
	q = udp_spec(HOST5, 41001, REMOTE1, 53, query);
	frame_build(&in, &q);
	ASSERT_EQ(fx_egress(&fx, &in, &out), TC_SHOT, "fifth verdict");
	ASSERT_TABLES(&fx, 4, 4);
	ASSERT_STATS(&fx, STAT(TRANSLATED_OUT, 4), STAT(NEW_MAPPING, 4),
		     STAT(NEW_SESSION, 4), STAT(PORT_POOL_EMPTY, 1));
out:
	fx_teardown(&fx);
}

/*
 * A flow that found no port is remembered on its CPU for
 * BPFMASQ_SHARE_MISS_MS: its next packets are dropped at once, without
 * popping the pool (a port freed meanwhile waits there), and once that
 * time has passed it tries the pool again and gets the port. With port
 * sharing on (the search for a port to share failed too) and off.
 */
PROG_TEST(pool_empty_flow_remembered, TEST_SUBTESTS)
{
	struct frame in, out;
	struct fixture fx;
	struct pkt_spec q;
	__u16 p1, p2;
	__be16 held;
	int sharing, fd = -1;

	for (sharing = 1; sharing >= 0; sharing--) {
		const struct fx_opts opts = { .port_min = 41000,
					      .port_max = 41001,
					      .no_sharing = !sharing };

		if (!test_subtest("sharing %s", sharing ? "on" : "off"))
			continue;
		if (!fx_setup(&fx, &opts))
			return;
		/* One of the two ports kept back, to be freed later. */
		fd = udp_pool_fd(&fx);
		if (!ASSERT_TRUE(fd >= 0, "UDP pool fd") ||
		    !ASSERT_OK(bpf_map_lookup_and_delete_elem(fd, NULL, &held)
				       ? -errno
				       : 0,
			       "take a port out of the pool"))
			goto out;
		q = udp_spec(HOST1, 5000, REMOTE1, 53, query);
		if (!send_out(&fx, &q, &p1))
			goto out;
		q.saddr = HOST2;
		frame_build(&in, &q);
		ASSERT_EQ(fx_egress(&fx, &in, &out), TC_SHOT,
			  "verdict, pool empty");
		/* The port comes free: the flow does not look yet. */
		if (!ASSERT_OK(bpf_map_update_elem(fd, NULL, &held, BPF_ANY)
				       ? -errno
				       : 0,
			       "free the port"))
			goto out;
		ASSERT_EQ(fx_egress(&fx, &in, &out), TC_SHOT,
			  "verdict, remembered");
		ASSERT_EQ(queue_len(fd), 1, "free ports after the drop");
		ASSERT_STATS(&fx, STAT(TRANSLATED_OUT, 1), STAT(NEW_MAPPING, 1),
			     STAT(NEW_SESSION, 1), STAT(PORT_POOL_EMPTY, 2));
		/* Its time has passed: it takes the port. */
		if (!share_misses_forget(&fx) || !send_out(&fx, &q, &p2))
			goto out;
		ASSERT_EQ(p2, ntohs(held), "external port once it tries again");
		ASSERT_EQ(queue_len(fd), 0, "free ports at the end");
	out:
		if (fd >= 0)
			close(fd);
		fd = -1;
		fx_teardown(&fx);
	}
}

/*
 * A queue holds free ports only; a stray second copy of an owned port
 * (a corruption) is dropped when popped, and never shared.
 */
PROG_TEST(pool_drops_stray_copy, 0)
{
	const struct fx_opts opts = { .port_min = 41000, .port_max = 41001 };
	struct bpfmasq_endpoint owner;
	struct frame in, out;
	struct fixture fx;
	struct pkt_spec q;
	__u16 p1, p2;
	__be16 stray;
	int fd = -1;

	if (!fx_setup(&fx, &opts))
		return;
	q = udp_spec(HOST1, 5000, REMOTE1, 53, query);
	if (!send_out(&fx, &q, &p1))
		goto out;
	fd = udp_pool_fd(&fx);
	stray = htons(p1);
	if (!ASSERT_TRUE(fd >= 0, "UDP pool fd") ||
	    !ASSERT_OK(bpf_map_update_elem(fd, NULL, &stray, BPF_ANY) ? -errno
								      : 0,
		       "push a stray copy"))
		goto out;
	q.saddr = HOST2;
	if (!send_out(&fx, &q, &p2))
		goto out;
	ASSERT_NEQ(p2, p1, "second host's port");
	q.saddr = HOST3;
	frame_build(&in, &q);
	ASSERT_EQ(fx_egress(&fx, &in, &out), TC_SHOT, "third verdict");
	ASSERT_EQ(queue_len(fd), 0, "ports left in the queue");
	if (ASSERT_OK(fx_owner(&fx, EXT_ADDR, p1, IPPROTO_UDP, &owner),
		      "first port's owner"))
		ASSERT_EQ(ntohl(owner.addr), ntohl(HOST1), "owner addr");
	ASSERT_STATS(&fx, STAT(TRANSLATED_OUT, 2), STAT(NEW_MAPPING, 2),
		     STAT(NEW_SESSION, 2), STAT(PORT_POOL_EMPTY, 1));
out:
	if (fd >= 0)
		close(fd);
	fx_teardown(&fx);
}

PROG_TEST(session_table_full, 0)
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

/* A port popped for a flow the full port-owner table refused goes back. */
/* .fast, none forwarded: every flow dropped: the table is full. */
PROG_TEST(pool_kept_when_table_full, TEST_FAST_NONE)
{
	const struct fx_opts opts = { .max_owners = 4 };
	struct bpfmasq_pool_key pk = { .addr = EXT_ADDR, .proto = IPPROTO_UDP };
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
		struct bpfmasq_owner held = { .addr = HOST5,
					      .port = htons(1000 + i),
					      .proto = IPPROTO_TCP,
					      .state = BPFMASQ_PORT_OWNED };

		ASSERT_OK(bpf_map_update_elem(fx.maps.port_owners, &ext, &held,
					      BPF_NOEXIST)
				  ? -errno
				  : 0,
			  "filling port_owners");
	}
	if (!ASSERT_OK(bpf_map_lookup_elem(fx.maps.port_pools, &pk, &inner_id)
			       ? -errno
			       : 0,
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
