// SPDX-License-Identifier: GPL-2.0
/*
 * t_tcp.c - TCP tracking that spoofing cannot move: RSTs and FINs change a
 * session's state only from within the window the other side offered (a
 * RST only from its edge, a FIN only acknowledging what can have been
 * sent), and are translated either way; sessions picked up mid-stream; the
 * timeouts the states get.
 */
#include <bpf/bpf.h>

#include "gc.h"
#include "scenario.h"

/*
 * The test connection: HOST1:IN_RANGE_PORT <-> REMOTE1:80, translated to
 * EXT_ADDR:IN_RANGE_PORT (a pool of that one port).
 */
#define ISN_IN 1000u
#define ISN_REMOTE 50000u
/* Windows after the handshake, in window units and scaled by 7. */
#define WIN_IN 502 /* 64256 bytes */
#define WIN_REMOTE 1000 /* 128000 bytes */
#define WSCALE 7

/* MSS 1460, NOP, window scale 7. */
static const __u8 syn_opts[] = { 0x02, 0x04, 0x05, 0xb4,
				 0x01, 0x03, 0x03, WSCALE };

static struct pkt_spec seg(bool out, __u8 flags, __u32 seq, __u32 ack,
			   __u16 win)
{
	struct pkt_spec p =
		out ? tcp_spec(HOST1, IN_RANGE_PORT, REMOTE1, 80, flags)
		    : tcp_spec(REMOTE1, 80, EXT_ADDR, IN_RANGE_PORT, flags);

	p.tcp_numbers = true;
	p.tcp_seq = seq;
	p.tcp_ack = ack;
	p.tcp_win = win;
	return p;
}

/* Send a segment; it must come out translated, whatever it does. */
static bool send_seg(struct fixture *fx, const struct pkt_spec *p, bool out)
{
	return out ? send_out(fx, p, NULL)
		   : send_in(fx, p, HOST1, IN_RANGE_PORT);
}

static bool step(struct fixture *fx, bool out, __u8 flags, __u32 seq, __u32 ack,
		 __u16 win)
{
	struct pkt_spec p = seg(out, flags, seq, ack, win);

	return send_seg(fx, &p, out);
}

static int tcp_session(struct fixture *fx, struct bpfmasq_session *s)
{
	return fx_session(fx, HOST1, IN_RANGE_PORT, REMOTE1, 80, IPPROTO_TCP,
			  s);
}

static bool expect_state(struct fixture *fx, __u8 state, const char *what)
{
	struct bpfmasq_session s;

	if (!ASSERT_OK(tcp_session(fx, &s), "session"))
		return false;
	return ASSERT_EQ(s.tcp_state, state, what);
}

/*
 * SYN, SYN-ACK, ACK, both offering window scale 7 (or neither, with
 * @scaled false, the same windows unscaled): established.
 */
static bool handshake(struct fixture *fx, bool scaled)
{
	struct pkt_spec syn = seg(true, PKT_TCP_SYN, ISN_IN, 0, 64240);
	struct pkt_spec synack = seg(false, PKT_TCP_SYN | PKT_TCP_ACK,
				     ISN_REMOTE, ISN_IN + 1, 65160);

	if (scaled) {
		syn.tcp_opts = syn_opts;
		syn.tcp_opts_len = sizeof(syn_opts);
		synack.tcp_opts = syn_opts;
		synack.tcp_opts_len = sizeof(syn_opts);
	}
	return send_seg(fx, &syn, true) && send_seg(fx, &synack, false) &&
	       step(fx, true, PKT_TCP_ACK, ISN_IN + 1, ISN_REMOTE + 1,
		    WIN_IN) &&
	       step(fx, false, PKT_TCP_ACK, ISN_REMOTE + 1, ISN_IN + 1,
		    WIN_REMOTE) &&
	       expect_state(fx, BPFMASQ_TCP_ESTABLISHED, "after handshake");
}

