// SPDX-License-Identifier: GPL-2.0
/*
 * bmqgen - the benchmark's loader, generator and counter
 * (tools/bench/bench.sh runs it; bench.bpf.c has the programs).
 *
 *   bmqgen send IFACE SECS [OPTIONS]  generate 64-byte UDP packets out of
 *                                     IFACE (XDP_TX of live test-run frames)
 *                                     for SECS seconds; prints what was sent
 *   bmqgen sink IFACE PIN             attach the counting sink to IFACE and
 *                                     pin its counter at PIN
 *   bmqgen fwd IFACE TO DMAC          attach the redirect forwarder to IFACE:
 *                                     the generator's packets go out of TO
 *                                     to DMAC
 *   bmqgen rate MS REPS TIDS PIN...   REPS times, packets per second counted
 *                                     by the sinks at PIN... over MS
 *                                     milliseconds, with the busy share of
 *                                     CPU 1 (the gateway's) and the CPU time
 *                                     of the threads TIDS (comma-separated:
 *                                     the gateway's NAPI threads) per packet
 *
 * The generator needs the peer of IFACE to take XDP frames (an XDP program
 * or NAPI, e.g. GRO on, on it). Everything it attaches stays when it exits,
 * until the interface goes (the benchmark deletes the namespaces).
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stddef.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <linux/if_link.h>
#include <linux/ip.h>
#include <linux/udp.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "bench.h"
#include "bench.skel.h"

static void die(const char *what)
{
	fprintf(stderr, "bmqgen: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void usage(void)
{
	fputs("usage: bmqgen send IFACE SECS [--smac M] [--dmac M] [--src A]\n"
	      "                  [--dst A] [--hosts N] [--ports N] [--remotes N]\n"
	      "                  [--port-base P] [--port-stride N]\n"
	      "                  [--remote-base P] [--vary none|src|dst]\n"
	      "                  [--reply] [--mapped FILE --inside A]\n"
	      "       bmqgen sink IFACE PIN\n"
	      "       bmqgen fwd IFACE TO DMAC\n"
	      "       bmqgen rate MS REPS TID[,TID...] PIN...\n",
	      stderr);
	exit(2);
}

static unsigned int ifindex_of(const char *name)
{
	unsigned int i = if_nametoindex(name);

	if (!i)
		die(name);
	return i;
}

static void parse_mac(const char *s, __u8 *mac)
{
	if (sscanf(s, "%hhx:%hhx:%hhx:%hhx:%hhx:%hhx", &mac[0], &mac[1],
		   &mac[2], &mac[3], &mac[4], &mac[5]) != 6) {
		fprintf(stderr, "bmqgen: bad MAC address %s\n", s);
		exit(2);
	}
}

static __u32 parse_addr(const char *s)
{
	struct in_addr a;

	if (inet_pton(AF_INET, s, &a) != 1) {
		fprintf(stderr, "bmqgen: bad address %s\n", s);
		exit(2);
	}
	return ntohl(a.s_addr);
}

static __u32 parse_num(const char *s, __u32 max)
{
	char *end;
	unsigned long v = strtoul(s, &end, 0);

	if (*s == '\0' || *end != '\0' || v > max) {
		fprintf(stderr, "bmqgen: bad number %s\n", s);
		exit(2);
	}
	return v;
}

static __u32 parse_vary(const char *s)
{
	if (!strcmp(s, "src"))
		return BENCH_VARY_SRC;
	if (!strcmp(s, "dst"))
		return BENCH_VARY_DST;
	if (!strcmp(s, "none"))
		return BENCH_VARY_NONE;
	usage();
	return 0;
}

static __u32 csum_add(__u32 sum, const void *p, size_t len)
{
	const __u16 *w = p;

	for (; len > 1; len -= 2)
		sum += *w++;
	return sum;
}

static __u16 csum_fold(__u32 s)
{
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return ~s;
}

struct gen_pkt {
	struct ethhdr eth;
	struct iphdr ip;
	struct udphdr udp;
	__u8 payload[18];
} __attribute__((packed));

_Static_assert(sizeof(struct gen_pkt) == 60, "a 64-byte frame with its FCS");
_Static_assert(offsetof(struct gen_pkt, payload) + 4 == BENCH_TMPL_LEN,
	       "the template ends with the magic word");

/* SIGTERM ends a run early; what was sent until then is still printed. */
static volatile sig_atomic_t stop;

