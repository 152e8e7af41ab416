// SPDX-License-Identifier: GPL-2.0
/*
 * t_share.c - ports shared when a pool runs dry (NAT44-ED, share.h): a new
 * flow borrows a port another mapping owns, for its own remote only; the
 * LENT entry in the owner's session key with that remote, the SHARED
 * session of the borrower; replies and ICMP errors on both sides of the
 * port; the end of a borrow, by the control program and the collector;
 * and --port-sharing off.
 *
 * The pool is one port (fx_one_port) that HOST1:OWNER_PORT owns, by a flow
 * to REMOTE1:53: every port a borrower may pick is that one, so the
 * random choice is forced.
 */
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>
#include <string.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "check.h"
#include "model.h"
#include "scenario.h"

#define REMOTE3 IP4(198, 51, 100, 11)
#define SHARED_PORT IN_RANGE_PORT /* the one port of fx_one_port */
#define OWNER_PORT 5000 /* HOST1's */
#define BORROWER_PORT 6000
#define UDP_TIMEOUT_NS (300ull * NS_PER_S) /* the default --timeout-udp */

static struct bpfmasq_session_key skey(__be32 inside, __u16 inside_port,
				       __be32 remote, __u16 remote_port)
{
	return (struct bpfmasq_session_key){ .inside_addr = inside,
					     .remote_addr = remote,
					     .inside_port = htons(inside_port),
					     .remote_port = htons(remote_port),
					     .proto = IPPROTO_UDP };
}

/*
 * A fresh instance of @opts (NULL: fx_one_port) whose port SHARED_PORT
 * HOST1:OWNER_PORT owns, by its flow to REMOTE1:53.
 */
static bool setup_owner(struct fixture *fx, const struct fx_opts *opts)
{
	struct pkt_spec q = udp_spec(HOST1, OWNER_PORT, REMOTE1, 53, query);
	__u16 port;
	bool ok;

	test_ctx("owner's flow");
	ok = setup_flow(fx, opts ? opts : &fx_one_port, &q, &port) &&
	     ASSERT_EQ(port, SHARED_PORT, "owner's external port");
	test_ctx(NULL);
	return ok;
}

/* A UDP flow from @host:@port to @remote:@rport, translated to @ext. */
static bool udp_out(struct fixture *fx, __be32 host, __u16 port, __be32 remote,
		    __u16 rport, __u16 ext)
{
	struct pkt_spec q = udp_spec(host, port, remote, rport, query);
	__u16 got;

	return send_out(fx, &q, &got) &&
	       ASSERT_EQ(got, ext, "outbound external port");
}

/* An answer from @remote:@rport to @ext that must reach @host:@port. */
static bool udp_in(struct fixture *fx, __be32 remote, __u16 rport, __u16 ext,
		   __be32 host, __u16 port)
{
	struct pkt_spec a = udp_spec(remote, rport, EXT_ADDR, ext, answer);

	return send_in(fx, &a, host, port);
}

/* A UDP packet out that is dropped, untouched. */
static bool udp_out_dropped(struct fixture *fx, __be32 host, __u16 port,
			    __be32 remote, __u16 rport)
{
	struct pkt_spec q = udp_spec(host, port, remote, rport, query);

	return expect_untouched_spec(fx, true, &q, TC_SHOT);
}

/* An answer to @ext that passes to the gateway's stack, untouched. */
static bool udp_in_untouched(struct fixture *fx, __be32 remote, __u16 rport,
			     __u16 ext)
{
	struct pkt_spec a = udp_spec(remote, rport, EXT_ADDR, ext, answer);

	return expect_untouched_spec(fx, false, &a, XDP_VERDICT_PASS);
}

/*
 * The LENT entry in the key of @owner:@oport with @remote:@rport: port @ext
 * lent to @to:@to_port, and no traffic of its own.
 */
static bool expect_lent_proto(struct fixture *fx, __u8 proto, __be32 owner,
			      __u16 oport, __be32 remote, __u16 rport,
			      __u16 ext, __be32 to, __u16 to_port)
{
	struct bpfmasq_session s;
	bool ok;

	if (!ASSERT_OK(fx_session(fx, owner, oport, remote, rport, proto, &s),
		       "LENT entry lookup"))
		return false;
	ok = ASSERT_EQ(s.flags, BPFMASQ_SESS_LENT, "LENT entry flags");
	ok &= ASSERT_EQ(ntohl(s.ext_addr), ntohl(EXT_ADDR), "LENT ext_addr");
	ok &= ASSERT_EQ(ntohs(s.ext_port), ext, "LENT ext_port");
	ok &= ASSERT_EQ(ntohl(s.u.lent_to.addr), ntohl(to),
			"LENT lent_to addr");
	ok &= ASSERT_EQ(ntohs(s.u.lent_to.port), to_port, "LENT lent_to port");
	ok &= ASSERT_EQ(s.u.lent_to.proto, proto, "LENT lent_to proto");
	ok &= ASSERT_EQ(s.packets_out, 0, "LENT packets_out");
	ok &= ASSERT_EQ(s.packets_in, 0, "LENT packets_in");
	return ok;
}

static bool expect_lent(struct fixture *fx, __be32 owner, __u16 oport,
			__be32 remote, __u16 rport, __u16 ext, __be32 to,
			__u16 to_port)
{
	return expect_lent_proto(fx, IPPROTO_UDP, owner, oport, remote, rport,
				 ext, to, to_port);
}

/* No entry in the key of @inside:@port with @remote:@rport. */
static bool expect_no_session(struct fixture *fx, __be32 inside, __u16 port,
			      __be32 remote, __u16 rport, const char *what)
{
	struct bpfmasq_session s;

	return ASSERT_EQ(
		fx_session(fx, inside, port, remote, rport, IPPROTO_UDP, &s),
		-ENOENT, what);
}

/*
 * The SHARED session of @host:@port with @remote:@rport, on @ext, with so
 * many packets each way; @host has no mapping.
 */
static bool expect_shared_proto(struct fixture *fx, __u8 proto, __be32 host,
				__u16 port, __be32 remote, __u16 rport,
				__u16 ext, __u64 out, __u64 in)
{
	struct bpfmasq_mapping m;
	struct bpfmasq_session s;
	bool ok;

	if (!ASSERT_OK(fx_session(fx, host, port, remote, rport, proto, &s),
		       "SHARED session lookup"))
		return false;
	ok = ASSERT_EQ(s.flags,
		       BPFMASQ_SESS_SHARED | (in ? BPFMASQ_SESS_REPLIED : 0),
		       "SHARED session flags");
	ok &= ASSERT_EQ(ntohl(s.ext_addr), ntohl(EXT_ADDR), "SHARED ext_addr");
	ok &= ASSERT_EQ(ntohs(s.ext_port), ext, "SHARED ext_port");
	ok &= ASSERT_EQ(s.packets_out, out, "SHARED packets_out");
	ok &= ASSERT_EQ(s.packets_in, in, "SHARED packets_in");
	ok &= ASSERT_EQ(fx_mapping(fx, host, port, proto, &m), -ENOENT,
			"borrower's mapping lookup");
	return ok;
}

static bool expect_shared(struct fixture *fx, __be32 host, __u16 port,
			  __be32 remote, __u16 rport, __u16 ext, __u64 out,
			  __u64 in)
{
	return expect_shared_proto(fx, IPPROTO_UDP, host, port, remote, rport,
				   ext, out, in);
}

/* Port @ext is owned by @owner:@oport. */
static bool expect_owner(struct fixture *fx, __u16 ext, __be32 owner,
			 __u16 oport)
{
	struct bpfmasq_endpoint o;
	bool ok;

	if (!ASSERT_OK(fx_owner(fx, EXT_ADDR, ext, IPPROTO_UDP, &o),
		       "port owner lookup"))
		return false;
	ok = ASSERT_EQ(ntohl(o.addr), ntohl(owner), "port owner addr");
	ok &= ASSERT_EQ(ntohs(o.port), oport, "port owner port");
	return ok;
}

/* SESSION_EXPIRE of @k with @stamp: the control program's answer. */
static int ctl_expire(struct fixture *fx, const struct bpfmasq_session_key *k,
		      __u64 stamp)
{
	struct bpfmasq_ctl_args a = { .op = BPFMASQ_CTL_SESSION_EXPIRE,
				      .stamp = stamp,
				      .now_ns = now_boot_ns(),
				      .session = *k };

	return ctl_run(&fx->maps, &a);
}

/* last_ns of session @k, or 0 (with a failure) if there is none. */
static __u64 last_ns_of(struct fixture *fx, const struct bpfmasq_session_key *k)
{
	struct bpfmasq_session s;

	if (!ASSERT_OK(bpf_map_lookup_elem(fx->maps.sessions, k, &s) ? -errno
								     : 0,
		       "session lookup"))
		return 0;
	return s.last_ns;
}

/* Set last_ns of session @k, as if its last packet had come then. */
static bool set_last_ns(struct fixture *fx, const struct bpfmasq_session_key *k,
			__u64 last_ns)
{
	struct bpfmasq_session s;

	if (!ASSERT_OK(bpf_map_lookup_elem(fx->maps.sessions, k, &s) ? -errno
								     : 0,
		       "session lookup"))
		return false;
	s.last_ns = last_ns;
	return ASSERT_OK(
		bpf_map_update_elem(fx->maps.sessions, k, &s, BPF_EXIST)
			? -errno
			: 0,
		"setting last_ns");
}