/* What a RST or FIN does to an established session. */
enum verdict {
	MOVES, /* to .state */
	DOUBTED, /* a RST in the window, not at its edge: RST_UNSURE */
	IGNORED, /* outside the window: tcp_out_of_window */
};

/*
 * RSTs and FINs on an established connection: from the remote, in the
 * inside host's window [ISN_REMOTE + 1, + 502 << 7]; from the inside
 * host, in the remote's [ISN_IN + 1, + 1000 << 7]. A RST resets only
 * from the left edge; a FIN must also acknowledge no more than the other
 * side can have sent (its sender's acknowledgment plus the window that
 * sender offered, with 64 KiB of slack either way).
 */
static const struct {
	const char *name;
	bool out;
	__u8 flags;
	__u32 seq;
	__u32 ack; /* 0: the sender's acknowledgment after the handshake */
	bool scaled; /* the SYNs offered window scale 7 */
	enum verdict verdict;
	__u8 state; /* when it MOVES */
} window_cases[] = {
	{ "rst_in_exact", false, PKT_TCP_RST, ISN_REMOTE + 1, 0, true, MOVES,
	  BPFMASQ_TCP_RST_SEEN },
	{ "rst_in_window", false, PKT_TCP_RST, ISN_REMOTE + 30000, 0, true,
	  DOUBTED, 0 },
	{ "rst_in_right_edge", false, PKT_TCP_RST | PKT_TCP_ACK,
	  ISN_REMOTE + 1 + (WIN_IN << WSCALE), 0, true, DOUBTED, 0 },
	{ "rst_in_past_edge", false, PKT_TCP_RST,
	  ISN_REMOTE + 2 + (WIN_IN << WSCALE), 0, true, IGNORED, 0 },
	{ "rst_in_before_window", false, PKT_TCP_RST, ISN_REMOTE, 0, true,
	  IGNORED, 0 },
	{ "rst_in_far", false, PKT_TCP_RST, ISN_REMOTE + 0x40000000, 0, true,
	  IGNORED, 0 },
	/* Without window scaling, 30000 is past a 502-byte window. */
	{ "rst_in_unscaled", false, PKT_TCP_RST, ISN_REMOTE + 30000, 0, false,
	  IGNORED, 0 },
	{ "rst_in_unscaled_window", false, PKT_TCP_RST, ISN_REMOTE + 400, 0,
	  false, DOUBTED, 0 },
	{ "rst_in_unscaled_exact", false, PKT_TCP_RST | PKT_TCP_ACK,
	  ISN_REMOTE + 1, 0, false, MOVES, BPFMASQ_TCP_RST_SEEN },
	{ "fin_in_window", false, PKT_TCP_FIN | PKT_TCP_ACK, ISN_REMOTE + 1, 0,
	  true, MOVES, BPFMASQ_TCP_FIN_SEEN },
	{ "fin_in_out_of_window", false, PKT_TCP_FIN | PKT_TCP_ACK,
	  ISN_REMOTE + 0x12345678, 0, true, IGNORED, 0 },
	/* The inside host has sent 1; the remote offered it 1000 << 7. */
	{ "fin_in_ack_at_edge", false, PKT_TCP_FIN | PKT_TCP_ACK,
	  ISN_REMOTE + 1, ISN_IN + 1 + (WIN_REMOTE << WSCALE) + 65536, true,
	  MOVES, BPFMASQ_TCP_FIN_SEEN },
	{ "fin_in_ack_ahead", false, PKT_TCP_FIN | PKT_TCP_ACK, ISN_REMOTE + 1,
	  ISN_IN + 2 + (WIN_REMOTE << WSCALE) + 65536, true, IGNORED, 0 },
	{ "fin_in_ack_behind", false, PKT_TCP_FIN | PKT_TCP_ACK, ISN_REMOTE + 1,
	  ISN_IN - 65536, true, IGNORED, 0 },
	{ "fin_in_ack_slightly_behind", false, PKT_TCP_FIN | PKT_TCP_ACK,
	  ISN_REMOTE + 1, ISN_IN + 1 - 65536, true, MOVES,
	  BPFMASQ_TCP_FIN_SEEN },
	{ "fin_in_no_ack", false, PKT_TCP_FIN, ISN_REMOTE + 1, 0, true, IGNORED,
	  0 },
	{ "rst_out_exact", true, PKT_TCP_RST | PKT_TCP_ACK, ISN_IN + 1, 0, true,
	  MOVES, BPFMASQ_TCP_RST_SEEN },
	{ "rst_out_window", true, PKT_TCP_RST | PKT_TCP_ACK, ISN_IN + 100000, 0,
	  true, DOUBTED, 0 },
	{ "rst_out_past_edge", true, PKT_TCP_RST,
	  ISN_IN + 2 + (WIN_REMOTE << WSCALE), 0, true, IGNORED, 0 },
	{ "fin_out_window", true, PKT_TCP_FIN | PKT_TCP_ACK, ISN_IN + 1, 0,
	  true, MOVES, BPFMASQ_TCP_FIN_SEEN },
	{ "fin_out_out_of_window", true, PKT_TCP_FIN | PKT_TCP_ACK, ISN_IN - 1,
	  0, true, IGNORED, 0 },
	/* The remote has sent 1; the inside host offered it 502 << 7. */
	{ "fin_out_ack_ahead", true, PKT_TCP_FIN | PKT_TCP_ACK, ISN_IN + 1,
	  ISN_REMOTE + 2 + (WIN_IN << WSCALE) + 65536, true, IGNORED, 0 },
};