static void on_term(int sig)
{
	(void)sig;
	stop = 1;
}

static double now_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

/*
 * The NAT's external port of each inside address and port, from @path: one
 * "ADDR PORT EXT_PORT" line each (bench.sh writes it from `bpfmasq conns`).
 * Flows of other addresses or ports are not the workload's and are skipped.
 */
static void load_mapped(struct bench *skel, const char *path, __u32 base,
			__u32 port_base, __u32 stride, __u32 hosts, __u32 ports)
{
	int fd = bpf_map__fd(skel->maps.gen_ext_port);
	char addr[32];
	unsigned int port, ext, n = 0;
	FILE *f = fopen(path, "r");

	if (!f)
		die(path);
	while (fscanf(f, "%31s %u %u", addr, &port, &ext) == 3) {
		__u32 h = parse_addr(addr) - base, s, k;

		if (h >= hosts || port < port_base + h * stride)
			continue;
		s = port - port_base - h * stride;
		if (s >= ports)
			continue;
		k = h * ports + s;
		if (bpf_map_update_elem(fd, &k, &ext, BPF_ANY))
			die("mapped port");
		n++;
	}
	fclose(f);
	fprintf(stderr, "bmqgen: %u mapped ports from %s\n", n, path);
}

static int cmd_send(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "smac", required_argument, NULL, 'm' },
		{ "dmac", required_argument, NULL, 'M' },
		{ "src", required_argument, NULL, 's' },
		{ "dst", required_argument, NULL, 'd' },
		{ "hosts", required_argument, NULL, 'h' },
		{ "ports", required_argument, NULL, 'p' },
		{ "remotes", required_argument, NULL, 'r' },
		{ "port-base", required_argument, NULL, 'P' },
		{ "port-stride", required_argument, NULL, 'S' },
		{ "remote-base", required_argument, NULL, 'R' },
		{ "vary", required_argument, NULL, 'v' },
		{ "reply", no_argument, NULL, 'y' },
		{ "mapped", required_argument, NULL, 'x' },
		{ "inside", required_argument, NULL, 'i' },
		{}
	};
	struct gen_pkt pkt = { .eth.h_proto = htons(ETH_P_IP) };
	__u32 src = 0, dst = 0, inside = 0, hosts = 1, ports = 1, remotes = 1;
	__u32 port_base = 1024, stride = 0, remote_base = 9000;
	__u32 vary = BENCH_VARY_SRC, reply = 0, magic = htonl(BENCH_MAGIC);
	unsigned long long sent = 0;
	const char *mapped = NULL;
	struct bench *skel;
	double secs, t0, t;
	unsigned int ifindex;
	__u32 pseudo;
	int c, fd;

	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'm':
			parse_mac(optarg, pkt.eth.h_source);
			break;
		case 'M':
			parse_mac(optarg, pkt.eth.h_dest);
			break;
		case 's':
			src = parse_addr(optarg);
			break;
		case 'd':
			dst = parse_addr(optarg);
			break;
		case 'h':
			hosts = parse_num(optarg, 1 << 24);
			break;
		case 'p':
			ports = parse_num(optarg, 65535);
			break;
		case 'r':
			remotes = parse_num(optarg, 65535);
			break;
		case 'P':
			port_base = parse_num(optarg, 65535);
			break;
		case 'S':
			stride = parse_num(optarg, 65535);
			break;
		case 'R':
			remote_base = parse_num(optarg, 65535);
			break;
		case 'v':
			vary = parse_vary(optarg);
			break;
		case 'y':
			reply = 1;
			break;
		case 'x':
			mapped = optarg;
			break;
		case 'i':
			inside = parse_addr(optarg);
			break;
		default:
			usage();
		}
	}
	if (argc - optind != 2)
		usage();
	ifindex = ifindex_of(argv[optind]);
	secs = parse_num(argv[optind + 1], 3600);
	if ((unsigned long long)hosts * ports * remotes > 1u << 31) {
		fprintf(stderr, "bmqgen: too many flows\n");
		return 2;
	}

	/* The template is flow 0; the program moves it on from there. */
	pkt.ip =
		(struct iphdr){ .version = 4,
				.ihl = 5,
				.tot_len = htons(sizeof(pkt) - sizeof(pkt.eth)),
				.ttl = 64,
				.protocol = IPPROTO_UDP,
				.saddr = htonl(src),
				.daddr = htonl(dst) };
	pkt.udp.source = htons(reply ? remote_base : port_base);
	pkt.udp.dest = htons(reply ? port_base : remote_base);
	pkt.udp.len = htons(sizeof(pkt.udp) + sizeof(pkt.payload));
	memcpy(pkt.payload, &magic, sizeof(magic));
	memcpy(pkt.payload + 4, "bpfmasq", 7);
	pkt.ip.check = csum_fold(csum_add(0, &pkt.ip, sizeof(pkt.ip)));
	/* The pseudo-header: both addresses, the protocol, the UDP length. */
	pseudo = csum_add(0, &pkt.ip.saddr, 8) + htons(IPPROTO_UDP) +
		 pkt.udp.len;
	pkt.udp.check = csum_fold(csum_add(
		pseudo, &pkt.udp, sizeof(pkt.udp) + sizeof(pkt.payload)));
	if (!pkt.udp.check)
		pkt.udp.check = 0xffff;

	skel = bench__open();
	if (!skel)
		die("open");
	skel->rodata->gen_hosts = hosts;
	skel->rodata->gen_ports = ports;
	skel->rodata->gen_remotes = remotes;
	skel->rodata->gen_port_stride = stride;
	skel->rodata->gen_port_base = port_base;
	skel->rodata->gen_remote_base = remote_base;
	skel->rodata->gen_addr_base = vary == BENCH_VARY_DST ? dst : src;
	skel->rodata->gen_vary = vary;
	skel->rodata->gen_reply = reply;
	memcpy(skel->bss->gen_tmpl, &pkt, BENCH_TMPL_LEN);
	skel->rodata->gen_mapped = !!mapped;
	if (bpf_map__set_max_entries(skel->maps.gen_ext_port,
				     mapped ? hosts * ports : 1))
		die("max entries");
	if (bench__load(skel))
		die("load");
	if (mapped)
		load_mapped(skel, mapped, inside, port_base, stride, hosts,
			    ports);
	fd = bpf_program__fd(skel->progs.bench_gen);

	{
		struct xdp_md ctx = { .data_end = sizeof(pkt),
				      .ingress_ifindex = ifindex };
		/* About a tenth of a second a call at the rates seen here. */
		LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = &pkt,
			    .data_size_in = sizeof(pkt), .ctx_in = &ctx,
			    .ctx_size_in = sizeof(ctx),
			    .flags = BPF_F_TEST_XDP_LIVE_FRAMES,
			    .repeat = 1 << 19, .batch_size = 64);

		/*
		 * No SA_RESTART: the signal interrupts the test run, whose
		 * partial batch is then not counted.
		 */
		struct sigaction sa = { .sa_handler = on_term };

		sigaction(SIGTERM, &sa, NULL);
		t0 = now_s();
		do {
			if (bpf_prog_test_run_opts(fd, &opts)) {
				if (errno == EINTR && stop)
					break;
				die("test run");
			}
			sent += opts.repeat;
			t = now_s();
		} while (t - t0 < secs && !stop);
	}
	t = now_s();
	printf("sent %llu packets in %.2f s: %.0f pps\n", sent, t - t0,
	       sent / (t - t0));
	fflush(stdout);
	bench__destroy(skel);
	return 0;
}

