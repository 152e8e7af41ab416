// SPDX-License-Identifier: GPL-2.0
/*
 * t_hosts.c - --max-ports-per-host (RFC 6888 REQ-4): a host's mappings
 * are counted in hosts; at the limit its next new mapping is dropped
 * (host_port_limit) and counted in its entry, while its existing mappings
 * and other hosts go on; a released mapping gives the count back, so the
 * host may map again; --max-sessions-per-host the same for its sessions.
 * The collector deletes an entry that counts nothing only by its
 * compare-and-swap to DEAD. The checker finds a wrong count.
 */
#include <errno.h>
#include <bpf/bpf.h>

#include "check.h"
#include "clock.h"
#include "gc.h"
#include "hosts.h"
#include "scenario.h"

static const struct fx_opts limit2 = { .max_ports_per_host = 2 };

static bool host_entry(struct fixture *fx, __be32 addr, struct bpfmasq_host *h)
{
	return !bpf_map_lookup_elem(fx->maps.hosts, &addr, h);
}

/* HOST1 maps two ports, not a third; HOST2 and HOST1's old ones go on. */
PROG_TEST(host_port_limit, 0)
{
	struct pkt_spec a = udp_spec(HOST1, 5000, REMOTE1, 53, query);
	struct pkt_spec b = udp_spec(HOST1, 5001, REMOTE1, 53, query);
	struct pkt_spec c = udp_spec(HOST1, 5002, REMOTE1, 53, query);
	struct pkt_spec a2 = udp_spec(HOST1, 5000, REMOTE2, 53, query);
	struct pkt_spec other = udp_spec(HOST2, 5000, REMOTE1, 53, query);
	const __u64 later =
		now_boot_ns() +
		(300 + 1 + 2 * BPFMASQ_MAPPING_GRACE_S) /* the UDP timeout */ *
			1000000000ull;
	struct bpfmasq_host h;
	struct gc_result res;
	struct frame in, out;
	struct fixture fx;

	if (!fx_setup(&fx, &limit2) || !send_out(&fx, &a, NULL) ||
	    !send_out(&fx, &b, NULL))
		goto out;
	frame_build(&in, &c);
	ASSERT_EQ(fx_egress(&fx, &in, &out), TC_SHOT, "a third port: dropped");
	if (ASSERT_EQ(host_entry(&fx, HOST1, &h), true, "HOST1's entry")) {
		ASSERT_EQ(h.ports, 2, "HOST1's ports");
		ASSERT_EQ(h.limited, 1, "HOST1 refused");
		ASSERT_EQ(h.limited_ns != 0, true, "when");
	}
	test_ctx("a new remote on a mapping it has");
	send_out(&fx, &a2, NULL);
	test_ctx("another host");
	send_out(&fx, &other, NULL);
	test_ctx(NULL);
	ASSERT_STATS(&fx, STAT(TRANSLATED_OUT, 4), STAT(HOST_PORT_LIMIT, 1),
		     STAT(NEW_MAPPING, 3), STAT(NEW_SESSION, 4));
	expect_check_clean(&fx);

	/* All expire: the counts go back to 0, and HOST1 maps again. */
	if (!ASSERT_OK(gc_pass(&fx.maps, later, &res), "gc_pass"))
		goto out;
	ASSERT_EQ(map_count(fx.maps.mappings), 0, "mappings after expiry");
	if (ASSERT_EQ(host_entry(&fx, HOST1, &h), true,
		      "HOST1's entry, kept: it was refused lately"))
		ASSERT_EQ(h.ports, 0, "HOST1's ports");
	ASSERT_EQ(host_entry(&fx, HOST2, &h), false,
		  "HOST2's entry, counting nothing: deleted");
	send_out(&fx, &c, NULL);
	expect_check_clean(&fx);
out:
	fx_teardown(&fx);
}

/*
 * --max-sessions-per-host 2: HOST1's third session is refused, a new
 * remote on a mapping it has too (that is a session); its own two and
 * HOST2's go on, and once they have expired it may again.
 */