PROG_TEST(tcp_window, TEST_REPLIES | TEST_SUBTESTS)
{
	struct bpfmasq_session s;
	struct fixture fx;
	size_t i;
	__u32 ack;

	for (i = 0; i < ARRAY_SIZE(window_cases); i++) {
		if (!test_subtest("%s", window_cases[i].name))
			continue;
		if (!fx_setup(&fx, &fx_one_port))
			continue;
		if (!handshake(&fx, window_cases[i].scaled))
			goto next;
		ack = window_cases[i].ack;
		if (!ack)
			ack = window_cases[i].out ? ISN_REMOTE + 1 : ISN_IN + 1;
		/* Translated and forwarded, in window or not. */
		if (!step(&fx, window_cases[i].out, window_cases[i].flags,
			  window_cases[i].seq, ack,
			  window_cases[i].out ? WIN_IN : WIN_REMOTE))
			goto next;
		if (!ASSERT_OK(tcp_session(&fx, &s), "session"))
			goto next;
		ASSERT_EQ(s.tcp_state,
			  window_cases[i].verdict == MOVES
				  ? window_cases[i].state
				  : BPFMASQ_TCP_ESTABLISHED,
			  "tcp_state");
		ASSERT_EQ(!!(s.flags & BPFMASQ_SESS_RST_UNSURE),
			  window_cases[i].verdict == DOUBTED, "RST_UNSURE");
		ASSERT_EQ(
			bpfmasq_gives_way(IPPROTO_TCP, &s),
			window_cases[i].verdict != IGNORED &&
				(window_cases[i].verdict == DOUBTED ||
				 window_cases[i].state == BPFMASQ_TCP_RST_SEEN),
			"gives way");
		if (window_cases[i].verdict == IGNORED)
			ASSERT_EQ(s.flags & (BPFMASQ_SESS_FIN_OUT |
					     BPFMASQ_SESS_FIN_IN),
				  0, "FIN flags");
		ASSERT_STAT(&fx, BPFMASQ_STAT_TCP_OUT_OF_WINDOW,
			    window_cases[i].verdict == IGNORED);
		ASSERT_STAT(&fx, BPFMASQ_STAT_TCP_RST_INEXACT,
			    window_cases[i].verdict == DOUBTED);
		ASSERT_STAT(&fx, BPFMASQ_STAT_TRANSLATED_OUT,
			    window_cases[i].out ? 3 : 2);
		ASSERT_STAT(&fx, BPFMASQ_STAT_TRANSLATED_IN,
			    window_cases[i].out ? 2 : 3);
	next:
		fx_teardown(&fx);
	}
}

