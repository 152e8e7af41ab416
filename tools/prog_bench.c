// SPDX-License-Identifier: GPL-2.0
/*
 * prog_bench.c - per-packet cost of each data-path path, measured with
 * BPF_PROG_TEST_RUN on one CPU: existing flow out (TC) and in (XDP and TC),
 * for UDP and for an established TCP connection, unsolicited inbound,
 * non-IPv4, and new-flow setup (mapping, port from the pool, session) from
 * an empty to a nearly full pool; beside them the yardsticks of
 * prog_bench.bpf.c (an empty program, one hash lookup) and the existing
 * flow's cost in those lookups. Figures only; it asserts nothing.
 * Usage: prog_bench [RUNS]
 *
 * A translated frame would not be translated again, so the kernel's own
 * repeat count cannot be used: each run is one call with a fresh copy of
 * the frame, and the kernel's per-run duration is averaged.
 */
#define _GNU_SOURCE /* unshare */
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "bpfmasq.skel.h"
#include "prog_bench.skel.h"

#include "harness.h"
#include "pkt.h"

static const __u8 payload[18] = "bpfmasq benchmark";

/* Average ns per run of @prog over @runs runs of @f. */
static double run_ns(int prog_fd, const struct frame *f, __u32 runs)
{
	struct frame out;
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = f->data,
		    .data_size_in = f->len, .data_out = out.data,
		    .data_size_out = sizeof(out.data), .repeat = 1);
	double total = 0;
	__u32 i;

	for (i = 0; i < runs; i++) {
		opts.data_size_out = sizeof(out.data);
		if (bpf_prog_test_run_opts(prog_fd, &opts)) {
			fprintf(stderr, "prog_bench: test run failed: %s\n",
				strerror(errno));
			exit(1);
		}
		total += opts.duration;
	}
	return total / runs;
}

static struct pkt_spec udp_out(__be32 host, __u16 sport)
{
	return (struct pkt_spec){ .saddr = host,
				  .daddr = REMOTE1,
				  .sport = sport,
				  .dport = 53,
				  .proto = IPPROTO_UDP,
				  .payload = payload,
				  .payload_len = sizeof(payload) };
}

/*
 * The yardsticks, on frame @f (whose session key they find in a table of
 * @max_sessions), and the cost of the existing flow out, @out_ns and in,
 * @in_ns, in them: as measured, and net of the empty program (what the
 * test-run machinery costs alone).
 */
static void bench_yardsticks(const struct frame *f, __u32 max_sessions,
			     __u32 repeat, double out_ns, double in_ns)
{
	struct bpfmasq_session_key key = { .inside_addr = HOST1,
					   .remote_addr = REMOTE1,
					   .inside_port = htons(40000),
					   .remote_port = htons(53),
					   .proto = IPPROTO_UDP };
	struct bpfmasq_session val = { 0 };
	double empty, tc, xdp;
	struct prog_bench *skel;

	skel = prog_bench__open();
	if (!skel) {
		fprintf(stderr, "prog_bench: cannot open the yardsticks: %s\n",
			strerror(errno));
		return;
	}
	bpf_map__set_max_entries(skel->maps.base_sessions, max_sessions);
	if (prog_bench__load(skel) ||
	    bpf_map__update_elem(skel->maps.base_sessions, &key, sizeof(key),
				 &val, sizeof(val), BPF_NOEXIST)) {
		fprintf(stderr, "prog_bench: cannot load the yardsticks: %s\n",
			strerror(errno));
		prog_bench__destroy(skel);
		return;
	}
	empty = run_ns(bpf_program__fd(skel->progs.base_empty_tc), f, repeat);
	tc = run_ns(bpf_program__fd(skel->progs.base_lookup_tc), f, repeat);
	xdp = run_ns(bpf_program__fd(skel->progs.base_lookup_xdp), f, repeat);
	if (!skel->bss->base_found)
		fprintf(stderr, "prog_bench: the yardstick's lookup missed\n");
	printf("empty_tc %.1f ns\n", empty);
	printf("one_lookup_tc %.1f ns\n", tc);
	printf("one_lookup_xdp %.1f ns\n", xdp);
	printf("existing_flow_out_in_lookups %.2f x\n", out_ns / tc);
	printf("existing_flow_in_in_lookups %.2f x\n", in_ns / xdp);
	if (tc > empty && xdp > empty) {
		printf("existing_flow_out_in_lookups_net %.2f x\n",
		       (out_ns - empty) / (tc - empty));
		printf("existing_flow_in_in_lookups_net %.2f x\n",
		       (in_ns - empty) / (xdp - empty));
	}
	prog_bench__destroy(skel);
}

