// SPDX-License-Identifier: GPL-2.0
/*
 * t_state.c - state: TCP state tracking through a connection and its reopening,
 * a flush, and a session left from an old external address.
 */
#include <bpf/bpf.h>

#include "scenario.h"

PROG_TEST(tcp_states, TEST_REPLIES)
{
	/*
	 * Sequence numbers as the hosts would send them: RSTs and FINs move
	 * the state only from within the window.
	 */
	static const struct {
		bool out;
		__u8 flags;
		__u32 seq, ack;
		__u8 state;
	} steps[] = {
		{ true, PKT_TCP_SYN, 1000, 0, BPFMASQ_TCP_SYN_SENT },
		{ false, PKT_TCP_SYN | PKT_TCP_ACK, 50000, 1001,
		  BPFMASQ_TCP_ESTABLISHED },
		{ true, PKT_TCP_ACK, 1001, 50001, BPFMASQ_TCP_ESTABLISHED },
		{ true, PKT_TCP_PSH | PKT_TCP_ACK, 1001, 50001,
		  BPFMASQ_TCP_ESTABLISHED },
		{ true, PKT_TCP_FIN | PKT_TCP_ACK, 1001, 50001,
		  BPFMASQ_TCP_FIN_SEEN },
		{ false, PKT_TCP_ACK, 50001, 1002, BPFMASQ_TCP_FIN_SEEN },
		{ false, PKT_TCP_FIN | PKT_TCP_ACK, 50001, 1002,
		  BPFMASQ_TCP_CLOSED },
		{ true, PKT_TCP_ACK, 1002, 50002, BPFMASQ_TCP_CLOSED },
		/* A new connection on the same tuple. */
		{ true, PKT_TCP_SYN, 9000, 0, BPFMASQ_TCP_SYN_SENT },
		{ false, PKT_TCP_SYN | PKT_TCP_ACK, 70000, 9001,
		  BPFMASQ_TCP_ESTABLISHED },
		{ false, PKT_TCP_RST, 70001, 0, BPFMASQ_TCP_RST_SEEN },
		{ true, PKT_TCP_SYN, 12000, 0, BPFMASQ_TCP_SYN_SENT },
		{ true, PKT_TCP_RST | PKT_TCP_ACK, 12001, 0,
		  BPFMASQ_TCP_RST_SEEN },
	};
	struct bpfmasq_session s;
	struct pkt_spec p;
	struct fixture fx;
	size_t i;

	if (!fx_setup(&fx, &fx_one_port))
		return;
	for (i = 0; i < ARRAY_SIZE(steps); i++) {
		test_ctx("step %zu (%s, flags 0x%02x)", i,
			 steps[i].out ? "out" : "in", steps[i].flags);
		if (steps[i].out) {
			p = tcp_spec(HOST1, IN_RANGE_PORT, REMOTE1, 80,
				     steps[i].flags);
		} else {
			p = tcp_spec(REMOTE1, 80, EXT_ADDR, IN_RANGE_PORT,
				     steps[i].flags);
		}
		p.tcp_numbers = true;
		p.tcp_seq = steps[i].seq;
		p.tcp_ack = steps[i].ack;
		p.tcp_win = 64240;
		if (steps[i].out ? !send_out(&fx, &p, NULL)
				 : !send_in(&fx, &p, HOST1, IN_RANGE_PORT))
			break;
		if (!ASSERT_OK(fx_session(&fx, HOST1, IN_RANGE_PORT, REMOTE1,
					  80, IPPROTO_TCP, &s),
			       "session"))
			break;
		if (!ASSERT_EQ(s.tcp_state, steps[i].state, "tcp_state"))
			break;
		/* A reopened session must not remember the old FINs. */
		if (steps[i].state == BPFMASQ_TCP_SYN_SENT)
			ASSERT_EQ(s.flags & (BPFMASQ_SESS_FIN_OUT |
					     BPFMASQ_SESS_FIN_IN),
				  0, "FIN flags");
	}
	test_ctx(NULL);
	ASSERT_TABLES(&fx, 1, 1);
	ASSERT_STAT(&fx, BPFMASQ_STAT_TCP_OUT_OF_WINDOW, 0);
	fx_teardown(&fx);
}

PROG_TEST(state_flush, 0)
{
	const struct fx_opts opts = { .port_min = 41000, .port_max = 41001 };
	const __be32 hosts[] = { HOST1, HOST2, HOST3 };
	struct pkt_spec q[3];
	struct frame in, out;
	struct fixture fx;
	__u16 p1, p3;
	int i;

	if (!fx_setup(&fx, &opts))
		return;
	for (i = 0; i < 3; i++)
		q[i] = udp_spec(hosts[i], OUT_RANGE_PORT, REMOTE1, 53, query);
	if (!send_out(&fx, &q[0], NULL) || !send_out(&fx, &q[1], NULL))
		goto out;
	frame_build(&in, &q[2]);
	if (!ASSERT_EQ(fx_egress(&fx, &in, &out), TC_SHOT,
		       "third host before flush"))
		goto out;

	if (!ASSERT_OK(state_flush(&fx.maps), "state_flush"))
		goto out;
	ASSERT_TABLES(&fx, 0, 0);

	/* The pools are whole again: two new mappings fit. */
	test_ctx("after flush");
	if (send_out(&fx, &q[2], &p3) && send_out(&fx, &q[0], &p1)) {
		ASSERT_IN_RANGE(p3, 41000, 41001, "third host's port");
		ASSERT_IN_RANGE(p1, 41000, 41001, "first host's port");
		ASSERT_NEQ(p1, p3, "distinct ports");
	}
	ASSERT_TABLES(&fx, 2, 2);
out:
	fx_teardown(&fx);
}

/* A session left from an old external address is not used again. */
PROG_TEST(stale_session, 0)
{
	const struct pkt_spec q =
		udp_spec(HOST1, OUT_RANGE_PORT, REMOTE1, 53, query);
	struct bpfmasq_session_key key = {
		.inside_addr = HOST1,
		.remote_addr = REMOTE1,
		.inside_port = htons(OUT_RANGE_PORT),
		.remote_port = htons(53),
		.proto = IPPROTO_UDP,
	};
	struct bpfmasq_session s;
	struct fixture fx;

	if (!setup_flow(&fx, NULL, &q, NULL))
		goto out;
	/* As if a flush raced a packet of the flow: the old address stays. */
	if (!ASSERT_OK(bpf_map_lookup_elem(fx.maps.sessions, &key, &s) ? -errno
								       : 0,
		       "session"))
		goto out;
	s.ext_addr = IP4(192, 0, 2, 99);
	s.packets_out = 100;
	ASSERT_OK(bpf_map_update_elem(fx.maps.sessions, &key, &s, BPF_EXIST)
			  ? -errno
			  : 0,
		  "aging the session");
	/* send_out checks the frame leaves from EXT_ADDR. */
	send_out(&fx, &q, NULL);
	if (ASSERT_OK(bpf_map_lookup_elem(fx.maps.sessions, &key, &s) ? -errno
								      : 0,
		      "session")) {
		ASSERT_EQ(ntohl(s.ext_addr), ntohl(EXT_ADDR),
			  "session ext_addr");
		ASSERT_EQ(s.packets_out, 1, "packets_out of the new session");
	}
out:
	fx_teardown(&fx);
}