/*
 * The pool is empty: HOST2 borrows the owner's port for REMOTE2, a remote
 * the owner does not talk to. The owner keeps the port and its mapping;
 * the borrower gets a SHARED session and no mapping; the LENT entry sits
 * in the owner's key with REMOTE2. A second packet of the shared flow
 * finds its session: no second borrow.
 */
PROG_TEST(share_borrow, 0)
{
	struct fixture fx;

	if (!setup_owner(&fx, NULL))
		goto out;
	test_ctx("borrower");
	if (!udp_out(&fx, HOST2, BORROWER_PORT, REMOTE2, 53, SHARED_PORT))
		goto out;
	test_ctx(NULL);
	expect_lent(&fx, HOST1, OWNER_PORT, REMOTE2, 53, SHARED_PORT, HOST2,
		    BORROWER_PORT);
	expect_shared(&fx, HOST2, BORROWER_PORT, REMOTE2, 53, SHARED_PORT, 1,
		      0);
	expect_owner(&fx, SHARED_PORT, HOST1, OWNER_PORT);
	ASSERT_TABLES(&fx, 1, 3);
	ASSERT_STATS(&fx, STAT(TRANSLATED_OUT, 2), STAT(NEW_MAPPING, 1),
		     STAT(NEW_SESSION, 2), STAT(PORT_SHARED, 1));
	test_ctx("borrower again");
	if (!udp_out(&fx, HOST2, BORROWER_PORT, REMOTE2, 53, SHARED_PORT))
		goto out;
	test_ctx(NULL);
	expect_shared(&fx, HOST2, BORROWER_PORT, REMOTE2, 53, SHARED_PORT, 2,
		      0);
	ASSERT_TABLES(&fx, 1, 3);
	ASSERT_STATS(&fx, STAT(TRANSLATED_OUT, 3), STAT(NEW_MAPPING, 1),
		     STAT(NEW_SESSION, 2), STAT(PORT_SHARED, 1));
out:
	fx_teardown(&fx);
}

/*
 * The owner talks to REMOTE1:53 from the only port: a flow of HOST2 to
 * that same remote cannot share it, and finds the pool empty. The owner's
 * session is left as it was.
 */
PROG_TEST(share_same_remote_refused, 0)
{
	struct bpfmasq_session s;
	struct fixture fx;

	if (!setup_owner(&fx, NULL))
		goto out;
	udp_out_dropped(&fx, HOST2, BORROWER_PORT, REMOTE1, 53);
	expect_no_session(&fx, HOST2, BORROWER_PORT, REMOTE1, 53,
			  "refused flow's session lookup");
	if (ASSERT_OK(fx_session(&fx, HOST1, OWNER_PORT, REMOTE1, 53,
				 IPPROTO_UDP, &s),
		      "owner's session lookup")) {
		ASSERT_EQ(s.flags, 0, "owner's session flags");
		ASSERT_EQ(s.packets_out, 1, "owner's packets_out");
	}
	ASSERT_TABLES(&fx, 1, 1);
	ASSERT_STATS(&fx, STAT(TRANSLATED_OUT, 1), STAT(NEW_MAPPING, 1),
		     STAT(NEW_SESSION, 1), STAT(PORT_POOL_EMPTY, 1));
	/* The owner's flow goes on. */
	test_ctx("owner again");
	udp_out(&fx, HOST1, OWNER_PORT, REMOTE1, 53, SHARED_PORT);
out:
	fx_teardown(&fx);
}

/*
 * While its port is lent for REMOTE2:53, the owner cannot start a flow to
 * that remote (port_lent, dropped); its flow to REMOTE1 goes on, and a new
 * one to another remote starts on its port as usual.
 */
PROG_TEST(share_owner_lent, 0)
{
	struct fixture fx;

	if (!setup_owner(&fx, NULL))
		goto out;
	test_ctx("borrower");
	if (!udp_out(&fx, HOST2, BORROWER_PORT, REMOTE2, 53, SHARED_PORT))
		goto out;
	test_ctx("owner to the lent remote");
	udp_out_dropped(&fx, HOST1, OWNER_PORT, REMOTE2, 53);
	test_ctx(NULL);
	expect_lent(&fx, HOST1, OWNER_PORT, REMOTE2, 53, SHARED_PORT, HOST2,
		    BORROWER_PORT);
	ASSERT_STATS(&fx, STAT(TRANSLATED_OUT, 2), STAT(NEW_MAPPING, 1),
		     STAT(NEW_SESSION, 2), STAT(PORT_SHARED, 1),
		     STAT(PORT_LENT, 1));
	test_ctx("owner to REMOTE1");
	udp_out(&fx, HOST1, OWNER_PORT, REMOTE1, 53, SHARED_PORT);
	test_ctx("owner to REMOTE2, another port");
	udp_out(&fx, HOST1, OWNER_PORT, REMOTE2, 54, SHARED_PORT);
	test_ctx("owner to REMOTE3");
	udp_out(&fx, HOST1, OWNER_PORT, REMOTE3, 53, SHARED_PORT);
	test_ctx(NULL);
	expect_lent(&fx, HOST1, OWNER_PORT, REMOTE2, 53, SHARED_PORT, HOST2,
		    BORROWER_PORT);
	expect_shared(&fx, HOST2, BORROWER_PORT, REMOTE2, 53, SHARED_PORT, 1,
		      0);
	ASSERT_TABLES(&fx, 1, 5);
	ASSERT_STATS(&fx, STAT(TRANSLATED_OUT, 5), STAT(NEW_MAPPING, 1),
		     STAT(NEW_SESSION, 4), STAT(PORT_SHARED, 1),
		     STAT(PORT_LENT, 1));
out:
	fx_teardown(&fx);
}

/*
 * Replies to the shared port are told apart by their source: REMOTE2:53's
 * reach the borrower, REMOTE1:53's the owner; REMOTE2 from another port
 * is no one's flow (filtered, untouched). Under endpoint-independent
 * filtering the same, except that the last opens a session of the owner.
 */
PROG_TEST(share_replies, TEST_REPLIES | TEST_SUBTESTS)
{
	static const __u8 filterings[] = { BPFMASQ_FILTER_DEPENDENT,
					   BPFMASQ_FILTER_INDEPENDENT };
	struct bpfmasq_session s;
	struct fx_opts opts;
	struct fixture fx;
	size_t i;
	bool eif;

	for (i = 0; i < ARRAY_SIZE(filterings); i++) {
		eif = filterings[i] == BPFMASQ_FILTER_INDEPENDENT;
		if (!test_subtest("%s", eif ? "independent" : "dependent"))
			continue;
		opts = fx_one_port;
		opts.filtering = filterings[i];
		if (!setup_owner(&fx, &opts))
			goto next;
		test_ctx("borrower");
		if (!udp_out(&fx, HOST2, BORROWER_PORT, REMOTE2, 53,
			     SHARED_PORT))
			goto next;
		test_ctx("reply from REMOTE2");
		udp_in(&fx, REMOTE2, 53, SHARED_PORT, HOST2, BORROWER_PORT);
		test_ctx("reply from REMOTE1");
		udp_in(&fx, REMOTE1, 53, SHARED_PORT, HOST1, OWNER_PORT);
		test_ctx("reply from REMOTE2 again");
		udp_in(&fx, REMOTE2, 53, SHARED_PORT, HOST2, BORROWER_PORT);
		test_ctx(NULL);
		expect_shared(&fx, HOST2, BORROWER_PORT, REMOTE2, 53,
			      SHARED_PORT, 1, 2);
		expect_lent(&fx, HOST1, OWNER_PORT, REMOTE2, 53, SHARED_PORT,
			    HOST2, BORROWER_PORT);
		if (ASSERT_OK(fx_session(&fx, HOST1, OWNER_PORT, REMOTE1, 53,
					 IPPROTO_UDP, &s),
			      "owner's session lookup")) {
			ASSERT_EQ(s.flags, BPFMASQ_SESS_REPLIED,
				  "owner's session flags");
			ASSERT_EQ(s.packets_in, 1, "owner's packets_in");
		}
		test_ctx("REMOTE2 from another port");
		if (eif) {
			udp_in(&fx, REMOTE2, 54, SHARED_PORT, HOST1,
			       OWNER_PORT);
		} else {
			udp_in_untouched(&fx, REMOTE2, 54, SHARED_PORT);
		}
		test_ctx(NULL);
		ASSERT_TABLES(&fx, 1, eif ? 4 : 3);
		if (eif)
			ASSERT_STATS(&fx, STAT(TRANSLATED_OUT, 2),
				     STAT(TRANSLATED_IN, 4),
				     STAT(NEW_MAPPING, 1), STAT(NEW_SESSION, 3),
				     STAT(PORT_SHARED, 1));
		else
			ASSERT_STATS(&fx, STAT(TRANSLATED_OUT, 2),
				     STAT(TRANSLATED_IN, 3),
				     STAT(NEW_MAPPING, 1), STAT(NEW_SESSION, 2),
				     STAT(PORT_SHARED, 1), STAT(FILTERED, 1));
	next:
		fx_teardown(&fx);
	}
}

/*
 * The control program: a LENT entry cannot be expired while its SHARED
 * session is there; expiring the SHARED session takes its LENT entry with
 * it, in one run. Then REMOTE2's packets to the port are no one's, and the
 * owner may talk to REMOTE2 from it.
 */