PROG_TEST(host_session_limit, 0)
{
	struct pkt_spec a = udp_spec(HOST1, 5000, REMOTE1, 53, query);
	struct pkt_spec b = udp_spec(HOST1, 5001, REMOTE1, 53, query);
	struct pkt_spec c = udp_spec(HOST1, 5002, REMOTE1, 53, query);
	struct pkt_spec a2 = udp_spec(HOST1, 5000, REMOTE2, 53, query);
	struct pkt_spec other = udp_spec(HOST2, 5000, REMOTE1, 53, query);
	const struct bpfmasq_limits two = { .max_sessions_per_host = 2 };
	const __u64 later =
		now_boot_ns() +
		(300 + 1 + 2 * BPFMASQ_MAPPING_GRACE_S) * 1000000000ull;
	struct bpfmasq_host h;
	struct gc_result res;
	struct frame in, out;
	struct fixture fx;
	__u32 zero = 0;

	if (!fx_setup(&fx, NULL) ||
	    !ASSERT_OK(bpf_map_update_elem(fx.maps.limits, &zero, &two, 0),
		       "the limit") ||
	    !send_out(&fx, &a, NULL) || !send_out(&fx, &b, NULL))
		goto out;
	frame_build(&in, &c);
	ASSERT_EQ(fx_egress(&fx, &in, &out), TC_SHOT, "a third session");
	frame_build(&in, &a2);
	ASSERT_EQ(fx_egress(&fx, &in, &out), TC_SHOT,
		  "a new remote on a mapping it has");
	if (ASSERT_EQ(host_entry(&fx, HOST1, &h), true, "HOST1's entry")) {
		ASSERT_EQ(h.sessions, 2, "HOST1's sessions");
		ASSERT_EQ(h.ports, 2, "HOST1's ports: the third's went again");
		ASSERT_EQ(h.limited, 2, "HOST1 refused");
	}
	test_ctx("its own flows");
	send_out(&fx, &a, NULL);
	test_ctx("another host");
	send_out(&fx, &other, NULL);
	test_ctx(NULL);
	ASSERT_STATS(&fx, STAT(TRANSLATED_OUT, 4), STAT(HOST_SESSION_LIMIT, 2),
		     STAT(NEW_MAPPING, 4), STAT(NEW_SESSION, 3));
	expect_check_clean(&fx);

	if (!ASSERT_OK(gc_pass(&fx.maps, later, &res), "gc_pass"))
		goto out;
	if (ASSERT_EQ(host_entry(&fx, HOST1, &h), true, "HOST1's entry, kept"))
		ASSERT_EQ(h.sessions, 0, "HOST1's sessions after expiry");
	send_out(&fx, &c, NULL);
	expect_check_clean(&fx);
out:
	fx_teardown(&fx);
}

/*
 * The collector's HOST_DROP: an entry that counts a port is kept
 * (-EBUSY), one that counts none goes; and a mapping made after that
 * counts itself in a new entry.
 */
PROG_TEST(host_drop, 0)
{
	struct pkt_spec a = udp_spec(HOST1, 5000, REMOTE1, 53, query);
	struct bpfmasq_ctl_args args = { .op = BPFMASQ_CTL_HOST_DROP };
	struct bpfmasq_host h = {};
	struct fixture fx;

	if (!fx_setup(&fx, NULL) || !send_out(&fx, &a, NULL))
		goto out;
	args.ep.addr = HOST1;
	ASSERT_EQ(ctl_run(&fx.maps, &args), -EBUSY, "drop, counting one");
	args.ep.addr = HOST2;
	ASSERT_EQ(ctl_run(&fx.maps, &args), -ENOENT, "drop, no entry");
	if (!ASSERT_OK(bpf_map_update_elem(fx.maps.hosts, &args.ep.addr, &h,
					   BPF_NOEXIST),
		       "an entry that counts none"))
		goto out;
	h.sessions = 1;
	bpf_map_update_elem(fx.maps.hosts, &args.ep.addr, &h, BPF_EXIST);
	ASSERT_EQ(ctl_run(&fx.maps, &args), -EBUSY, "drop, counting a session");
	if (ASSERT_EQ(host_entry(&fx, HOST2, &h), true, "HOST2's entry, kept"))
		ASSERT_EQ(h.ports, 0, "not left DEAD");
	h.sessions = 0;
	bpf_map_update_elem(fx.maps.hosts, &args.ep.addr, &h, BPF_EXIST);
	ASSERT_OK(ctl_run(&fx.maps, &args), "drop, counting none");
	ASSERT_EQ(host_entry(&fx, HOST2, &h), false, "HOST2's entry");
	a.saddr = HOST2;
	if (send_out(&fx, &a, NULL) &&
	    ASSERT_EQ(host_entry(&fx, HOST2, &h), true, "HOST2's new entry"))
		ASSERT_EQ(h.ports, 1, "its count");
	expect_check_clean(&fx);
out:
	fx_teardown(&fx);
}

/* What check finds when an entry's count is not its mappings'. */
/* Not .fast: it checks a map by hand. */
PROG_TEST(host_check, TEST_NO_FAST)
{
	struct pkt_spec a = udp_spec(HOST1, 5000, REMOTE1, 53, query);
	struct bpfmasq_host h;
	struct fixture fx;

	if (!fx_setup(&fx, NULL) || !send_out(&fx, &a, NULL) ||
	    !ASSERT_EQ(host_entry(&fx, HOST1, &h), true, "HOST1's entry"))
		goto out;
	h.ports = 3;
	if (!ASSERT_OK(bpf_map_update_elem(fx.maps.hosts, &a.saddr, &h, 0),
		       "a wrong count"))
		goto out;
	expect_check_finds(&fx, CHECK_HOST_COUNT);
out:
	fx_teardown(&fx);
}