/*
 * A RST in the window but not at its edge leaves the connection in
 * doubt: established, on its own timeout, but giving way under pressure.
 * The challenge ACK that the end host answers it with clears the doubt;
 * a later RST at the edge resets the session, with no doubt left.
 */
PROG_TEST(tcp_rst_unsure, TEST_REPLIES)
{
	const struct bpfmasq_session_key key = { .proto = IPPROTO_TCP };
	struct bpfmasq_instance inst = {};
	struct bpfmasq_session s;
	struct fixture fx;
	size_t i;

	for (i = 0; i < BPFMASQ_TIMEOUT_MAX; i++)
		inst.timeouts[i] = 100 + i;
	if (!fx_setup(&fx, &fx_one_port))
		return;
	if (!handshake(&fx, true) ||
	    !step(&fx, false, PKT_TCP_RST, ISN_REMOTE + 5000, 0, 0) ||
	    !ASSERT_OK(tcp_session(&fx, &s), "session"))
		goto out;
	ASSERT_EQ(s.tcp_state, BPFMASQ_TCP_ESTABLISHED, "after the RST");
	ASSERT_EQ(!!(s.flags & BPFMASQ_SESS_RST_UNSURE), 1, "in doubt");
	ASSERT_EQ(session_timeout(&inst, &key, &s),
		  100 + BPFMASQ_TIMEOUT_TCP_EST, "timeout in doubt");
	ASSERT_EQ(bpfmasq_gives_way(IPPROTO_TCP, &s), 1, "gives way");
	/* The inside host's challenge ACK. */
	if (!step(&fx, true, PKT_TCP_ACK, ISN_IN + 1, ISN_REMOTE + 1, WIN_IN) ||
	    !ASSERT_OK(tcp_session(&fx, &s), "session"))
		goto out;
	ASSERT_EQ(s.flags & BPFMASQ_SESS_RST_UNSURE, 0, "after the ACK");
	ASSERT_EQ(bpfmasq_gives_way(IPPROTO_TCP, &s), 0, "gives way");
	/* Again, and a FIN clears it too (from the slow path). */
	if (!step(&fx, false, PKT_TCP_RST, ISN_REMOTE + 6000, 0, 0) ||
	    !step(&fx, true, PKT_TCP_FIN | PKT_TCP_ACK, ISN_IN + 1,
		  ISN_REMOTE + 1, WIN_IN) ||
	    !ASSERT_OK(tcp_session(&fx, &s), "session"))
		goto out;
	ASSERT_EQ(s.tcp_state, BPFMASQ_TCP_FIN_SEEN, "after the FIN");
	ASSERT_EQ(s.flags & BPFMASQ_SESS_RST_UNSURE, 0, "after the FIN");
	ASSERT_STAT(&fx, BPFMASQ_STAT_TCP_RST_INEXACT, 2);
	if (!step(&fx, false, PKT_TCP_RST, ISN_REMOTE + 7000, 0, 0) ||
	    !step(&fx, false, PKT_TCP_RST, ISN_REMOTE + 1, 0, 0) ||
	    !ASSERT_OK(tcp_session(&fx, &s), "session"))
		goto out;
	ASSERT_EQ(s.tcp_state, BPFMASQ_TCP_RST_SEEN, "after the exact RST");
	ASSERT_EQ(s.flags & BPFMASQ_SESS_RST_UNSURE, 0, "after the exact RST");
	ASSERT_STAT(&fx, BPFMASQ_STAT_TCP_RST_INEXACT, 3);
	ASSERT_STAT(&fx, BPFMASQ_STAT_TCP_OUT_OF_WINDOW, 0);
out:
	fx_teardown(&fx);
}