/* A segment of HOST1:40000 <-> REMOTE1:443 (@out: from inside). */
static struct pkt_spec tcp_seg(bool out, __u8 flags, __u32 seq, __u32 ack)
{
	return (struct pkt_spec){ .saddr = out ? HOST1 : REMOTE1,
				  .daddr = out ? REMOTE1 : EXT_ADDR,
				  .sport = out ? 40000 : 443,
				  .dport = out ? 443 : 40000,
				  .proto = IPPROTO_TCP,
				  .tcp_flags = flags,
				  .tcp_numbers = true,
				  .tcp_seq = seq,
				  .tcp_ack = ack,
				  .tcp_win = 502,
				  .payload = payload,
				  .payload_len = flags & PKT_TCP_SYN
							 ? 0
							 : sizeof(payload) };
}

/*
 * An established connection, then its data segments each way: the same
 * frame every run, so the numbers it carries do not move; then
 * acknowledgments that do, one fresh frame each.
 */
static void bench_tcp(int egress, int ingress, __u32 repeat)
{
	struct pkt_spec s;
	double total = 0;
	struct frame f;
	__u32 i;

	s = tcp_seg(true, PKT_TCP_SYN, 1000, 0);
	frame_build(&f, &s);
	run_ns(egress, &f, 1);
	s = tcp_seg(false, PKT_TCP_SYN | PKT_TCP_ACK, 5000, 1001);
	frame_build(&f, &s);
	run_ns(ingress, &f, 1);
	s = tcp_seg(true, PKT_TCP_ACK, 1001, 5001);
	frame_build(&f, &s);
	run_ns(egress, &f, 1);

	s = tcp_seg(true, PKT_TCP_ACK | PKT_TCP_PSH, 1001, 5001);
	frame_build(&f, &s);
	printf("existing_tcp_out_tc %.1f ns\n", run_ns(egress, &f, repeat));
	s = tcp_seg(false, PKT_TCP_ACK | PKT_TCP_PSH, 5001, 1001);
	frame_build(&f, &s);
	printf("existing_tcp_in_xdp %.1f ns\n", run_ns(ingress, &f, repeat));

	/* The remote acknowledging more with each segment, as a receiver does. */
	for (i = 0; i < repeat / 8; i++) {
		s = tcp_seg(false, PKT_TCP_ACK, 5001, 1001 + 1448 * (i + 1));
		frame_build(&f, &s);
		total += run_ns(ingress, &f, 1);
	}
	printf("existing_tcp_in_xdp_acking %.1f ns\n", total / i);
}

/*
 * New flows, one run each, while the pool fills from empty to @n ports
 * taken: the average, and that of the first and of the last tenth, which
 * should not differ (allocation is one pop whatever the pool holds).
 */