PROG_TEST(share_expire_ctl, TEST_REPLIES)
{
	struct bpfmasq_session_key lk, bk;
	struct fixture fx;
	__u64 stamp;

	lk = skey(HOST1, OWNER_PORT, REMOTE2, 53);
	bk = skey(HOST2, BORROWER_PORT, REMOTE2, 53);
	if (!setup_owner(&fx, NULL))
		goto out;
	test_ctx("borrower");
	if (!udp_out(&fx, HOST2, BORROWER_PORT, REMOTE2, 53, SHARED_PORT))
		goto out;
	test_ctx(NULL);
	stamp = last_ns_of(&fx, &lk);
	ASSERT_EQ(ctl_expire(&fx, &lk, stamp), -EBUSY,
		  "expiring the LENT entry while shared");
	expect_lent(&fx, HOST1, OWNER_PORT, REMOTE2, 53, SHARED_PORT, HOST2,
		    BORROWER_PORT);
	stamp = last_ns_of(&fx, &bk);
	ASSERT_EQ(ctl_expire(&fx, &bk, stamp + 1), -EBUSY,
		  "expiring the SHARED session, refreshed meanwhile");
	if (!ASSERT_OK(ctl_expire(&fx, &bk, stamp),
		       "expiring the SHARED session"))
		goto out;
	expect_no_session(&fx, HOST2, BORROWER_PORT, REMOTE2, 53,
			  "SHARED session after its expiry");
	expect_no_session(&fx, HOST1, OWNER_PORT, REMOTE2, 53,
			  "LENT entry after its SHARED session's expiry");
	ASSERT_TABLES(&fx, 1, 1);
	expect_owner(&fx, SHARED_PORT, HOST1, OWNER_PORT);
	test_ctx("reply from REMOTE2, borrower gone");
	udp_in_untouched(&fx, REMOTE2, 53, SHARED_PORT);
	test_ctx("owner to REMOTE2");
	udp_out(&fx, HOST1, OWNER_PORT, REMOTE2, 53, SHARED_PORT);
	test_ctx("reply from REMOTE2, to the owner");
	udp_in(&fx, REMOTE2, 53, SHARED_PORT, HOST1, OWNER_PORT);
	test_ctx(NULL);
	ASSERT_TABLES(&fx, 1, 2);
	ASSERT_STATS(&fx, STAT(TRANSLATED_OUT, 3), STAT(TRANSLATED_IN, 1),
		     STAT(NEW_MAPPING, 1), STAT(NEW_SESSION, 3),
		     STAT(PORT_SHARED, 1), STAT(FILTERED, 1));
out:
	fx_teardown(&fx);
}

/*
 * The collector expires an idle SHARED session (its last packet a UDP
 * timeout before the pass) and its LENT entry with it; the owner's session, recent,
 * stays, so does its mapping. Then as after the control program.
 */
PROG_TEST(share_expire_gc, TEST_REPLIES)
{
	struct bpfmasq_session_key ok;
	struct gc_result res = {};
	struct fixture fx;
	__u64 now;

	if (!setup_owner(&fx, NULL))
		goto out;
	test_ctx("borrower");
	if (!udp_out(&fx, HOST2, BORROWER_PORT, REMOTE2, 53, SHARED_PORT))
		goto out;
	test_ctx(NULL);
	/*
	 * The pass's clock a timeout and a second ahead, the owner's session
	 * stamped by it (and back to now after the pass): only the borrower
	 * is idle, however long the machine has been up.
	 */
	now = now_boot_ns() + UDP_TIMEOUT_NS + NS_PER_S;
	ok = skey(HOST1, OWNER_PORT, REMOTE1, 53);
	if (!set_last_ns(&fx, &ok, now) ||
	    !ASSERT_OK(gc_pass(&fx.maps, now, &res), "gc_pass") ||
	    !set_last_ns(&fx, &ok, now_boot_ns()))
		goto out;
	ASSERT_TRUE(res.sessions_expired >= 1, "sessions expired");
	ASSERT_EQ(res.mappings_freed, 0, "mappings freed");
	expect_no_session(&fx, HOST2, BORROWER_PORT, REMOTE2, 53,
			  "SHARED session after the pass");
	expect_no_session(&fx, HOST1, OWNER_PORT, REMOTE2, 53,
			  "LENT entry after the pass");
	ASSERT_TABLES(&fx, 1, 1);
	expect_owner(&fx, SHARED_PORT, HOST1, OWNER_PORT);
	test_ctx("reply from REMOTE2, borrower gone");
	udp_in_untouched(&fx, REMOTE2, 53, SHARED_PORT);
	test_ctx("owner to REMOTE2");
	udp_out(&fx, HOST1, OWNER_PORT, REMOTE2, 53, SHARED_PORT);
	test_ctx("reply from REMOTE2, to the owner");
	udp_in(&fx, REMOTE2, 53, SHARED_PORT, HOST1, OWNER_PORT);
	test_ctx(NULL);
	ASSERT_STATS(&fx, STAT(TRANSLATED_OUT, 3), STAT(TRANSLATED_IN, 1),
		     STAT(NEW_MAPPING, 1), STAT(NEW_SESSION, 3),
		     STAT(PORT_SHARED, 1), STAT(FILTERED, 1));
out:
	fx_teardown(&fx);
}

/*
 * A LENT entry whose SHARED session is gone (deleted by hand here; a
 * borrower that lost a race leaves one too): REMOTE2's packets to the port
 * are no one's, never the owner's, and open no session from outside even
 * under endpoint-independent filtering; the owner still cannot talk to
 * REMOTE2 from the port. The collector leaves such an entry alone for a
 * second (the borrower may be inserting its session), then removes it;
 * then the owner can.
 */
PROG_TEST(share_lent_orphan, TEST_REPLIES | TEST_SUBTESTS)
{
	static const __u8 filterings[] = { BPFMASQ_FILTER_DEPENDENT,
					   BPFMASQ_FILTER_INDEPENDENT };
	struct bpfmasq_session_key lk, bk;
	struct gc_result res;
	struct fx_opts opts;
	struct fixture fx;
	__u64 now;
	size_t i;

	lk = skey(HOST1, OWNER_PORT, REMOTE2, 53);
	bk = skey(HOST2, BORROWER_PORT, REMOTE2, 53);
	for (i = 0; i < ARRAY_SIZE(filterings); i++) {
		if (!test_subtest("%s",
				  filterings[i] == BPFMASQ_FILTER_INDEPENDENT
					  ? "independent"
					  : "dependent"))
			continue;
		opts = fx_one_port;
		opts.filtering = filterings[i];
		if (!setup_owner(&fx, &opts))
			goto next;
		test_ctx("borrower");
		if (!udp_out(&fx, HOST2, BORROWER_PORT, REMOTE2, 53,
			     SHARED_PORT))
			goto next;
		test_ctx(NULL);
		if (!ASSERT_OK(bpf_map_delete_elem(fx.maps.sessions, &bk)
				       ? -errno
				       : 0,
			       "deleting the SHARED session") ||
		    !ASSERT_OK(fx_host_sessions(&fx, HOST2, -1),
			       "counting it out of its host"))
			goto next;
		test_ctx("reply from REMOTE2, borrower gone");
		udp_in_untouched(&fx, REMOTE2, 53, SHARED_PORT);
		test_ctx("owner to REMOTE2");
		udp_out_dropped(&fx, HOST1, OWNER_PORT, REMOTE2, 53);
		test_ctx(NULL);
		expect_lent(&fx, HOST1, OWNER_PORT, REMOTE2, 53, SHARED_PORT,
			    HOST2, BORROWER_PORT);
		ASSERT_TABLES(&fx, 1, 2);
		ASSERT_STATS(&fx, STAT(TRANSLATED_OUT, 2), STAT(NEW_MAPPING, 1),
			     STAT(NEW_SESSION, 2), STAT(PORT_SHARED, 1),
			     STAT(FILTERED, 1), STAT(PORT_LENT, 1));

		/* Younger than a second: kept. */
		test_ctx("pass, LENT entry just made");
		now = now_boot_ns();
		if (!ASSERT_OK(gc_pass(&fx.maps, now, &res), "gc_pass"))
			goto next;
		expect_lent(&fx, HOST1, OWNER_PORT, REMOTE2, 53, SHARED_PORT,
			    HOST2, BORROWER_PORT);

		/* Two seconds old: removed (the GC change). */
		test_ctx("pass, LENT entry 2 s old");
		if (!set_last_ns(&fx, &lk, now - 2 * NS_PER_S) ||
		    !ASSERT_OK(gc_pass(&fx.maps, now, &res), "gc_pass"))
			goto next;
		expect_no_session(&fx, HOST1, OWNER_PORT, REMOTE2, 53,
				  "orphan LENT entry after the pass");
		ASSERT_EQ(res.mappings_freed, 0, "mappings freed");
		expect_owner(&fx, SHARED_PORT, HOST1, OWNER_PORT);
		test_ctx("owner to REMOTE2, LENT entry gone");
		udp_out(&fx, HOST1, OWNER_PORT, REMOTE2, 53, SHARED_PORT);
		test_ctx(NULL);
		ASSERT_TABLES(&fx, 1, 2);
	next:
		fx_teardown(&fx);
	}
}

/*
 * A first packet of @proto from @saddr:@sport to @daddr:@dport (a TCP SYN,
 * an echo request with id @sport), or the answer to it (@reply: SYN-ACK,
 * echo reply with id @dport).
 */