/*
 * The windows follow the connection: after the remote acknowledged data
 * and opened its window, a RST from the inside host that was past the
 * old right edge is within the new one; one behind the new left edge is
 * not. Segments arriving late do not take the window back.
 */
PROG_TEST(tcp_window_moves, TEST_REPLIES)
{
	const __u32 acked = ISN_IN + 1 + 200000;
	struct fixture fx;

	if (!fx_setup(&fx, &fx_one_port))
		return;
	if (!handshake(&fx, true))
		goto out;
	/* The remote acknowledges 200000 bytes and offers 2000 << 7. */
	if (!step(&fx, false, PKT_TCP_ACK, ISN_REMOTE + 1, acked, 2000))
		goto out;
	/* A late duplicate of its old acknowledgment. */
	if (!step(&fx, false, PKT_TCP_ACK, ISN_REMOTE + 1, ISN_IN + 1,
		  WIN_REMOTE))
		goto out;
	if (!step(&fx, true, PKT_TCP_RST, ISN_IN + 100, 0, 0) ||
	    !expect_state(&fx, BPFMASQ_TCP_ESTABLISHED, "behind the window"))
		goto out;
	ASSERT_STAT(&fx, BPFMASQ_STAT_TCP_OUT_OF_WINDOW, 1);
	if (!step(&fx, true, PKT_TCP_RST, acked + (2000 << WSCALE) - 1, 0, 0) ||
	    !expect_state(&fx, BPFMASQ_TCP_ESTABLISHED, "in the new window"))
		goto out;
	ASSERT_STAT(&fx, BPFMASQ_STAT_TCP_RST_INEXACT, 1);
	if (step(&fx, true, PKT_TCP_RST, acked, 0, 0))
		expect_state(&fx, BPFMASQ_TCP_RST_SEEN, "at the new edge");
	ASSERT_STAT(&fx, BPFMASQ_STAT_TCP_OUT_OF_WINDOW, 1);
out:
	fx_teardown(&fx);
}

/*
 * A RST answering the inside host's SYN must acknowledge it (RFC 9293
 * 3.10.7.3): another one leaves the session opening.
 */
PROG_TEST(tcp_syn_sent_rst, TEST_REPLIES)
{
	struct fixture fx;

	if (!fx_setup(&fx, &fx_one_port))
		return;
	if (!step(&fx, true, PKT_TCP_SYN, ISN_IN, 0, 64240))
		goto out;
	if (!step(&fx, false, PKT_TCP_RST | PKT_TCP_ACK, 0, ISN_IN + 7, 0) ||
	    !expect_state(&fx, BPFMASQ_TCP_SYN_SENT, "wrong acknowledgment"))
		goto out;
	if (!step(&fx, false, PKT_TCP_RST, 0, ISN_IN + 1, 0) ||
	    !expect_state(&fx, BPFMASQ_TCP_SYN_SENT, "no ACK flag"))
		goto out;
	ASSERT_STAT(&fx, BPFMASQ_STAT_TCP_OUT_OF_WINDOW, 2);
	if (step(&fx, false, PKT_TCP_RST | PKT_TCP_ACK, 0, ISN_IN + 1, 0))
		expect_state(&fx, BPFMASQ_TCP_RST_SEEN,
			     "acknowledging the SYN");
	ASSERT_STAT(&fx, BPFMASQ_STAT_TCP_OUT_OF_WINDOW, 2);
out:
	fx_teardown(&fx);
}

/*
 * A bare ACK (no session, e.g. after a flush) picks the connection up, on
 * the transitory timeout; the remote's answer from within the inside
 * host's window makes it established, one from outside does not. The
 * windows are learnt from that traffic: a RST outside them moves nothing
 * afterwards. The SYNs were not seen, so the scale is taken as 14.
 */