static void bench_new_flows(int egress, unsigned int n)
{
	double all = 0, first = 0, last = 0, ns;
	unsigned int i, tenth = n / 10;
	struct pkt_spec s;
	struct frame f;

	for (i = 0; i < n; i++) {
		/* Out-of-range source ports: every flow takes a pool port. */
		s = udp_out(HOST2 + htonl(i >> 10), 2 + (i & 1023));
		frame_build(&f, &s);
		ns = run_ns(egress, &f, 1);
		all += ns;
		if (i < tenth)
			first += ns;
		if (i >= n - tenth)
			last += ns;
	}
	printf("new_flow_out_pool_0_to_%u%% %.0f ns\n",
	       (unsigned int)(100ull * n / (PORT_MAX - PORT_MIN + 1)), all / n);
	printf("new_flow_out_pool_first_tenth %.0f ns\n", first / tenth);
	printf("new_flow_out_pool_last_tenth %.0f ns\n", last / tenth);
}

int main(int argc, char **argv)
{
	/* One port per pool: the first flow of each protocol gets 40000. */
	struct fx_opts opts = { .port_min = 40000,
				.port_max = 40000,
				.both_ingress = true };
	__u32 repeat = argc > 1 ? strtoul(argv[1], NULL, 0) : 200000;
	struct pkt_spec s = udp_out(HOST1, 40000), r;
	struct frame f, reply, other;
	double out_ns, in_ns;
	struct fixture fx;
	int egress, ingress;

	/* As the program tests: no host route or forwarding for the FIB. */
	if (unshare(CLONE_NEWNET))
		fprintf(stderr, "prog_bench: cannot unshare: %s\n",
			strerror(errno));
	if (!fx_setup(&fx, &opts))
		return 1;
	egress = bpf_program__fd(fx.skel->progs.bpfmasq_egress);
	ingress = bpf_program__fd(fx.skel->progs.bpfmasq_ingress);

	frame_build(&f, &s);
	run_ns(egress, &f, 1); /* creates the flow, on port 40000 */
	r = (struct pkt_spec){ .saddr = REMOTE1,
			       .daddr = EXT_ADDR,
			       .sport = 53,
			       .dport = 40000,
			       .proto = IPPROTO_UDP,
			       .payload = payload,
			       .payload_len = sizeof(payload) };
	frame_build(&reply, &r);
	/* A warm-up first: the first figure would pay for cold caches. */
	run_ns(egress, &f, repeat);
	out_ns = run_ns(egress, &f, repeat);
	in_ns = run_ns(ingress, &reply, repeat);
	printf("existing_flow_out_tc %.1f ns\n", out_ns);
	printf("existing_flow_in_xdp %.1f ns\n", in_ns);
	printf("existing_flow_in_tc %.1f ns\n",
	       run_ns(bpf_program__fd(fx.skel->progs.bpfmasq_ingress_tc),
		      &reply, repeat));
	bench_tcp(egress, ingress, repeat);
	r.dport = 41000;
	frame_build(&reply, &r);
	printf("unsolicited_in_xdp %.1f ns\n", run_ns(ingress, &reply, repeat));
	frame_build_ethertype(&other, ETH_P_ARP);
	printf("non_ipv4_in_xdp %.1f ns\n", run_ns(ingress, &other, repeat));
	printf("non_ipv4_out_tc %.1f ns\n", run_ns(egress, &other, repeat));
	/* The UDP pool is empty now: a flow that cannot be mapped. */
	s = udp_out(HOST2, 40000);
	frame_build(&f, &s);
	printf("no_port_out_tc %.1f ns\n", run_ns(egress, &f, repeat));
	s = udp_out(HOST1, 40000);
	frame_build(&f, &s);
	bench_yardsticks(&f, bpf_map__max_entries(fx.skel->maps.sessions),
			 repeat, out_ns, in_ns);
	fx_teardown(&fx);

	/* A fresh instance with a 1,000-port pool, filled to 99%. */
	opts = (struct fx_opts){ .max_sessions = 4096 };
	if (!fx_setup(&fx, &opts))
		return 1;
	bench_new_flows(bpf_program__fd(fx.skel->progs.bpfmasq_egress),
			(PORT_MAX - PORT_MIN + 1) * 99 / 100);
	fx_teardown(&fx);
	return 0;
}