static struct pkt_spec first_spec(__u8 proto, __be32 saddr, __u16 sport,
				  __be32 daddr, __u16 dport, bool reply)
{
	if (proto == IPPROTO_TCP)
		return tcp_spec(saddr, sport, daddr, dport,
				reply ? PKT_TCP_SYN | PKT_TCP_ACK
				      : PKT_TCP_SYN);
	if (reply)
		return echo_spec(saddr, daddr, ICMP_ECHOREPLY, dport);
	return echo_spec(saddr, daddr, ICMP_ECHO, sport);
}

/*
 * TCP and ICMP echo share as UDP does: the SYN (echo request) of HOST2 to
 * REMOTE2 leaves on the owner's port (id), its SYN-ACK (echo reply) comes
 * back to HOST2, the owner's to the owner; the owner's own SYN (echo
 * request) to REMOTE2 is dropped, port_lent.
 */
PROG_TEST(share_protocols, TEST_REPLIES | TEST_SUBTESTS)
{
	static const __u8 protos[] = { IPPROTO_TCP, IPPROTO_ICMP };
	struct pkt_spec q;
	struct fixture fx;
	__u16 rport, port;
	size_t i;
	__u8 proto;

	for (i = 0; i < ARRAY_SIZE(protos); i++) {
		proto = protos[i];
		if (!test_subtest("%s", proto == IPPROTO_TCP ? "tcp" : "echo"))
			continue;
		/* An echo session's key has no remote port. */
		rport = proto == IPPROTO_TCP ? 443 : 0;
		if (!fx_setup(&fx, &fx_one_port))
			return;
		test_ctx("owner to REMOTE1");
		q = first_spec(proto, HOST1, OWNER_PORT, REMOTE1, rport, false);
		if (!send_out(&fx, &q, &port) ||
		    !ASSERT_EQ(port, SHARED_PORT, "owner's port"))
			goto next;
		test_ctx("HOST2 to REMOTE2");
		q = first_spec(proto, HOST2, BORROWER_PORT, REMOTE2, rport,
			       false);
		if (!send_out(&fx, &q, &port) ||
		    !ASSERT_EQ(port, SHARED_PORT, "borrowed port"))
			goto next;
		test_ctx(NULL);
		expect_lent_proto(&fx, proto, HOST1, OWNER_PORT, REMOTE2, rport,
				  SHARED_PORT, HOST2, BORROWER_PORT);
		test_ctx("answer from REMOTE2");
		q = first_spec(proto, REMOTE2, rport, EXT_ADDR, SHARED_PORT,
			       true);
		send_in(&fx, &q, HOST2, BORROWER_PORT);
		test_ctx("answer from REMOTE1");
		q.saddr = REMOTE1;
		send_in(&fx, &q, HOST1, OWNER_PORT);
		test_ctx("owner to REMOTE2");
		q = first_spec(proto, HOST1, OWNER_PORT, REMOTE2, rport, false);
		expect_untouched_spec(&fx, true, &q, TC_SHOT);
		test_ctx(NULL);
		expect_shared_proto(&fx, proto, HOST2, BORROWER_PORT, REMOTE2,
				    rport, SHARED_PORT, 1, 1);
		ASSERT_EQ(map_count(fx.maps.sessions), 3, "sessions entries");
		ASSERT_EQ(map_count(fx.maps.mappings), 1, "mappings entries");
		ASSERT_STAT(&fx, BPFMASQ_STAT_TRANSLATED_OUT, 2);
		ASSERT_STAT(&fx, BPFMASQ_STAT_TRANSLATED_IN, 2);
		ASSERT_STAT(&fx, BPFMASQ_STAT_PORT_SHARED, 1);
		ASSERT_STAT(&fx, BPFMASQ_STAT_PORT_LENT, 1);
		ASSERT_STAT(&fx, BPFMASQ_STAT_NEW_MAPPING, 1);
	next:
		fx_teardown(&fx);
	}
}

/*
 * Two borrowers of the one port, for two remotes: two LENT entries in the
 * owner's keys; a third flow to a remote already lent to cannot share;
 * replies from each remote reach its own host. When one borrower goes,
 * only its LENT entry does, and the third flow can borrow for its remote.
 */
PROG_TEST(share_two_borrowers, TEST_REPLIES)
{
	struct bpfmasq_session_key bk;
	struct fixture fx;

	bk = skey(HOST2, BORROWER_PORT, REMOTE2, 53);
	if (!setup_owner(&fx, NULL))
		goto out;
	test_ctx("HOST2 to REMOTE2");
	if (!udp_out(&fx, HOST2, BORROWER_PORT, REMOTE2, 53, SHARED_PORT))
		goto out;
	test_ctx("HOST3 to REMOTE3");
	if (!udp_out(&fx, HOST3, BORROWER_PORT, REMOTE3, 53, SHARED_PORT))
		goto out;
	test_ctx("HOST4 to REMOTE2");
	udp_out_dropped(&fx, HOST4, BORROWER_PORT, REMOTE2, 53);
	test_ctx(NULL);
	expect_lent(&fx, HOST1, OWNER_PORT, REMOTE2, 53, SHARED_PORT, HOST2,
		    BORROWER_PORT);
	expect_lent(&fx, HOST1, OWNER_PORT, REMOTE3, 53, SHARED_PORT, HOST3,
		    BORROWER_PORT);
	expect_shared(&fx, HOST2, BORROWER_PORT, REMOTE2, 53, SHARED_PORT, 1,
		      0);
	expect_shared(&fx, HOST3, BORROWER_PORT, REMOTE3, 53, SHARED_PORT, 1,
		      0);
	expect_no_session(&fx, HOST4, BORROWER_PORT, REMOTE2, 53,
			  "refused flow's session lookup");
	ASSERT_TABLES(&fx, 1, 5);
	ASSERT_STATS(&fx, STAT(TRANSLATED_OUT, 3), STAT(NEW_MAPPING, 1),
		     STAT(NEW_SESSION, 3), STAT(PORT_SHARED, 2),
		     STAT(PORT_POOL_EMPTY, 1));

	test_ctx("reply from REMOTE3");
	udp_in(&fx, REMOTE3, 53, SHARED_PORT, HOST3, BORROWER_PORT);
	test_ctx("reply from REMOTE2");
	udp_in(&fx, REMOTE2, 53, SHARED_PORT, HOST2, BORROWER_PORT);
	test_ctx("reply from REMOTE1");
	udp_in(&fx, REMOTE1, 53, SHARED_PORT, HOST1, OWNER_PORT);
	test_ctx(NULL);

	if (!ASSERT_OK(ctl_expire(&fx, &bk, last_ns_of(&fx, &bk)),
		       "expiring HOST2's SHARED session"))
		goto out;
	expect_no_session(&fx, HOST1, OWNER_PORT, REMOTE2, 53,
			  "HOST2's LENT entry after its expiry");
	expect_lent(&fx, HOST1, OWNER_PORT, REMOTE3, 53, SHARED_PORT, HOST3,
		    BORROWER_PORT);
	/* HOST4's flow searched in vain a moment ago: it waits a second. */
	test_ctx("HOST4 to REMOTE2 again at once, HOST2 gone");
	udp_out_dropped(&fx, HOST4, BORROWER_PORT, REMOTE2, 53);
	ASSERT_STAT(&fx, BPFMASQ_STAT_PORT_POOL_EMPTY, 2);
	if (!share_misses_forget(&fx))
		goto out;
	test_ctx("HOST4 to REMOTE2, a second later");
	if (!udp_out(&fx, HOST4, BORROWER_PORT, REMOTE2, 53, SHARED_PORT))
		goto out;
	test_ctx("reply from REMOTE2, to HOST4");
	udp_in(&fx, REMOTE2, 53, SHARED_PORT, HOST4, BORROWER_PORT);
	test_ctx(NULL);
	expect_lent(&fx, HOST1, OWNER_PORT, REMOTE2, 53, SHARED_PORT, HOST4,
		    BORROWER_PORT);
	expect_shared(&fx, HOST4, BORROWER_PORT, REMOTE2, 53, SHARED_PORT, 1,
		      1);
	ASSERT_TABLES(&fx, 1, 5);
	ASSERT_STATS(&fx, STAT(TRANSLATED_OUT, 4), STAT(TRANSLATED_IN, 4),
		     STAT(NEW_MAPPING, 1), STAT(NEW_SESSION, 4),
		     STAT(PORT_SHARED, 3), STAT(PORT_POOL_EMPTY, 2));
out:
	fx_teardown(&fx);
}

/*
 * ICMP errors in about a shared flow (the quote: EXT_ADDR:SHARED_PORT to
 * REMOTE2:53) reach the borrower, quoting its own packet; those about the
 * owner's flow on the same port reach the owner. Neither refreshes a
 * session.
 */
