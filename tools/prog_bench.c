// SPDX-License-Identifier: GPL-2.0
/*
 * prog_bench.c - per-packet cost of each data-path path, measured with
 * BPF_PROG_TEST_RUN on one CPU: existing flow out (TC) and in (XDP and TC),
 * for UDP and for an established TCP connection, unsolicited inbound,
 * non-IPv4, and new-flow setup (mapping, port from the pool, session) from
 * an empty to a nearly full pool. Figures only; it asserts nothing.
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
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "bpfmasq.skel.h"

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

static double elapsed_ns(const struct timespec *a, const struct timespec *b)
{
	return (b->tv_sec - a->tv_sec) * 1e9 + (b->tv_nsec - a->tv_nsec);
}

/*
 * New flows, one run each: the syscall dominates, so report the cost per
 * new flow minus an existing flow's cost measured the same way.
 */
static void bench_new_flows(int egress, unsigned int n)
{
	struct timespec t0, t1;
	struct pkt_spec s;
	struct frame f;
	double base, cost;
	unsigned int i;

	s = udp_out(HOST1, 1);
	frame_build(&f, &s);
	run_ns(egress, &f, 1);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (i = 0; i < n; i++)
		run_ns(egress, &f, 1);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	base = elapsed_ns(&t0, &t1) / n;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (i = 0; i < n; i++) {
		/* Out-of-range source ports: every flow takes a pool port. */
		s = udp_out(HOST2 + htonl(i >> 10), 2 + (i & 1023));
		frame_build(&f, &s);
		run_ns(egress, &f, 1);
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	cost = elapsed_ns(&t0, &t1) / n - base;
	printf("new_flow_out_pool_0_to_%u%% %.0f ns\n",
	       (unsigned int)(100ull * n / (PORT_MAX - PORT_MIN + 1)), cost);
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
	printf("existing_flow_out_tc %.1f ns\n", run_ns(egress, &f, repeat));
	printf("existing_flow_in_xdp %.1f ns\n",
	       run_ns(ingress, &reply, repeat));
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