PROG_TEST(tcp_picked_up, TEST_REPLIES)
{
	const __u32 in_ack = 7000000, remote_ack = 3000000;
	struct bpfmasq_session s;
	struct fixture fx;

	if (!fx_setup(&fx, &fx_one_port))
		return;
	if (!step(&fx, true, PKT_TCP_ACK, remote_ack, in_ack, 4) ||
	    !expect_state(&fx, BPFMASQ_TCP_PICKED_UP, "bare ACK"))
		goto out;
	/* Behind the inside host's acknowledgment: not an answer. */
	if (!step(&fx, false, PKT_TCP_ACK, in_ack - 1, remote_ack, 100) ||
	    !expect_state(&fx, BPFMASQ_TCP_PICKED_UP, "stale answer"))
		goto out;
	/* 4 << 14 = 65536 bytes: this is just past it. */
	if (!step(&fx, false, PKT_TCP_ACK, in_ack + 65537, remote_ack, 100) ||
	    !expect_state(&fx, BPFMASQ_TCP_PICKED_UP, "answer past the window"))
		goto out;
	if (!step(&fx, false, PKT_TCP_ACK | PKT_TCP_PSH, in_ack + 65536,
		  remote_ack, 100) ||
	    !expect_state(&fx, BPFMASQ_TCP_ESTABLISHED, "answer"))
		goto out;
	if (ASSERT_OK(tcp_session(&fx, &s), "session")) {
		ASSERT_EQ(s.u.tcp[0].ack, in_ack, "inside ack");
		ASSERT_EQ(s.u.tcp[0].win, 4, "inside win");
		ASSERT_EQ(s.u.tcp[0].wscale, BPFMASQ_WSCALE_MAX,
			  "inside wscale");
		ASSERT_EQ(s.u.tcp[1].ack, remote_ack, "remote ack");
		ASSERT_EQ(s.u.tcp[1].win, 100, "remote win");
	}
	if (!step(&fx, false, PKT_TCP_RST, in_ack + 70000, 0, 0) ||
	    !expect_state(&fx, BPFMASQ_TCP_ESTABLISHED, "RST past the window"))
		goto out;
	if (!step(&fx, true, PKT_TCP_FIN | PKT_TCP_ACK, remote_ack - 1, in_ack,
		  4) ||
	    !expect_state(&fx, BPFMASQ_TCP_ESTABLISHED,
			  "FIN behind the window"))
		goto out;
	ASSERT_STAT(&fx, BPFMASQ_STAT_TCP_OUT_OF_WINDOW, 2);
	if (!step(&fx, false, PKT_TCP_RST, in_ack + 100, 0, 0) ||
	    !expect_state(&fx, BPFMASQ_TCP_ESTABLISHED, "RST in the window"))
		goto out;
	ASSERT_STAT(&fx, BPFMASQ_STAT_TCP_RST_INEXACT, 1);
	if (step(&fx, false, PKT_TCP_RST, in_ack, 0, 0))
		expect_state(&fx, BPFMASQ_TCP_RST_SEEN, "RST at its edge");
	ASSERT_TABLES(&fx, 1, 1);
out:
	fx_teardown(&fx);
}