PROG_TEST(share_icmp_error_in, TEST_REPLIES)
{
	struct pkt_spec oq = udp_spec(HOST1, OWNER_PORT, REMOTE1, 53, query);
	struct pkt_spec bq = udp_spec(HOST2, BORROWER_PORT, REMOTE2, 53, query);
	struct bpfmasq_session obefore, bbefore;
	struct frame osent, bsent, orig;
	struct icmp_error_spec e;
	struct fixture fx;
	__u16 port;

	if (!fx_setup(&fx, &fx_one_port))
		return;
	test_ctx("owner's flow");
	if (!open_flow(&fx, &oq, &osent, &port, &obefore) ||
	    !ASSERT_EQ(port, SHARED_PORT, "owner's port"))
		goto out;
	test_ctx("borrower's flow");
	if (!open_flow(&fx, &bq, &bsent, &port, &bbefore) ||
	    !ASSERT_EQ(port, SHARED_PORT, "borrower's port"))
		goto out;
	test_ctx("error about the shared flow");
	e = (struct icmp_error_spec){ .saddr = ROUTER,
				      .daddr = EXT_ADDR,
				      .type = ICMP_DEST_UNREACH,
				      .code = ICMP_HOST_UNREACH };
	frame_build(&orig, &bq);
	send_error(&fx, false, &e, &bsent, &orig);
	test_ctx("port unreachable from REMOTE2, 8 bytes quoted");
	e.saddr = REMOTE2;
	e.code = ICMP_PORT_UNREACH;
	e.quote_len = quote_len(&bsent, 8);
	send_error(&fx, false, &e, &bsent, &orig);
	test_ctx("error about the owner's flow");
	e = (struct icmp_error_spec){ .saddr = REMOTE1,
				      .daddr = EXT_ADDR,
				      .type = ICMP_DEST_UNREACH,
				      .code = ICMP_PORT_UNREACH };
	frame_build(&orig, &oq);
	send_error(&fx, false, &e, &osent, &orig);
	test_ctx(NULL);
	expect_session_unchanged(&fx, &bq, &bbefore);
	expect_session_unchanged(&fx, &oq, &obefore);
	expect_lent(&fx, HOST1, OWNER_PORT, REMOTE2, 53, SHARED_PORT, HOST2,
		    BORROWER_PORT);
	ASSERT_TABLES(&fx, 1, 3);
	ASSERT_STATS(&fx, STAT(TRANSLATED_OUT, 2), STAT(TRANSLATED_IN, 3),
		     STAT(NEW_MAPPING, 1), STAT(NEW_SESSION, 2),
		     STAT(PORT_SHARED, 1));
out:
	fx_teardown(&fx);
}

/*
 * An error in quoting the shared port towards REMOTE2 once the borrower
 * is gone (its LENT entry left behind): it reaches no one, not the owner.
 */
PROG_TEST(share_icmp_error_in_orphan, TEST_REPLIES)
{
	struct pkt_spec bq = udp_spec(HOST2, BORROWER_PORT, REMOTE2, 53, query);
	struct bpfmasq_session_key bk;
	struct bpfmasq_session before;
	struct icmp_error_spec e;
	struct frame bsent, in;
	struct fixture fx;

	bk = skey(HOST2, BORROWER_PORT, REMOTE2, 53);
	if (!setup_owner(&fx, NULL))
		goto out;
	test_ctx("borrower's flow");
	if (!open_flow(&fx, &bq, &bsent, NULL, &before))
		goto out;
	test_ctx(NULL);
	if (!ASSERT_OK(bpf_map_delete_elem(fx.maps.sessions, &bk) ? -errno : 0,
		       "deleting the SHARED session") ||
	    !ASSERT_OK(fx_host_sessions(&fx, HOST2, -1),
		       "counting it out of its host"))
		goto out;
	e = (struct icmp_error_spec){ .saddr = REMOTE2,
				      .daddr = EXT_ADDR,
				      .type = ICMP_DEST_UNREACH,
				      .code = ICMP_PORT_UNREACH };
	frame_build_icmp_error(&in, &e, &bsent);
	expect_untouched(&fx, false, &in, XDP_VERDICT_PASS);
	ASSERT_TABLES(&fx, 1, 2);
	ASSERT_STATS(&fx, STAT(TRANSLATED_OUT, 2), STAT(NEW_MAPPING, 1),
		     STAT(NEW_SESSION, 2), STAT(PORT_SHARED, 1),
		     STAT(FILTERED, 1));
out:
	fx_teardown(&fx);
}

/*
 * The borrower's port unreachable about a reply it got on the shared port
 * leaves from the external address, quoting the reply as REMOTE2 sent it:
 * to EXT_ADDR:SHARED_PORT.
 */
PROG_TEST(share_icmp_error_out, TEST_REPLIES)
{
	struct pkt_spec bq = udp_spec(HOST2, BORROWER_PORT, REMOTE2, 53, query);
	struct frame received, orig;
	struct bpfmasq_session before;
	struct icmp_error_spec e;
	struct fixture fx;
	struct pkt_spec a;

	if (!setup_owner(&fx, NULL))
		goto out;
	test_ctx("borrower");
	if (!udp_out(&fx, HOST2, BORROWER_PORT, REMOTE2, 53, SHARED_PORT))
		goto out;
	test_ctx("reply from REMOTE2");
	a = udp_spec(REMOTE2, 53, EXT_ADDR, SHARED_PORT, answer);
	if (!send_in(&fx, &a, HOST2, BORROWER_PORT) ||
	    !ASSERT_OK(flow_session(&fx, &bq, &before), "session lookup"))
		goto out;
	frame_build(&orig, &a);
	a.daddr = HOST2;
	a.dport = BORROWER_PORT;
	frame_build(&received, &a);
	test_ctx("borrower's error");
	e = (struct icmp_error_spec){ .saddr = HOST2,
				      .daddr = REMOTE2,
				      .type = ICMP_DEST_UNREACH,
				      .code = ICMP_PORT_UNREACH };
	send_error(&fx, true, &e, &received, &orig);
	test_ctx("gateway's error, 8 bytes quoted");
	e.saddr = EXT_ADDR;
	e.code = ICMP_FRAG_NEEDED;
	e.rest = 1400;
	e.quote_len = quote_len(&received, 8);
	send_error(&fx, true, &e, &received, &orig);
	test_ctx(NULL);
	expect_session_unchanged(&fx, &bq, &before);
	ASSERT_TABLES(&fx, 1, 3);
	ASSERT_STATS(&fx, STAT(TRANSLATED_OUT, 4), STAT(TRANSLATED_IN, 1),
		     STAT(NEW_MAPPING, 1), STAT(NEW_SESSION, 2),
		     STAT(PORT_SHARED, 1));
out:
	fx_teardown(&fx);
}

/*
 * The owner's own session has expired, its port is lent to a live flow:
 * the collector keeps the LENT entry (however old: it never expires by
 * timeout) and the owner's mapping and port, and replies still reach the
 * borrower. Once the borrower has expired too, the mapping goes and its
 * port to quarantine.
 */
PROG_TEST(share_gc_keeps_owner_mapping, TEST_REPLIES)
{
	struct bpfmasq_session_key bk;
	struct bpfmasq_mapping m;
	struct gc_result res = {};
	struct bpfmasq_owner o;
	struct fixture fx;
	__u64 later;

	bk = skey(HOST2, BORROWER_PORT, REMOTE2, 53);
	if (!setup_owner(&fx, NULL))
		goto out;
	test_ctx("borrower");
	if (!udp_out(&fx, HOST2, BORROWER_PORT, REMOTE2, 53, SHARED_PORT))
		goto out;
	test_ctx(NULL);
	/* A UDP timeout later; the shared flow had a packet just before. */
	later = now_boot_ns() + UDP_TIMEOUT_NS + NS_PER_S;
	if (!set_last_ns(&fx, &bk, later - NS_PER_S) ||
	    !ASSERT_OK(gc_pass(&fx.maps, later, &res), "gc_pass"))
		goto out;
	ASSERT_EQ(res.mappings_freed, 0, "mappings freed");
	expect_no_session(&fx, HOST1, OWNER_PORT, REMOTE1, 53,
			  "owner's own session after the pass");
	expect_lent(&fx, HOST1, OWNER_PORT, REMOTE2, 53, SHARED_PORT, HOST2,
		    BORROWER_PORT);
	expect_shared(&fx, HOST2, BORROWER_PORT, REMOTE2, 53, SHARED_PORT, 1,
		      0);
	ASSERT_OK(fx_mapping(&fx, HOST1, OWNER_PORT, IPPROTO_UDP, &m),
		  "owner's mapping after the pass");
	expect_owner(&fx, SHARED_PORT, HOST1, OWNER_PORT);
	ASSERT_TABLES(&fx, 1, 2);
	test_ctx("reply from REMOTE2");
	udp_in(&fx, REMOTE2, 53, SHARED_PORT, HOST2, BORROWER_PORT);
	test_ctx(NULL);

	/* The borrower idle for a UDP timeout too: everything goes. */
	later += 2 * UDP_TIMEOUT_NS;
	if (!ASSERT_OK(gc_pass(&fx.maps, later, &res), "second gc_pass") ||
	    !ASSERT_OK(gc_pass(&fx.maps, later, &res), "third gc_pass"))
		goto out;
	ASSERT_EQ(map_count(fx.maps.sessions), 0, "sessions entries");
	ASSERT_EQ(fx_mapping(&fx, HOST1, OWNER_PORT, IPPROTO_UDP, &m), -ENOENT,
		  "owner's mapping once the borrower is gone");
	ASSERT_EQ(fx_port_state(&fx, EXT_ADDR, SHARED_PORT, IPPROTO_UDP, &o),
		  BPFMASQ_PORT_QUARANTINED, "port state");
out:
	fx_teardown(&fx);
}

/*
 * A table of 20 sessions, a pool of two ports, both owned: HOST1's flow
 * to REMOTE1 (answered), HOST5's (not), HOST2's flow to REMOTE2 on a port
 * it borrows from one of them, answered if @answered, then 15 newer
 * unanswered flows of HOST5: 19 entries. The borrowed port in @ext, its
 * owner in @owner.
 */
static bool pressure_fill(struct fixture *fx, bool answered, __u16 *ext,
			  struct bpfmasq_endpoint *owner)
{
	const struct fx_opts opts = { .port_min = 41000,
				      .port_max = 41001,
				      .max_sessions = 20 };
	struct pkt_spec q;
	__u16 p1, p5;
	int i;