/* Load @skel and attach @p to @iface in driver mode (veth has it). */
static void attach(struct bench *skel, struct bpf_program *p, const char *iface)
{
	unsigned int ifindex = ifindex_of(iface);

	if (bench__load(skel))
		die("load");
	if (bpf_xdp_attach(ifindex, bpf_program__fd(p), XDP_FLAGS_DRV_MODE,
			   NULL))
		die("XDP attach");
}

static int cmd_sink(int argc, char **argv)
{
	struct bench *skel;

	if (argc != 4)
		usage();
	skel = bench__open();
	if (!skel)
		die("open");
	attach(skel, skel->progs.bench_sink, argv[2]);
	if (bpf_map__pin(skel->maps.sink_count, argv[3]))
		die("pin");
	bench__destroy(skel);
	return 0;
}

static int cmd_fwd(int argc, char **argv)
{
	struct bench *skel;
	char path[64], mac[32];
	FILE *f;

	if (argc != 5)
		usage();
	skel = bench__open();
	if (!skel)
		die("open");
	skel->rodata->fwd_ifindex = ifindex_of(argv[3]);
	parse_mac(argv[4], skel->bss->fwd_dmac);
	snprintf(path, sizeof(path), "/sys/class/net/%s/address", argv[3]);
	f = fopen(path, "r");
	if (!f || !fgets(mac, sizeof(mac), f))
		die(path);
	fclose(f);
	parse_mac(mac, skel->bss->fwd_smac);
	attach(skel, skel->progs.bench_fwd, argv[2]);
	bench__destroy(skel);
	return 0;
}