/* Both sides send a SYN before either answers (RFC 9293 3.5). */
PROG_TEST(tcp_simultaneous_open, TEST_REPLIES)
{
	struct fixture fx;

	if (!fx_setup(&fx, &fx_one_port))
		return;
	if (!step(&fx, true, PKT_TCP_SYN, ISN_IN, 0, 64240) ||
	    !step(&fx, false, PKT_TCP_SYN, ISN_REMOTE, 0, 64240) ||
	    !expect_state(&fx, BPFMASQ_TCP_SYN_SENT, "both SYNs"))
		goto out;
	if (!step(&fx, true, PKT_TCP_SYN | PKT_TCP_ACK, ISN_IN, ISN_REMOTE + 1,
		  64240) ||
	    !step(&fx, false, PKT_TCP_SYN | PKT_TCP_ACK, ISN_REMOTE, ISN_IN + 1,
		  64240) ||
	    !expect_state(&fx, BPFMASQ_TCP_ESTABLISHED, "both SYN-ACKs"))
		goto out;
	/* Both windows are known: 64240 bytes, unscaled. */
	if (!step(&fx, false, PKT_TCP_RST, ISN_REMOTE + 64242, 0, 0) ||
	    !step(&fx, true, PKT_TCP_RST, ISN_IN + 64242, 0, 0) ||
	    !expect_state(&fx, BPFMASQ_TCP_ESTABLISHED, "RSTs past the window"))
		goto out;
	ASSERT_STAT(&fx, BPFMASQ_STAT_TCP_OUT_OF_WINDOW, 2);
	if (step(&fx, true, PKT_TCP_FIN | PKT_TCP_ACK, ISN_IN + 1,
		 ISN_REMOTE + 1, 64240) &&
	    step(&fx, false, PKT_TCP_FIN | PKT_TCP_ACK, ISN_REMOTE + 1,
		 ISN_IN + 2, 64240))
		expect_state(&fx, BPFMASQ_TCP_CLOSED, "both FINs");
out:
	fx_teardown(&fx);
}

/*
 * A new SYN on the tuple of a closing connection (its TIME_WAIT over)
 * opens a new one, whose windows are its own: the old one's numbers are
 * out of them.
 */
PROG_TEST(tcp_reuse_closing, TEST_REPLIES)
{
	const __u32 isn2 = ISN_IN + 0x20000000;
	const __u32 isn2_remote = ISN_REMOTE + 0x30000000;
	struct fixture fx;

	if (!fx_setup(&fx, &fx_one_port))
		return;
	if (!handshake(&fx, true) ||
	    !step(&fx, true, PKT_TCP_FIN | PKT_TCP_ACK, ISN_IN + 1,
		  ISN_REMOTE + 1, WIN_IN) ||
	    !expect_state(&fx, BPFMASQ_TCP_FIN_SEEN, "one FIN"))
		goto out;
	if (!step(&fx, true, PKT_TCP_SYN, isn2, 0, 64240) ||
	    !expect_state(&fx, BPFMASQ_TCP_SYN_SENT, "new SYN"))
		goto out;
	if (!step(&fx, false, PKT_TCP_SYN | PKT_TCP_ACK, isn2_remote, isn2 + 1,
		  64240) ||
	    !step(&fx, true, PKT_TCP_ACK, isn2 + 1, isn2_remote + 1, 64240) ||
	    !expect_state(&fx, BPFMASQ_TCP_ESTABLISHED, "new handshake"))
		goto out;
	if (!step(&fx, false, PKT_TCP_RST, ISN_REMOTE + 1, 0, 0) ||
	    !expect_state(&fx, BPFMASQ_TCP_ESTABLISHED, "old connection's RST"))
		goto out;
	ASSERT_STAT(&fx, BPFMASQ_STAT_TCP_OUT_OF_WINDOW, 1);
	if (step(&fx, false, PKT_TCP_RST, isn2_remote + 1, 0, 0))
		expect_state(&fx, BPFMASQ_TCP_RST_SEEN, "new connection's RST");
out:
	fx_teardown(&fx);
}