	if (!fx_setup(fx, &opts))
		return false;
	/* The ports are picked at random: each is one of the two. */
	q = udp_spec(HOST1, OWNER_PORT, REMOTE1, 53, query);
	test_ctx("HOST1 to REMOTE1");
	if (!send_out(fx, &q, &p1))
		return false;
	test_ctx("reply to HOST1");
	if (!udp_in(fx, REMOTE1, 53, p1, HOST1, OWNER_PORT))
		return false;
	q.saddr = HOST5;
	test_ctx("HOST5 to REMOTE1");
	if (!send_out(fx, &q, &p5))
		return false;
	q = udp_spec(HOST2, BORROWER_PORT, REMOTE2, 53, query);
	test_ctx("HOST2 to REMOTE2");
	if (!send_out(fx, &q, ext))
		return false;
	test_ctx("reply to HOST2");
	if (answered && !udp_in(fx, REMOTE2, 53, *ext, HOST2, BORROWER_PORT))
		return false;
	test_ctx(NULL);
	ASSERT_IN_RANGE(p1, 41000, 41001, "HOST1's port");
	ASSERT_NEQ(p5, p1, "HOST5's port");
	if (!ASSERT_TRUE(*ext == p1 || *ext == p5, "borrowed port is owned") ||
	    !ASSERT_OK(fx_owner(fx, EXT_ADDR, *ext, IPPROTO_UDP, owner),
		       "borrowed port's owner"))
		return false;
	for (i = 0; i < 15; i++) {
		test_ctx("HOST5 flow %d", i);
		if (!udp_out(fx, HOST5, OWNER_PORT, REMOTE1, 1000 + i, p5))
			return false;
	}
	test_ctx(NULL);
	return ASSERT_EQ(map_count(fx->maps.sessions), 19,
			 "sessions before the pass");
}

/*
 * Under pressure the collector evicts unanswered sessions, oldest first,
 * but never a LENT entry (it holds a port for a flow, and is no flow):
 * here the LENT entry is the second oldest unanswered entry, and stays,
 * with its SHARED session, answered.
 */
PROG_TEST(share_gc_pressure, TEST_REPLIES)
{
	struct bpfmasq_endpoint owner;
	struct gc_result res = {};
	struct fixture fx;
	__u16 ext;

	if (!pressure_fill(&fx, true, &ext, &owner) ||
	    !ASSERT_OK(gc_pass(&fx.maps, now_boot_ns(), &res), "gc_pass"))
		goto out;
	ASSERT_EQ(res.sessions_evicted, 3, "sessions evicted");
	ASSERT_EQ(map_count(fx.maps.sessions), 16, "sessions after the pass");
	expect_lent(&fx, owner.addr, ntohs(owner.port), REMOTE2, 53, ext, HOST2,
		    BORROWER_PORT);
	expect_shared(&fx, HOST2, BORROWER_PORT, REMOTE2, 53, ext, 1, 1);
	expect_no_session(&fx, HOST5, OWNER_PORT, REMOTE1, 53,
			  "oldest unanswered session");
	expect_no_session(&fx, HOST5, OWNER_PORT, REMOTE1, 1000,
			  "second oldest unanswered flow");
	expect_no_session(&fx, HOST5, OWNER_PORT, REMOTE1, 1001,
			  "third oldest unanswered flow");
	test_ctx("reply to HOST2 after the pass");
	udp_in(&fx, REMOTE2, 53, ext, HOST2, BORROWER_PORT);
out:
	fx_teardown(&fx);
}

/*
 * An unanswered SHARED session gives way under pressure like any other;
 * its LENT entry goes with it (never alone, never left behind), and
 * REMOTE2's packets to the port are then no one's.
 */
PROG_TEST(share_gc_pressure_shared, TEST_REPLIES)
{
	struct bpfmasq_endpoint owner;
	struct bpfmasq_session s;
	struct gc_result res = {};
	struct fixture fx;
	__u16 ext;
	int i;

	if (!pressure_fill(&fx, false, &ext, &owner) ||
	    !ASSERT_OK(gc_pass(&fx.maps, now_boot_ns(), &res), "gc_pass"))
		goto out;
	ASSERT_IN_RANGE(res.sessions_evicted, 2, 3, "sessions evicted");
	expect_no_session(&fx, HOST2, BORROWER_PORT, REMOTE2, 53,
			  "SHARED session after the pass");
	expect_no_session(&fx, owner.addr, ntohs(owner.port), REMOTE2, 53,
			  "LENT entry after the pass");
	expect_no_session(&fx, HOST5, OWNER_PORT, REMOTE1, 53,
			  "oldest unanswered session");
	ASSERT_OK(fx_session(&fx, HOST1, OWNER_PORT, REMOTE1, 53, IPPROTO_UDP,
			     &s),
		  "the answered session");
	for (i = 2; i < 15; i++)
		ASSERT_OK(fx_session(&fx, HOST5, OWNER_PORT, REMOTE1, 1000 + i,
				     IPPROTO_UDP, &s),
			  "a newer unanswered flow");
	test_ctx("REMOTE2 to the port after the pass");
	udp_in_untouched(&fx, REMOTE2, 53, ext);
out:
	fx_teardown(&fx);
}

/* With shared flows, replies and a third flow refused, the state checks. */
PROG_TEST(share_check_clean, TEST_REPLIES)
{
	struct fixture fx;

	if (!setup_owner(&fx, NULL))
		goto out;
	test_ctx("HOST2 to REMOTE2");
	if (!udp_out(&fx, HOST2, BORROWER_PORT, REMOTE2, 53, SHARED_PORT))
		goto out;
	test_ctx("HOST3 to REMOTE3");
	if (!udp_out(&fx, HOST3, BORROWER_PORT, REMOTE3, 53, SHARED_PORT))
		goto out;
	test_ctx("reply to HOST2");
	udp_in(&fx, REMOTE2, 53, SHARED_PORT, HOST2, BORROWER_PORT);
	test_ctx("reply to HOST1");
	udp_in(&fx, REMOTE1, 53, SHARED_PORT, HOST1, OWNER_PORT);
	test_ctx("HOST4 to REMOTE2");
	udp_out_dropped(&fx, HOST4, BORROWER_PORT, REMOTE2, 53);
	test_ctx(NULL);
	ASSERT_TABLES(&fx, 1, 5);
	expect_check_clean(&fx);
out:
	fx_teardown(&fx);
}

/* --port-sharing off: a flow that finds its pool empty is dropped. */
PROG_TEST(share_off, 0)
{
	struct fx_opts opts = fx_one_port;
	struct fixture fx;

	opts.no_sharing = true;
	if (!setup_owner(&fx, &opts))
		goto out;
	test_ctx("HOST2 to REMOTE2");
	udp_out_dropped(&fx, HOST2, BORROWER_PORT, REMOTE2, 53);
	test_ctx(NULL);
	expect_no_session(&fx, HOST2, BORROWER_PORT, REMOTE2, 53,
			  "refused flow's session lookup");
	expect_no_session(&fx, HOST1, OWNER_PORT, REMOTE2, 53,
			  "LENT entry lookup");
	ASSERT_TABLES(&fx, 1, 1);
	ASSERT_STATS(&fx, STAT(TRANSLATED_OUT, 1), STAT(NEW_MAPPING, 1),
		     STAT(NEW_SESSION, 1), STAT(PORT_POOL_EMPTY, 1));
	test_ctx("owner to REMOTE2");
	udp_out(&fx, HOST1, OWNER_PORT, REMOTE2, 53, SHARED_PORT);
out:
	fx_teardown(&fx);
}

/*
 * The control program expires a LENT entry whose SHARED session is gone
 * (with the stamp it was read with); then the owner can talk to REMOTE2.
 */
PROG_TEST(share_lent_orphan_ctl, 0)
{
	struct bpfmasq_session_key lk, bk;
	struct fixture fx;
	__u64 stamp;

	lk = skey(HOST1, OWNER_PORT, REMOTE2, 53);
	bk = skey(HOST2, BORROWER_PORT, REMOTE2, 53);
	if (!setup_owner(&fx, NULL))
		goto out;
	test_ctx("borrower");
	if (!udp_out(&fx, HOST2, BORROWER_PORT, REMOTE2, 53, SHARED_PORT))
		goto out;
	test_ctx(NULL);
	if (!ASSERT_OK(bpf_map_delete_elem(fx.maps.sessions, &bk) ? -errno : 0,
		       "deleting the SHARED session") ||
	    !ASSERT_OK(fx_host_sessions(&fx, HOST2, -1),
		       "counting it out of its host"))
		goto out;
	stamp = last_ns_of(&fx, &lk);
	ASSERT_EQ(ctl_expire(&fx, &lk, stamp + 1), -EBUSY,
		  "expiring the orphan LENT entry, wrong stamp");
	if (!ASSERT_OK(ctl_expire(&fx, &lk, stamp),
		       "expiring the orphan LENT entry"))
		goto out;
	expect_no_session(&fx, HOST1, OWNER_PORT, REMOTE2, 53,
			  "LENT entry after its expiry");
	ASSERT_TABLES(&fx, 1, 1);
	test_ctx("owner to REMOTE2");
	udp_out(&fx, HOST1, OWNER_PORT, REMOTE2, 53, SHARED_PORT);
	test_ctx(NULL);
	ASSERT_STATS(&fx, STAT(TRANSLATED_OUT, 3), STAT(NEW_MAPPING, 1),
		     STAT(NEW_SESSION, 3), STAT(PORT_SHARED, 1));
out:
	fx_teardown(&fx);
}