static unsigned long long count_of(int fd, int ncpus)
{
	unsigned long long sum = 0, vals[ncpus];
	__u32 key = 0;
	int i;

	if (bpf_map_lookup_elem(fd, &key, vals))
		die("lookup");
	for (i = 0; i < ncpus; i++)
		sum += vals[i];
	return sum;
}

/* Busy and total jiffies of CPU 1, from /proc/stat. */
static void cpu1_times(unsigned long long *busy, unsigned long long *total)
{
	unsigned long long v[8] = {};
	char line[256];
	FILE *f = fopen("/proc/stat", "r");

	*busy = *total = 0;
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "cpu1 %llu %llu %llu %llu %llu %llu %llu %llu",
			   &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6],
			   &v[7]) == 8) {
			for (int i = 0; i < 8; i++)
				*total += v[i];
			*busy = *total - v[3] - v[4];
			break;
		}
	}
	fclose(f);
}

/*
 * Nanoseconds the threads @tids (comma-separated) have run: the first field
 * of /proc/TID/schedstat, exact where /proc/stat counts ticks.
 */
static unsigned long long threads_ns(const char *tids)
{
	unsigned long long sum = 0, ns;
	char path[64];
	const char *p = tids;

	while (*p) {
		unsigned long tid = strtoul(p, (char **)&p, 10);
		FILE *f;

		snprintf(path, sizeof(path), "/proc/%lu/schedstat", tid);
		f = fopen(path, "r");
		if (!f)
			die(path);
		if (fscanf(f, "%llu", &ns) == 1)
			sum += ns;
		fclose(f);
		if (*p == ',')
			p++;
		else if (*p)
			usage();
	}
	return sum;
}

static int cmd_rate(int argc, char **argv)
{
	int ncpus = libbpf_num_possible_cpus(), npins = argc - 5, i, r;
	const char *tids;
	unsigned int ms, reps;
	int fds[16];

	if (npins < 1 || npins > 16 || ncpus < 1)
		usage();
	ms = parse_num(argv[2], 600000);
	reps = parse_num(argv[3], 1000);
	tids = argv[4];
	for (i = 0; i < npins; i++) {
		fds[i] = bpf_obj_get(argv[5 + i]);
		if (fds[i] < 0)
			die(argv[5 + i]);
	}
	for (r = 0; r < (int)reps; r++) {
		unsigned long long c0 = 0, c1 = 0, b0, b1, j0, j1, n0, n1;
		double t0, t1;

		for (i = 0; i < npins; i++)
			c0 += count_of(fds[i], ncpus);
		cpu1_times(&b0, &j0);
		n0 = threads_ns(tids);
		t0 = now_s();
		usleep(ms * 1000);
		for (i = 0; i < npins; i++)
			c1 += count_of(fds[i], ncpus);
		t1 = now_s();
		n1 = threads_ns(tids);
		cpu1_times(&b1, &j1);
		/* pps, CPU 1's busy share, the threads' ns per packet */
		printf("%.0f %.3f %.0f\n", (c1 - c0) / (t1 - t0),
		       j1 > j0 ? (double)(b1 - b0) / (j1 - j0) : 0.0,
		       c1 > c0 ? (double)(n1 - n0) / (c1 - c0) : 0.0);
		fflush(stdout);
	}
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 2)
		usage();
	libbpf_set_print(NULL);
	if (!strcmp(argv[1], "send"))
		return cmd_send(argc - 1, argv + 1);
	if (!strcmp(argv[1], "sink"))
		return cmd_sink(argc, argv);
	if (!strcmp(argv[1], "fwd"))
		return cmd_fwd(argc, argv);
	if (!strcmp(argv[1], "rate"))
		return cmd_rate(argc, argv);
	usage();
	return 2;
}