/* The timeout the GC gives each TCP state (user/gc.c). */
/* Not .fast: sends no packet. */
PROG_TEST(tcp_state_timeouts, TEST_NO_FAST)
{
	static const struct {
		__u8 state;
		enum bpfmasq_timeout timeout;
	} cases[] = {
		{ BPFMASQ_TCP_SYN_SENT, BPFMASQ_TIMEOUT_TCP_TRANS },
		{ BPFMASQ_TCP_ESTABLISHED, BPFMASQ_TIMEOUT_TCP_EST },
		{ BPFMASQ_TCP_FIN_SEEN, BPFMASQ_TIMEOUT_TCP_TRANS },
		{ BPFMASQ_TCP_RST_SEEN, BPFMASQ_TIMEOUT_TCP_CLOSE },
		{ BPFMASQ_TCP_CLOSED, BPFMASQ_TIMEOUT_TCP_CLOSE },
		{ BPFMASQ_TCP_PICKED_UP, BPFMASQ_TIMEOUT_TCP_TRANS },
	};
	const struct bpfmasq_session_key key = { .proto = IPPROTO_TCP };
	struct bpfmasq_instance inst = {};
	struct bpfmasq_session s = {};
	size_t i;

	for (i = 0; i < BPFMASQ_TIMEOUT_MAX; i++)
		inst.timeouts[i] = 100 + i;
	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		test_ctx("state %u", cases[i].state);
		s.tcp_state = cases[i].state;
		ASSERT_EQ(session_timeout(&inst, &key, &s),
			  100 + cases[i].timeout, "timeout");
	}
	test_ctx(NULL);
}

/* The window scale option, wherever the SYNs carry it (RFC 7323 2). */
static const struct {
	const char *name;
	__u8 opts[20];
	__u8 len;
	__u8 wscale;
} wscale_cases[] = {
	{ "linux", /* MSS, SACK permitted, timestamps, NOP, WS 7 */
	  { 0x02, 0x04, 0x05, 0xb4, 0x04, 0x02, 0x08, 0x0a, 0x00, 0x11,
	    0x22, 0x33, 0x00, 0x00, 0x00, 0x00, 0x01, 0x03, 0x03, 0x07 },
	  20,
	  7 },
	{ "windows", /* MSS, NOP, WS 8, NOP, NOP, SACK permitted */
	  { 0x02, 0x04, 0x05, 0xb4, 0x01, 0x03, 0x03, 0x08, 0x01, 0x01, 0x04,
	    0x02 },
	  12,
	  8 },
	{ "capped", { 0x01, 0x03, 0x03, 0x0f }, 4, BPFMASQ_WSCALE_MAX },
	{ "absent", { 0x02, 0x04, 0x05, 0xb4 }, 4, 0 },
	{ "after_eol",
	  { 0x02, 0x04, 0x05, 0xb4, 0x00, 0x03, 0x03, 0x07 },
	  8,
	  0 },
	/* An option of length 0 cannot be skipped: it might hide one. */
	{ "malformed",
	  { 0x02, 0x00, 0x05, 0xb4, 0x01, 0x01, 0x01, 0x01 },
	  8,
	  BPFMASQ_WSCALE_MAX },
	{ "truncated", { 0x01, 0x01, 0x01, 0x03 }, 4, BPFMASQ_WSCALE_MAX },
};

PROG_TEST(tcp_wscale, TEST_REPLIES | TEST_SUBTESTS)
{
	struct bpfmasq_session s;
	struct pkt_spec syn, synack;
	struct fixture fx;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(wscale_cases); i++) {
		if (!test_subtest("%s", wscale_cases[i].name))
			continue;
		if (!fx_setup(&fx, &fx_one_port))
			continue;
		syn = seg(true, PKT_TCP_SYN, ISN_IN, 0, 64240);
		synack = seg(false, PKT_TCP_SYN | PKT_TCP_ACK, ISN_REMOTE,
			     ISN_IN + 1, 65160);
		syn.tcp_opts = synack.tcp_opts = wscale_cases[i].opts;
		syn.tcp_opts_len = synack.tcp_opts_len = wscale_cases[i].len;
		if (send_seg(&fx, &syn, true) &&
		    send_seg(&fx, &synack, false) &&
		    ASSERT_OK(tcp_session(&fx, &s), "session")) {
			ASSERT_EQ(s.u.tcp[0].wscale, wscale_cases[i].wscale,
				  "inside wscale");
			ASSERT_EQ(s.u.tcp[1].wscale, wscale_cases[i].wscale,
				  "remote wscale");
		}
		fx_teardown(&fx);
	}
}