/*
 * One borrower, two remotes: each flow borrows the port for its own
 * remote, two LENT entries name the same endpoint; replies reach it from
 * both; ending one flow leaves the other's entry.
 */
PROG_TEST(share_borrower_two_remotes, TEST_REPLIES)
{
	struct bpfmasq_session_key bk;
	struct fixture fx;

	bk = skey(HOST2, BORROWER_PORT, REMOTE2, 53);
	if (!setup_owner(&fx, NULL))
		goto out;
	test_ctx("HOST2 to REMOTE2");
	if (!udp_out(&fx, HOST2, BORROWER_PORT, REMOTE2, 53, SHARED_PORT))
		goto out;
	test_ctx("HOST2 to REMOTE3");
	if (!udp_out(&fx, HOST2, BORROWER_PORT, REMOTE3, 53, SHARED_PORT))
		goto out;
	test_ctx("reply from REMOTE3");
	udp_in(&fx, REMOTE3, 53, SHARED_PORT, HOST2, BORROWER_PORT);
	test_ctx("reply from REMOTE2");
	udp_in(&fx, REMOTE2, 53, SHARED_PORT, HOST2, BORROWER_PORT);
	test_ctx(NULL);
	expect_lent(&fx, HOST1, OWNER_PORT, REMOTE2, 53, SHARED_PORT, HOST2,
		    BORROWER_PORT);
	expect_lent(&fx, HOST1, OWNER_PORT, REMOTE3, 53, SHARED_PORT, HOST2,
		    BORROWER_PORT);
	expect_shared(&fx, HOST2, BORROWER_PORT, REMOTE2, 53, SHARED_PORT, 1,
		      1);
	expect_shared(&fx, HOST2, BORROWER_PORT, REMOTE3, 53, SHARED_PORT, 1,
		      1);
	ASSERT_TABLES(&fx, 1, 5);
	ASSERT_STATS(&fx, STAT(TRANSLATED_OUT, 3), STAT(TRANSLATED_IN, 2),
		     STAT(NEW_MAPPING, 1), STAT(NEW_SESSION, 3),
		     STAT(PORT_SHARED, 2));
	if (!ASSERT_OK(ctl_expire(&fx, &bk, last_ns_of(&fx, &bk)),
		       "expiring the flow to REMOTE2"))
		goto out;
	expect_no_session(&fx, HOST1, OWNER_PORT, REMOTE2, 53,
			  "LENT entry for REMOTE2 after its expiry");
	expect_lent(&fx, HOST1, OWNER_PORT, REMOTE3, 53, SHARED_PORT, HOST2,
		    BORROWER_PORT);
	test_ctx("reply from REMOTE3 again");
	udp_in(&fx, REMOTE3, 53, SHARED_PORT, HOST2, BORROWER_PORT);
	test_ctx(NULL);
	ASSERT_TABLES(&fx, 1, 3);
out:
	fx_teardown(&fx);
}

/*
 * Only an owned port with a live mapping is shared: once the owner's
 * mapping is released (its port quarantined), a flow that finds the pool
 * empty has nothing to borrow.
 */
PROG_TEST(share_no_borrow_quarantined, 0)
{
	struct bpfmasq_endpoint inside = { .addr = HOST1,
					   .port = htons(OWNER_PORT),
					   .proto = IPPROTO_UDP };
	struct bpfmasq_session_key ok;
	struct bpfmasq_ctl_args a;
	struct bpfmasq_mapping m;
	struct bpfmasq_owner o;
	struct fixture fx;

	ok = skey(HOST1, OWNER_PORT, REMOTE1, 53);
	if (!setup_owner(&fx, NULL))
		goto out;
	if (!ASSERT_OK(ctl_expire(&fx, &ok, last_ns_of(&fx, &ok)),
		       "expiring the owner's session") ||
	    !ASSERT_OK(fx_mapping(&fx, HOST1, OWNER_PORT, IPPROTO_UDP, &m),
		       "owner's mapping"))
		goto out;
	a = (struct bpfmasq_ctl_args){ .op = BPFMASQ_CTL_MAPPING_RELEASE,
				       .stamp = m.used_ms,
				       .now_ns = now_boot_ns(),
				       .ep = inside };
	if (!ASSERT_OK(ctl_run(&fx.maps, &a), "releasing the owner's mapping"))
		goto out;
	ASSERT_EQ(fx_port_state(&fx, EXT_ADDR, SHARED_PORT, IPPROTO_UDP, &o),
		  BPFMASQ_PORT_QUARANTINED, "port state");
	test_ctx("HOST2 to REMOTE2");
	udp_out_dropped(&fx, HOST2, BORROWER_PORT, REMOTE2, 53);
	test_ctx(NULL);
	/* The quarantined port keeps its entry. */
	ASSERT_EQ(map_count(fx.maps.mappings), 0, "mappings entries");
	ASSERT_EQ(map_count(fx.maps.port_owners), 1, "port_owners entries");
	ASSERT_EQ(map_count(fx.maps.sessions), 0, "sessions entries");
	ASSERT_STATS(&fx, STAT(TRANSLATED_OUT, 1), STAT(NEW_MAPPING, 1),
		     STAT(NEW_SESSION, 1), STAT(PORT_POOL_EMPTY, 1));
out:
	fx_teardown(&fx);
}

/* Free @inside's mapping and its port now: session, mapping, quarantine. */
static bool free_port_of(struct fixture *fx, __be32 host, __u16 port,
			 __be32 remote, __u16 rport, __u16 ext)
{
	struct bpfmasq_endpoint inside = { .addr = host,
					   .port = htons(port),
					   .proto = IPPROTO_UDP };
	struct bpfmasq_endpoint e = { .addr = EXT_ADDR,
				      .port = htons(ext),
				      .proto = IPPROTO_UDP };
	struct bpfmasq_session_key k = skey(host, port, remote, rport);
	struct bpfmasq_ctl_args a;
	struct bpfmasq_mapping m;
	struct bpfmasq_owner o;

	if (!ASSERT_OK(ctl_expire(fx, &k, last_ns_of(fx, &k)),
		       "expiring the session") ||
	    !ASSERT_OK(fx_mapping(fx, host, port, IPPROTO_UDP, &m), "mapping"))
		return false;
	a = (struct bpfmasq_ctl_args){ .op = BPFMASQ_CTL_MAPPING_RELEASE,
				       .stamp = m.used_ms,
				       .now_ns = now_boot_ns(),
				       .ep = inside };
	if (!ASSERT_OK(ctl_run(&fx->maps, &a), "releasing the mapping") ||
	    !ASSERT_EQ(fx_port_state(fx, EXT_ADDR, ext, IPPROTO_UDP, &o),
		       BPFMASQ_PORT_QUARANTINED, "port state"))
		return false;
	a = (struct bpfmasq_ctl_args){ .op = BPFMASQ_CTL_PORT_FREE,
				       .stamp = o.released_s,
				       .now_ns = now_boot_ns(),
				       .ep = e };
	return ASSERT_OK(ctl_run(&fx->maps, &a), "freeing the port");
}

/* A pool of two ports. */
static const struct fx_opts two_ports = { .port_min = 41000,
					  .port_max = 41001 };

/*
 * A fresh instance of two_ports, which HOST1 and HOST5 own by their flows
 * to REMOTE1: HOST2 borrows one for REMOTE2 (*@ext, *@lender's), then the
 * other comes free and becomes HOST2's own (*@own), by its flow to
 * REMOTE3.
 */
static bool setup_borrower_own(struct fixture *fx, __be32 *lender, __u16 *ext,
			       __u16 *own)
{
	struct pkt_spec q = udp_spec(HOST1, OWNER_PORT, REMOTE1, 53, query);
	__u16 p1, p5;
	bool ok;

	test_ctx("HOST1 to REMOTE1");
	if (!setup_flow(fx, &two_ports, &q, &p1))
		return false;
	q.saddr = HOST5;
	test_ctx("HOST5 to REMOTE1");
	if (!send_out(fx, &q, &p5))
		return false;
	q = udp_spec(HOST2, BORROWER_PORT, REMOTE2, 53, query);
	test_ctx("HOST2 to REMOTE2");
	if (!send_out(fx, &q, ext))
		return false;
	test_ctx(NULL);
	if (!ASSERT_TRUE(*ext == p1 || *ext == p5, "borrowed port is owned"))
		return false;
	*lender = *ext == p1 ? HOST1 : HOST5;
	/* The port that is not lent comes free. */
	test_ctx("freeing the other port");
	if (*ext == p1 ? !free_port_of(fx, HOST5, OWNER_PORT, REMOTE1, 53, p5)
		       : !free_port_of(fx, HOST1, OWNER_PORT, REMOTE1, 53, p1))
		return false;
	test_ctx("HOST2 to REMOTE3");
	q = udp_spec(HOST2, BORROWER_PORT, REMOTE3, 53, query);
	ok = send_out(fx, &q, own) &&
	     ASSERT_EQ(*own, *ext == p1 ? p5 : p1, "HOST2's own port");
	test_ctx(NULL);
	return ok;
}

/*
 * A borrower that gets a mapping of its own later (a port came free) keeps
 * its shared flow on the borrowed port; the remote of that flow is still
 * answered there only. Under address-and-port-dependent filtering, a
 * packet from that remote to the borrower's own port is no reply of any
 * flow of the borrower's from that port: filtered, untouched.
 */
