// SPDX-License-Identifier: GPL-2.0
/*
 * t_fast.c - the fast path's program on a LAN interface (bpfmasq_lan), as
 * far as it runs without routes: a packet whose route is not through a
 * fast-path WAN goes to the kernel as it came, with no state made and
 * nothing counted (the normal path counts what it does with it); and a
 * reply's fast path is not tried while none is configured. Translation and
 * forwarding through it, which need the kernel's routes and neighbours,
 * are tested in namespaces (tests/net/t_fast.sh).
 */
#include <bpf/bpf.h>

#include "bpfmasq.skel.h"
#include "scenario.h"

static const struct fx_opts fast_opts = { .fast_path = true };

/* Run @f through bpfmasq_lan: its verdict, @out the frame after. */
static int fx_lan(struct fixture *fx, const struct frame *f, struct frame *out)
{
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = f->data,
		    .data_size_in = f->len, .data_out = out->data,
		    .data_size_out = sizeof(out->data), .repeat = 1);

	if (bpf_prog_test_run_opts(bpf_program__fd(fx->skel->progs.bpfmasq_lan),
				   &opts))
		return -errno;
	out->len = opts.data_size_out;
	return opts.retval;
}

PROG_TEST(fast_lan_not_routed, TEST_SUBTESTS)
{
	static const __u8 protos[] = { IPPROTO_UDP, IPPROTO_TCP, IPPROTO_ICMP };
	struct frame in, out;
	struct pkt_spec s;
	struct fixture fx;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(protos); i++) {
		if (!test_subtest("proto %u", protos[i]))
			continue;
		if (!fx_setup(&fx, &fast_opts))
			continue;
		s = flow_spec(protos[i], true);
		frame_build(&in, &s);
		if (ASSERT_EQ(fx_lan(&fx, &in, &out), XDP_VERDICT_PASS,
			      "verdict"))
			ASSERT_FRAME_EQ(&out, &in, "passed frame");
		ASSERT_TABLES(&fx, 0, 0);
		/* Every counter zero. */
		ASSERT_STATS(&fx, STAT(NON_IPV4, 0));
		fx_teardown(&fx);
	}
}