PROG_TEST(share_borrower_gets_mapping, TEST_REPLIES)
{
	struct icmp_error_spec e;
	struct frame sent, in;
	struct pkt_spec q;
	struct fixture fx;
	__u16 ext, own;
	__be32 lender;

	if (!setup_borrower_own(&fx, &lender, &ext, &own))
		goto out;
	test_ctx("HOST2 to REMOTE2 again");
	udp_out(&fx, HOST2, BORROWER_PORT, REMOTE2, 53, ext);
	test_ctx("reply from REMOTE2 to the borrowed port");
	udp_in(&fx, REMOTE2, 53, ext, HOST2, BORROWER_PORT);
	test_ctx("reply from REMOTE3 to HOST2's own port");
	udp_in(&fx, REMOTE3, 53, own, HOST2, BORROWER_PORT);
	test_ctx("REMOTE2 to HOST2's own port");
	udp_in_untouched(&fx, REMOTE2, 53, own);
	/* Nor is an error about a packet from there to REMOTE2. */
	test_ctx("error quoting HOST2's own port to REMOTE2");
	q = udp_spec(EXT_ADDR, own, REMOTE2, 53, query);
	frame_build(&sent, &q);
	e = (struct icmp_error_spec){ .saddr = REMOTE2,
				      .daddr = EXT_ADDR,
				      .type = ICMP_DEST_UNREACH,
				      .code = ICMP_PORT_UNREACH };
	frame_build_icmp_error(&in, &e, &sent);
	expect_untouched(&fx, false, &in, XDP_VERDICT_PASS);
	test_ctx(NULL);
	ASSERT_STAT(&fx, BPFMASQ_STAT_FILTERED, 2);
	ASSERT_STAT(&fx, BPFMASQ_STAT_TRANSLATED_IN, 2);
out:
	fx_teardown(&fx);
}

/*
 * The lender's mapping, its owned port and the released one in quarantine;
 * the shared session and its LENT entry.
 */
static bool expect_tables_released(struct fixture *fx)
{
	return ASSERT_EQ(map_count(fx->maps.mappings), 1, "mappings entries") &&
	       ASSERT_EQ(map_count(fx->maps.port_owners), 2,
			 "port_owners entries") &&
	       ASSERT_EQ(map_count(fx->maps.sessions), 2, "sessions entries");
}

/* A UDP session of @in's with @raddr:53 on @ext, in model @m. */
static struct m_sess *model_udp_sess(struct model *m, const struct m_ep *in,
				     __be32 raddr, __u16 ext)
{
	struct m_sess *s = &m->sess[m->nsess++];

	*s = (struct m_sess){
		.in = *in, .raddr = raddr, .rport = 53, .ext = ext
	};
	return s;
}

/*
 * The fuzz test's model (model.h) of share_borrower_mapping_released
 * before its pass: @lender's flow to REMOTE1 and its LENT entry for
 * REMOTE2 on @ext; HOST2's shared flow to REMOTE2 there, last used at
 * @shared_ns, and its own to REMOTE3 on @own. NULL when out of memory.
 */
static struct model *model_borrower(__be32 lender, __u16 ext, __u16 own,
				    __u64 shared_ns)
{
	const struct m_ep l = { lender, OWNER_PORT, IPPROTO_UDP };
	const struct m_ep b = { HOST2, BORROWER_PORT, IPPROTO_UDP };
	struct model *m = calloc(1, sizeof(*m));
	struct m_sess *s;

	if (!m)
		return NULL;
	model_init(m, EXT_ADDR, two_ports.port_min, two_ports.port_max, false);
	m->maps[m->nmaps++] = (struct m_map){ .in = l, .ext = ext };
	m->maps[m->nmaps++] = (struct m_map){ .in = b, .ext = own };
	model_udp_sess(m, &l, REMOTE1, ext);
	s = model_udp_sess(m, &l, REMOTE2, ext);
	s->lent = true;
	s->lent_to = b;
	s = model_udp_sess(m, &b, REMOTE2, ext);
	s->shared = true;
	s->last_ns = shared_ns;
	model_udp_sess(m, &b, REMOTE3, own);
	return m;
}

/*
 * A borrower with a mapping of its own (a port came free after it
 * borrowed) whose own flows have all expired: the collector releases that
 * mapping, though the borrower's shared flow is live. The shared flow is
 * on the lender's port, which the lender's mapping and the LENT entry
 * hold, and sends nothing from the borrower's own: keeping that port
 * would take it from the flows that need one, when ports are scarce. The
 * shared flow carries on as it was, both ways; its own port's remote now
 * reaches no one. The fuzz test's model follows the pass as the maps do:
 * the shared flow is no use of the borrower's mapping.
 */
PROG_TEST(share_borrower_mapping_released, TEST_REPLIES)
{
	struct bpfmasq_session_key bk;
	struct gc_result res = {};
	struct bpfmasq_mapping map;
	struct model *m = NULL;
	struct bpfmasq_owner o;
	struct fixture fx;
	__u16 ext, own;
	__be32 lender;
	__u64 later;

	if (!setup_borrower_own(&fx, &lender, &ext, &own))
		goto out;
	/* A UDP timeout later; the shared flow had a packet just before. */
	bk = skey(HOST2, BORROWER_PORT, REMOTE2, 53);
	later = now_boot_ns() + UDP_TIMEOUT_NS + NS_PER_S;
	if (!set_last_ns(&fx, &bk, later - NS_PER_S))
		goto out;
	m = model_borrower(lender, ext, own, later - NS_PER_S);
	test_ctx("the fuzz model before the pass");
	if (!ASSERT_TRUE(m != NULL, "the model") || !model_matches_maps(m, &fx))
		goto out;
	test_ctx(NULL);
	if (!ASSERT_OK(gc_pass(&fx.maps, later, &res), "gc_pass"))
		goto out;
	/* The fuzz test's clock: the shared flow's last packet. */
	test_ctx("the fuzz model follows the pass");
	if (!model_follow_gc(m, &fx, later - NS_PER_S, later))
		goto out;
	test_ctx(NULL);
	ASSERT_EQ(res.sessions_expired, 2, "sessions expired");
	ASSERT_EQ(res.mappings_freed, 1, "mappings freed");
	ASSERT_EQ(fx_mapping(&fx, HOST2, BORROWER_PORT, IPPROTO_UDP, &map),
		  -ENOENT, "HOST2's own mapping after the pass");
	ASSERT_EQ(fx_port_state(&fx, EXT_ADDR, own, IPPROTO_UDP, &o),
		  BPFMASQ_PORT_QUARANTINED, "HOST2's own port after the pass");
	expect_shared(&fx, HOST2, BORROWER_PORT, REMOTE2, 53, ext, 1, 0);
	expect_lent(&fx, lender, OWNER_PORT, REMOTE2, 53, ext, HOST2,
		    BORROWER_PORT);
	ASSERT_OK(fx_mapping(&fx, lender, OWNER_PORT, IPPROTO_UDP, &map),
		  "lender's mapping after the pass");
	expect_owner(&fx, ext, lender, OWNER_PORT);
	expect_tables_released(&fx);

	test_ctx("reply from REMOTE2 to the borrowed port");
	udp_in(&fx, REMOTE2, 53, ext, HOST2, BORROWER_PORT);
	test_ctx("HOST2 to REMOTE2 again");
	udp_out(&fx, HOST2, BORROWER_PORT, REMOTE2, 53, ext);
	test_ctx("REMOTE3 to HOST2's released port");
	udp_in_untouched(&fx, REMOTE3, 53, own);
	test_ctx(NULL);
	expect_shared(&fx, HOST2, BORROWER_PORT, REMOTE2, 53, ext, 2, 1);
	expect_tables_released(&fx);
	expect_check_clean(&fx);
out:
	free(m);
	fx_teardown(&fx);
}

/*
 * A full session table: no room for the LENT entry (one session), or for
 * the SHARED session after it (two; the LENT entry goes again): the flow
 * is dropped, table_full, and leaves nothing.
 */
PROG_TEST(share_table_full, TEST_SUBTESTS)
{
	static const __u32 sizes[] = { 1, 2 };
	struct fx_opts opts;
	struct fixture fx;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(sizes); i++) {
		if (!test_subtest("%u sessions", sizes[i]))
			continue;
		opts = fx_one_port;
		opts.max_sessions = sizes[i];
		if (!setup_owner(&fx, &opts))
			goto next;
		if (sizes[i] > 1 &&
		    !ASSERT_OK(fx_session(&fx, HOST1, OWNER_PORT, REMOTE1, 53,
					  IPPROTO_UDP,
					  &(struct bpfmasq_session){}),
			       "owner's session"))
			goto next;
		test_ctx("HOST2 to REMOTE2");
		udp_out_dropped(&fx, HOST2, BORROWER_PORT, REMOTE2, 53);
		test_ctx(NULL);
		expect_no_session(&fx, HOST1, OWNER_PORT, REMOTE2, 53,
				  "LENT entry lookup");
		ASSERT_TABLES(&fx, 1, 1);
		ASSERT_STATS(&fx, STAT(TRANSLATED_OUT, 1), STAT(NEW_MAPPING, 1),
			     STAT(NEW_SESSION, 1), STAT(TABLE_FULL, 1));
		test_ctx("owner to REMOTE2");
		if (sizes[i] > 1)
			udp_out(&fx, HOST1, OWNER_PORT, REMOTE2, 53,
				SHARED_PORT);
		test_ctx(NULL);
	next:
		fx_teardown(&fx);
	}
}
