// SPDX-License-Identifier: GPL-2.0
/* harness.c - fixture, test runs, map look-ups and assertion reporting. */
#define _GNU_SOURCE /* setns, unshare */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <net/if.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "bpfmasq.skel.h"
#include "addrs.h"
#include "harness.h"

const char *cur_test = "?";
int cur_failures;
static char ctx_buf[128];
static bool ingress_tc_default, fast_default;
unsigned long fx_fast_taken;

_Static_assert(BPFMASQ_STAT_FAST_FRAGMENT - BPFMASQ_STAT_FAST_OUT == 6,
	       "the fast path's counters are one run of rows (FAST_NSTATS)");

void fx_set_ingress_tc(bool tc)
{
	ingress_tc_default = tc;
}

void fx_set_fast(bool fast)
{
	fast_default = fast;
	fx_fast_taken = 0;
}

bool fx_ingress_tc(void)
{
	return ingress_tc_default;
}

void test_ctx(const char *fmt, ...)
{
	va_list ap;

	ctx_buf[0] = '\0';
	if (!fmt)
		return;
	va_start(ap, fmt);
	vsnprintf(ctx_buf, sizeof(ctx_buf) - 2, fmt, ap);
	va_end(ap);
	strcat(ctx_buf, ": ");
}

void assert_fail(const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	cur_failures++;
	printf("  %s: %s:%d: %s", cur_test, file, line, ctx_buf);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
}

const struct fx_opts fx_one_port = { .port_min = IN_RANGE_PORT,
				     .port_max = IN_RANGE_PORT };

int fast_lan_ifindex, fast_wan_ifindex;

/* The namespace of the tests, and the fast path's; -1 until made. */
static int netns_tests = -1, netns_fast = -1;

/* The inside hosts the tests use: neighbours on the fast world's LAN. */
static const __be32 fast_hosts[] = { HOST1, HOST2, HOST3, HOST4, HOST5 };

void fast_host_mac(__be32 addr, __u8 mac[ETH_ALEN])
{
	const __u8 *a = (const __u8 *)&addr;

	memcpy(mac, "\x02\x00\x00\x00\x0a", 5);
	mac[5] = a[3];
}

static int fast_world_run(const char *cmd)
{
	char buf[192];

	snprintf(buf, sizeof(buf), "%s >/dev/null 2>&1", cmd);
	return system(buf) ? -EIO : 0;
}

static int fast_world_make(void)
{
	static const char *const cmds[] = {
		"ip link add flan address 02:00:00:00:0a:01 type veth peer name flanp",
		"ip link add fwan address 02:00:00:00:fe:02 type veth peer name fwanp",
		"ip link set flanp up",
		"ip link set fwanp up",
		"ip link set flan up",
		"ip link set fwan up",
		"ip addr add 10.0.0.1/8 dev flan",
		"ip addr add 203.0.113.1/24 dev fwan",
		"ip route add default via 203.0.113.254",
		"ip neigh add 203.0.113.254 lladdr 02:00:00:00:fe:01 dev fwan nud permanent",
		"sysctl -qw net.ipv4.conf.all.forwarding=1",
		/*
		 * The TC programs' test runs come in on lo: no forwarding
		 * there, and unreach.h finds no way back, as in the tests'
		 * own namespace, whose tables expect a flow that finds no
		 * port to be dropped (t_unreach.c sends one in a world of
		 * its own).
		 */
		"sysctl -qw net.ipv4.conf.lo.forwarding=0",
	};
	char cmd[160], addr[INET_ADDRSTRLEN];
	__u8 mac[ETH_ALEN];
	size_t i;
	int err = 0;

	if (unshare(CLONE_NEWNET))
		return -errno;
	for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]) && !err; i++)
		err = fast_world_run(cmds[i]);
	for (i = 0; i < sizeof(fast_hosts) / sizeof(fast_hosts[0]) && !err;
	     i++) {
		fast_host_mac(fast_hosts[i], mac);
		inet_ntop(AF_INET, &fast_hosts[i], addr, sizeof(addr));
		snprintf(cmd, sizeof(cmd),
			 "ip neigh add %s lladdr "
			 "%02x:%02x:%02x:%02x:%02x:%02x dev flan nud permanent",
			 addr, mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]);
		err = fast_world_run(cmd);
	}
	if (err)
		return err;
	fast_lan_ifindex = if_nametoindex("flan");
	fast_wan_ifindex = if_nametoindex("fwan");
	netns_fast = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	return netns_fast < 0 ? -errno : 0;
}

/* Into the fast path's namespace, made at the first call. */
static int fast_world_enter(void)
{
	int err;

	if (netns_tests < 0) {
		netns_tests = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
		if (netns_tests < 0)
			return -errno;
	}
	if (netns_fast >= 0)
		return setns(netns_fast, CLONE_NEWNET) ? -errno : 0;
	err = fast_world_make();
	if (err && setns(netns_tests, CLONE_NEWNET))
		err = -errno;
	return err;
}

static void fast_world_leave(void)
{
	if (netns_tests >= 0)
		setns(netns_tests, CLONE_NEWNET);
}

/* The fast path on the dummy LAN and WAN, as attach --fast-path sets it. */
static int fx_fast_path(struct fixture *fx)
{
	const struct bpfmasq_fast_iface lan = { .role = BPFMASQ_FAST_LAN },
					wan = { .role = BPFMASQ_FAST_WAN };
	__u32 l = fast_lan_ifindex, w = fast_wan_ifindex;

	if (!l || !w)
		return -ENODEV;
	if (bpf_map_update_elem(fx->maps.fast_ifaces, &l, &lan, BPF_ANY) ||
	    bpf_map_update_elem(fx->maps.fast_ifaces, &w, &wan, BPF_ANY))
		return -errno;
	fx->cfg.flags |= BPFMASQ_CFG_FAST_PATH;
	return config_write(&fx->maps, &fx->cfg);
}

bool fx_setup(struct fixture *fx, const struct fx_opts *opts)
{
	static const struct fx_opts defaults;
	const __be32 local[] = { EXT_ADDR, GW_LAN_ADDR };
	const struct cidr lan = { IP4(10, 0, 0, 0), 8 }, any = { 0, 0 };
	struct bpfmasq_instance inst;
	int err;

	if (!opts)
		opts = &defaults;
	memset(fx, 0, sizeof(*fx));
	fx->maps.ctl = -1;
	fx->maps.ctl_batch = -1;
	fx->ingress_tc = ingress_tc_default;
	fx->fast_runs = fast_default;
	fx->skel = bpfmasq__open();
	if (!fx->skel) {
		assert_fail(__FILE__, __LINE__, "cannot open the skeleton: %s",
			    strerror(errno));
		return false;
	}
	/* The record attach writes, with the default timeouts. */
	instance_defaults(&inst);
	inst.ports[0] = (struct bpfmasq_port_range){
		opts->port_min ? opts->port_min : PORT_MIN,
		opts->port_max ? opts->port_max : PORT_MAX
	};
	/* A small table makes "full" reachable in a test. */
	if (opts->max_sessions)
		inst.max_sessions = opts->max_sessions;
	if (opts->no_sharing)
		inst.flags |= BPFMASQ_INST_NO_SHARING;
	inst.max_ports_per_host = opts->max_ports_per_host;
	inst.ingress =
		fx->ingress_tc ? BPFMASQ_INGRESS_TC : BPFMASQ_INGRESS_NATIVE;
	skel_prepare(fx->skel, &inst);
	if (!opts->fast_path && !fx->fast_runs)
		bpf_program__set_autoload(fx->skel->progs.bpfmasq_lan, false);
	if (!opts->hairpin)
		bpf_program__set_autoload(fx->skel->progs.bpfmasq_hairpin,
					  false);
	/* Most of a setup is the verifier's: only the ingress it runs. */
	if (!opts->both_ingress)
		bpf_program__set_autoload(
			fx->ingress_tc ? fx->skel->progs.bpfmasq_ingress
				       : fx->skel->progs.bpfmasq_ingress_tc,
			false);
	/* Room for every port of the test ranges, quicker to set up. */
	bpf_map__set_max_entries(fx->skel->maps.port_owners,
				 opts->max_owners ? opts->max_owners : 8192);
	err = bpfmasq__load(fx->skel);
	if (err) {
		assert_fail(__FILE__, __LINE__,
			    "cannot load the BPF programs: %s (-v shows the "
			    "verifier log)",
			    strerror(-err));
		goto fail;
	}
	err = maps_from_skel(fx->skel, &fx->maps);
	if (err) {
		assert_fail(__FILE__, __LINE__,
			    "cannot load the control program: %s",
			    strerror(-err));
		goto fail;
	}

	fx->cfg = (struct bpfmasq_config){
		.ext_addr = opts->no_ext_addr ? 0 : EXT_ADDR,
		.filtering = opts->filtering,
		.max_inbound = opts->max_inbound ? opts->max_inbound
						 : BPFMASQ_DEFAULT_MAX_INBOUND,
	};
	err = config_write(&fx->maps, &fx->cfg);
	if (!err)
		err = instance_write(&fx->maps, &inst);
	if (!err)
		err = lpm_set(fx->maps.internal_nets,
			      opts->inside_any ? &any : &lan, 1);
	if (!err)
		err = lpm_set(fx->maps.lan_nets, &lan, 1);
	if (!err)
		err = local_addrs_set(&fx->maps, local, 2);
	if (!err)
		err = pools_create(&fx->maps, &fx->cfg);
	if (!err && (opts->fast_path || fx->fast_runs)) {
		err = fast_world_enter();
		fx->fast = !err;
		if (!err)
			err = fx_fast_path(fx);
	}
	if (err) {
		assert_fail(__FILE__, __LINE__, "cannot configure: %s",
			    strerror(-err));
		goto fail;
	}
	return true;
fail:
	ctl_close(&fx->maps);
	bpfmasq__destroy(fx->skel);
	fx->skel = NULL;
	if (fx->fast)
		fast_world_leave();
	fx->fast = false;
	return false;
}

void fx_teardown(struct fixture *fx)
{
	if (fx->skel)
		ctl_close(&fx->maps);
	bpfmasq__destroy(fx->skel);
	fx->skel = NULL;
	if (fx->fast)
		fast_world_leave();
	fx->fast = false;
	test_ctx(NULL);
}

int fx_prog_run(const struct bpf_program *prog, int ifindex,
		const struct frame *in, struct frame *out)
{
	struct xdp_md ctx = { .data_end = in->len, .ingress_ifindex = ifindex };
	struct __sk_buff skb = { .ingress_ifindex = ifindex,
				 .ifindex = ifindex };
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = in->data,
		    .data_size_in = in->len, .data_out = out->data,
		    .data_size_out = sizeof(out->data), .repeat = 1);

	if (ifindex && bpf_program__type(prog) == BPF_PROG_TYPE_SCHED_CLS) {
		opts.ctx_in = &skb;
		opts.ctx_size_in = sizeof(skb);
	} else if (ifindex) {
		opts.ctx_in = &ctx;
		opts.ctx_size_in = sizeof(ctx);
	}
	memset(out->data, 0, sizeof(out->data));
	out->len = 0;
	if (bpf_prog_test_run_opts(bpf_program__fd(prog), &opts)) {
		assert_fail(__FILE__, __LINE__, "BPF_PROG_TEST_RUN of %s: %s",
			    bpf_program__name(prog), strerror(errno));
		return -1;
	}
	out->len = opts.data_size_out;
	return opts.retval;
}

static int fx_run(const struct bpf_program *prog, const struct frame *in,
		  struct frame *out)
{
	return fx_prog_run(prog, 0, in, out);
}

int fx_fast_lan(struct fixture *fx, const struct frame *in, struct frame *out)
{
	return fx_prog_run(fx->skel->progs.bpfmasq_lan, fast_lan_ifindex, in,
			   out);
}

int fx_fast_wan(struct fixture *fx, const struct frame *in, struct frame *out)
{
	return fx_prog_run(fx->skel->progs.bpfmasq_ingress, fast_wan_ifindex,
			   in, out);
}

/* A frame's IPv4 header, if it has one whole: NULL if not. */
static struct iphdr *fast_frame_ip(const struct frame *f)
{
	const struct ethhdr *eth = (const void *)f->data;
	struct iphdr *iph = (void *)(f->data + ETH_HLEN);

	if (f->len < ETH_HLEN + sizeof(*iph) ||
	    eth->h_proto != htons(ETH_P_IP) || iph->version != 4 ||
	    iph->ihl < 5)
		return NULL;
	return iph;
}

/* How the fast world routes @daddr (its routes, see fast_world_make). */
enum fast_way {
	FAST_WAY_LAN, /* a neighbour on the LAN: inside */
	FAST_WAY_WAN, /* the next hop on the WAN, or a neighbour there */
	FAST_WAY_OTHER, /* the gateway's own, or not unicast */
};

/* Forwarded by the kernel at all as a source (bpf/fast.h, fast_unicast)? */
static bool fast_world_source(__be32 saddr)
{
	__u32 a = ntohl(saddr);

	return a >> 24 && a >> 24 != 127 && a < 0xe0000000u;
}

static enum fast_way fast_world_way(__be32 daddr)
{
	__u32 a = ntohl(daddr);

	/* Local, this network, loopback, multicast, the subnets' broadcasts. */
	if (daddr == EXT_ADDR || daddr == GW_LAN_ADDR || !(a >> 24) ||
	    a >> 24 == 127 || a >= 0xe0000000u || a == 0x0affffffu ||
	    a == (ntohl(EXT_ADDR) | 0xffu))
		return FAST_WAY_OTHER;
	return a >> 24 == 10 ? FAST_WAY_LAN : FAST_WAY_WAN;
}

/*
 * Could the fast path have forwarded @f out, the normal path translating
 * it (@translated)? A TCP or UDP packet, an echo request or a later
 * fragment (fast_out's kinds), routed to the WAN. Then it counts why it
 * did not (a fallback), and when not, it counts nothing.
 */
enum fast_fallback {
	FAST_FALLBACK_NONE, /* counted none */
	FAST_FALLBACK_MAY, /* one, or none: not translated */
	FAST_FALLBACK_DUE, /* one: it was the fast path's to take */
};

static enum fast_fallback fast_fallback_out(const struct frame *f,
					    bool translated)
{
	const struct iphdr *iph = fast_frame_ip(f);
	const __u8 *l4;
	bool kind;

	if (!iph || fast_world_way(iph->daddr) != FAST_WAY_WAN ||
	    !fast_world_source(iph->saddr))
		return FAST_FALLBACK_NONE;
	l4 = (const __u8 *)iph + iph->ihl * 4;
	kind = (ntohs(iph->frag_off) & PKT_IP_OFFSET) ||
	       iph->protocol == IPPROTO_TCP || iph->protocol == IPPROTO_UDP ||
	       (iph->protocol == IPPROTO_ICMP && l4 < f->data + f->len &&
		*l4 == ICMP_ECHO);
	if (!kind)
		return FAST_FALLBACK_NONE;
	return translated ? FAST_FALLBACK_DUE : FAST_FALLBACK_MAY;
}

/* The counters a run through the fast path is checked by. */
struct fast_snap {
	uint64_t out, in; /* TRANSLATED_OUT, TRANSLATED_IN */
	uint64_t fast[FAST_NSTATS];
};

static void fast_snap(struct fixture *fx, struct fast_snap *s)
{
	int i, err;

	err = stat_read(&fx->maps, BPFMASQ_STAT_TRANSLATED_OUT, &s->out);
	if (!err)
		err = stat_read(&fx->maps, BPFMASQ_STAT_TRANSLATED_IN, &s->in);
	for (i = 0; i < FAST_NSTATS && !err; i++)
		err = stat_read(&fx->maps, BPFMASQ_STAT_FAST_OUT + i,
				&s->fast[i]);
	if (err)
		assert_fail(__FILE__, __LINE__, "cannot read counters: %s",
			    strerror(-err));
}

/*
 * What the fast path counted for one packet, from @b to @a: @forwarded,
 * @taken (FAST_OUT or FAST_IN) once and no fallback; else no @taken and
 * the fallbacks @fb allows; never the other direction's. fast_seen gets it.
 */
static void fast_counted(struct fixture *fx, const struct fast_snap *b,
			 const struct fast_snap *a, enum bpfmasq_stat taken,
			 bool forwarded, enum fast_fallback fb)
{
	enum bpfmasq_stat other = taken == BPFMASQ_STAT_FAST_OUT
					  ? BPFMASQ_STAT_FAST_IN
					  : BPFMASQ_STAT_FAST_OUT;
	uint64_t d[FAST_NSTATS], fallbacks = 0;
	int i;

	for (i = 0; i < FAST_NSTATS; i++) {
		d[i] = a->fast[i] - b->fast[i];
		fx->fast_seen[i] += d[i];
		if (i + BPFMASQ_STAT_FAST_OUT > BPFMASQ_STAT_FAST_IN)
			fallbacks += d[i];
	}
	ASSERT_EQ(d[taken - BPFMASQ_STAT_FAST_OUT], forwarded,
		  forwarded ? "fast path: counted what it forwarded"
			    : "fast path: counted as forwarded, yet not");
	ASSERT_EQ(d[other - BPFMASQ_STAT_FAST_OUT], 0,
		  "fast path: counted as forwarded the other way");
	if (forwarded || fb == FAST_FALLBACK_NONE)
		ASSERT_EQ(fallbacks, 0, "fast path: fallback reasons counted");
	else if (fb == FAST_FALLBACK_DUE)
		ASSERT_EQ(fallbacks, 1,
			  "fast path: a packet of its own left to the kernel, "
			  "fallback reasons counted");
	else
		ASSERT_IN_RANGE(fallbacks, 0, 1,
				"fast path: fallback reasons counted");
}

/* The MAC address @got is @want, else a failure naming it @which. */
static bool mac_is(const __u8 *got, const __u8 *want, const char *which,
		   const char *what, const char *file, int line)
{
	if (!memcmp(got, want, ETH_ALEN))
		return true;
	assert_fail(file, line,
		    "%s: %s MAC: expected %02x:%02x:%02x:%02x:%02x:%02x, got "
		    "%02x:%02x:%02x:%02x:%02x:%02x",
		    what, which, want[0], want[1], want[2], want[3], want[4],
		    want[5], got[0], got[1], got[2], got[3], got[4], got[5]);
	return false;
}

bool assert_fast_forwarded(const struct frame *in, const struct frame *out,
			   const void *dmac, const void *smac, const char *what,
			   const char *file, int line)
{
	const struct iphdr *iin = fast_frame_ip(in), *iout = fast_frame_ip(out);
	const struct ethhdr *eth = (const void *)out->data;
	bool ok = true;

	if (!iin || !iout) {
		assert_fail(file, line, "%s: not an IPv4 frame", what);
		return false;
	}
	if (iout->ttl != iin->ttl - 1) {
		assert_fail(file, line,
			    "%s: TTL: expected %u (one less), got %u", what,
			    iin->ttl - 1, iout->ttl);
		ok = false;
	}
	/* An IP checksum that was wrong stays so: the update is incremental. */
	if (ntohs(iin->check) == ip_csum_compute(iin) &&
	    ntohs(iout->check) != ip_csum_compute(iout)) {
		assert_fail(file, line,
			    "%s: IP checksum: expected 0x%04x, got 0x%04x",
			    what, ip_csum_compute(iout), ntohs(iout->check));
		ok = false;
	}
	ok &= mac_is(eth->h_dest, dmac, "destination (the next hop's)", what,
		     file, line);
	/* fib.smac is the egress device's: the redirect's target. */
	ok &= mac_is(eth->h_source, smac, "source (the outgoing interface's)",
		     what, file, line);
	return ok;
}

/* @check with the 16-bit word @old changed to @new (RFC 1624, eqn. 3). */
static __u16 csum_replace16(__u16 check, __u16 old, __u16 new)
{
	__u32 sum = (__u16)~check + (__u16)~old + new;

	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return ~sum;
}

/*
 * @out, which the fast path forwarded from @in (@outbound: to the WAN's
 * next hop, else to the inside host), checked, then made the frame the
 * normal path gives: forwarding undone, the TTL back (its checksum as
 * incrementally as the fast path changed it) and @in's MAC addresses.
 */
static void fast_forwarded(const struct frame *in, struct frame *out,
			   bool outbound)
{
	const __u8 *dmac = (const __u8 *)FAST_NEXT_HOP_MAC;
	const __u8 *smac = (const __u8 *)FAST_WAN_MAC;
	struct iphdr *iph = fast_frame_ip(out);
	__u8 host[ETH_ALEN];
	__u16 old, new;

	fx_fast_taken++;
	if (!iph) {
		assert_fail(__FILE__, __LINE__,
			    "fast path: forwarded a frame that is not IPv4");
		return;
	}
	if (!outbound) {
		fast_host_mac(iph->daddr, host);
		dmac = host;
		smac = (const __u8 *)FAST_LAN_MAC;
	}
	ASSERT_FAST_FORWARDED(in, out, dmac, smac,
			      outbound ? "fast path out" : "fast path in");
	memcpy(&old, &iph->ttl, sizeof(old));
	iph->ttl++;
	memcpy(&new, &iph->ttl, sizeof(new));
	iph->check = csum_replace16(iph->check, old, new);
	memcpy(out->data, in->data, 2 * ETH_ALEN);
}

/*
 * @in through the fast path's program of its direction (@outbound: the
 * LAN's XDP program, else the WAN's XDP ingress), the counters before it
 * in @b: true if it forwarded the frame, checked and normalised in @out,
 * its counting checked; else false, its verdict in @v.
 */
static bool fast_run(struct fixture *fx, bool outbound, const struct frame *in,
		     struct frame *out, struct fast_snap *b, int *v)
{
	struct fast_snap a;

	fast_snap(fx, b);
	*v = outbound ? fx_fast_lan(fx, in, out) : fx_fast_wan(fx, in, out);
	if (*v != XDP_VERDICT_REDIRECT)
		return false;
	fast_forwarded(in, out, outbound);
	fast_snap(fx, &a);
	fast_counted(fx, b, &a,
		     outbound ? BPFMASQ_STAT_FAST_OUT : BPFMASQ_STAT_FAST_IN,
		     true, FAST_FALLBACK_NONE);
	return true;
}

/*
 * Outbound through the fast path, as the kernel runs it: the LAN's XDP
 * program first. A frame it redirects is the normal path's TC_OK, once
 * normalised (fast_forwarded); one it passes goes to the kernel, which
 * forwards it, unchanged, to the WAN's egress: the TC program's verdict.
 */
static int fast_egress(struct fixture *fx, const struct frame *in,
		       struct frame *out)
{
	enum fast_fallback fb = FAST_FALLBACK_NONE;
	struct fast_snap b, a;
	bool passed;
	int v;

	if (fast_run(fx, true, in, out, &b, &v))
		return TC_OK;
	passed = v == XDP_VERDICT_PASS;
	if (passed) {
		ASSERT_FRAME_EQ(out, in, "fast path: frame left to the kernel");
		v = fx_run(fx->skel->progs.bpfmasq_egress, in, out);
	} else {
		v = v == XDP_VERDICT_DROP ? TC_SHOT : v < 0 ? v : 1000 + v;
	}
	fast_snap(fx, &a);
	if (passed)
		fb = fast_fallback_out(in, v == TC_OK && a.out - b.out == 1);
	fast_counted(fx, &b, &a, BPFMASQ_STAT_FAST_OUT, false, fb);
	return v;
}

/*
 * Inbound through the fast path: the WAN's XDP ingress on the WAN. A frame
 * it redirects is the normal path's XDP_PASS, once normalised.
 */
static int fast_ingress(struct fixture *fx, const struct frame *in,
			struct frame *out)
{
	enum fast_fallback fb = FAST_FALLBACK_NONE;
	struct fast_snap b, a;
	struct iphdr *iph;
	int v;

	if (fast_run(fx, false, in, out, &b, &v))
		return XDP_VERDICT_PASS;
	fast_snap(fx, &a);
	/* A reply translated to the LAN was the fast path's to send on. */
	iph = fast_frame_ip(out);
	if (v == XDP_VERDICT_PASS && a.in - b.in == 1 && iph &&
	    fast_world_way(iph->daddr) == FAST_WAY_LAN &&
	    fast_world_source(iph->saddr))
		fb = FAST_FALLBACK_DUE;
	fast_counted(fx, &b, &a, BPFMASQ_STAT_FAST_IN, false, fb);
	return v;
}

/*
 * The gateway's own packets leave from its stack, never by a LAN: from
 * its addresses, and those of the pool (fx_pool()).
 */
static bool gateway_own(struct fixture *fx, const struct frame *f)
{
	const struct iphdr *iph = fast_frame_ip(f);
	struct bpfmasq_ext_addr e;

	return iph &&
	       (iph->saddr == EXT_ADDR || iph->saddr == GW_LAN_ADDR ||
		!bpf_map_lookup_elem(fx->maps.ext_addrs, &iph->saddr, &e));
}

int fx_egress(struct fixture *fx, const struct frame *in, struct frame *out)
{
	if (fx->fast_runs && !gateway_own(fx, in))
		return fast_egress(fx, in, out);
	return fx_run(fx->skel->progs.bpfmasq_egress, in, out);
}

/*
 * The reply path, through XDP or, with fx->ingress_tc, through the TC ingress
 * program; TC verdicts are reported as the XDP ones they stand for, so
 * that one table of expectations serves both.
 */
int fx_ingress(struct fixture *fx, const struct frame *in, struct frame *out)
{
	int v;

	if (fx->fast_runs)
		return fast_ingress(fx, in, out);
	if (!fx->ingress_tc)
		return fx_run(fx->skel->progs.bpfmasq_ingress, in, out);
	v = fx_run(fx->skel->progs.bpfmasq_ingress_tc, in, out);
	if (v == TC_OK)
		return XDP_VERDICT_PASS;
	if (v == TC_SHOT)
		return XDP_VERDICT_DROP;
	return v < 0 ? v : 1000 + v; /* no XDP verdict: fails every assert */
}

static int lookup(int fd, const void *key, void *val)
{
	return bpf_map_lookup_elem(fd, key, val) ? -errno : 0;
}

int fx_pool(struct fixture *fx, const __be32 *addrs, int n)
{
	struct bpfmasq_config old = fx->cfg;
	struct masq_opts o = { .n_addrs = n };
	int err;

	memcpy(o.addrs, addrs, n * sizeof(*addrs));
	fx->cfg.ext_addr = addrs[0];
	fx->cfg.flags |= BPFMASQ_CFG_POOL;
	err = addrs_sync(&fx->maps, &old, &fx->cfg, &o);
	return err ? err : config_write(&fx->maps, &fx->cfg);
}

static int host_adjust(struct fixture *fx, __be32 addr, int ports, int sessions)
{
	struct bpfmasq_host h = {};

	bpf_map_lookup_elem(fx->maps.hosts, &addr, &h);
	h.ports += ports;
	h.sessions += sessions;
	return bpf_map_update_elem(fx->maps.hosts, &addr, &h, BPF_ANY) ? -errno
								       : 0;
}

int fx_host_ports(struct fixture *fx, __be32 addr, int delta)
{
	return host_adjust(fx, addr, delta, 0);
}

int fx_host_sessions(struct fixture *fx, __be32 addr, int delta)
{
	return host_adjust(fx, addr, 0, delta);
}

int fx_mapping(struct fixture *fx, __be32 addr, __u16 port, __u8 proto,
	       struct bpfmasq_mapping *m)
{
	struct bpfmasq_endpoint key = { .addr = addr,
					.port = htons(port),
					.proto = proto };

	return lookup(fx->maps.mappings, &key, m);
}

int fx_owner(struct fixture *fx, __be32 ext_addr, __u16 ext_port, __u8 proto,
	     struct bpfmasq_endpoint *inside)
{
	struct bpfmasq_endpoint key = { .addr = ext_addr,
					.port = htons(ext_port),
					.proto = proto };

	struct bpfmasq_owner o;
	int err = lookup(fx->maps.port_owners, &key, &o);

	if (err)
		return err;
	if (o.state != BPFMASQ_PORT_OWNED)
		return -EBUSY; /* quarantined */
	*inside = (struct bpfmasq_endpoint){ .addr = o.addr,
					     .port = o.port,
					     .proto = o.proto };
	return 0;
}

int fx_port_state(struct fixture *fx, __be32 ext_addr, __u16 ext_port,
		  __u8 proto, struct bpfmasq_owner *o)
{
	struct bpfmasq_endpoint key = { .addr = ext_addr,
					.port = htons(ext_port),
					.proto = proto };

	if (lookup(fx->maps.port_owners, &key, o))
		return BPFMASQ_PORT_FREE;
	return o->state;
}

int fx_session(struct fixture *fx, __be32 inside_addr, __u16 inside_port,
	       __be32 remote_addr, __u16 remote_port, __u8 proto,
	       struct bpfmasq_session *s)
{
	struct bpfmasq_session_key key = {
		.inside_addr = inside_addr,
		.remote_addr = remote_addr,
		.inside_port = htons(inside_port),
		.remote_port = htons(remote_port),
		.proto = proto,
	};

	return lookup(fx->maps.sessions, &key, s);
}

__u64 fx_stat(struct fixture *fx, enum bpfmasq_stat id)
{
	uint64_t totals[BPFMASQ_STAT_MAX];

	if (stats_read(&fx->maps, totals))
		return ~0ull;
	return totals[id];
}

static const char *frame_part(const struct frame *f, __u32 off)
{
	const struct iphdr *iph = (const void *)(f->data + ETH_HLEN);

	if (off < ETH_HLEN)
		return "Ethernet header";
	if (f->len < ETH_HLEN + sizeof(*iph) ||
	    off < ETH_HLEN + (__u32)iph->ihl * 4)
		return "IP header";
	return "L4";
}

bool assert_frame_eq(const struct frame *actual, const struct frame *expected,
		     const char *what, const char *file, int line)
{
	__u32 i, first = 0, ndiff = 0;

	if (actual->len != expected->len) {
		assert_fail(file, line, "%s: expected a %u-byte frame, got %u",
			    what, expected->len, actual->len);
		return false;
	}
	for (i = 0; i < actual->len; i++) {
		if (actual->data[i] == expected->data[i])
			continue;
		if (!ndiff++)
			first = i;
	}
	if (!ndiff)
		return true;
	assert_fail(file, line,
		    "%s: %u bytes differ; first at offset %u (%s): expected "
		    "0x%02x, got 0x%02x",
		    what, ndiff, first, frame_part(expected, first),
		    expected->data[first], actual->data[first]);
	return false;
}

static const char *l4_name(__u8 proto)
{
	switch (proto) {
	case IPPROTO_TCP:
		return "TCP";
	case IPPROTO_UDP:
		return "UDP";
	case IPPROTO_ICMP:
		return "ICMP";
	}
	return "L4";
}

bool assert_csums(struct frame *f, const char *what, const char *file, int line)
{
	struct iphdr *iph = frame_ip(f);
	__u16 stored, want;
	int off;

	if (f->len < ETH_HLEN + sizeof(*iph) || iph->ihl < 5 ||
	    f->len < ETH_HLEN + (__u32)iph->ihl * 4 ||
	    f->len < ETH_HLEN + (__u32)ntohs(iph->tot_len)) {
		assert_fail(file, line, "%s: not a whole IPv4 packet", what);
		return false;
	}
	stored = ntohs(iph->check);
	want = ip_csum_compute(iph);
	if (stored != want) {
		assert_fail(file, line,
			    "%s: IP checksum: expected 0x%04x, got 0x%04x",
			    what, want, stored);
		return false;
	}
	/* Only an unfragmented packet carries its whole L4 segment. */
	off = l4_csum_offset(iph->protocol);
	if (off < 0 || (ntohs(iph->frag_off) & (PKT_IP_MF | PKT_IP_OFFSET)))
		return true;
	memcpy(&stored, (__u8 *)frame_l4(f) + off, 2);
	stored = ntohs(stored);
	want = l4_csum_compute(iph->saddr, iph->daddr, iph->protocol,
			       frame_l4(f), frame_l4_len(f));
	if (stored != want) {
		assert_fail(file, line,
			    "%s: %s checksum: expected 0x%04x, got 0x%04x",
			    what, l4_name(iph->protocol), want, stored);
		return false;
	}
	return true;
}

bool assert_stats(struct fixture *fx, const struct stat_val *expected,
		  const char *file, int line)
{
	uint64_t totals[BPFMASQ_STAT_MAX], want;
	const struct stat_val *e;
	bool ok = true;
	int id, err;

	err = stats_read(&fx->maps, totals);
	if (err) {
		assert_fail(file, line, "cannot read counters: %s",
			    strerror(-err));
		return false;
	}
	for (id = 0; id < BPFMASQ_STAT_MAX; id++) {
		want = 0;
		for (e = expected; e->id != BPFMASQ_STAT_MAX; e++)
			if (e->id == (enum bpfmasq_stat)id)
				want = e->val;
		if (id >= BPFMASQ_STAT_FAST_OUT &&
		    id <= BPFMASQ_STAT_FAST_FRAGMENT)
			want += fx->fast_seen[id - BPFMASQ_STAT_FAST_OUT];
		if (totals[id] == want)
			continue;
		assert_fail(file, line, "counter %s: expected %llu, got %llu",
			    stat_names[id], (unsigned long long)want,
			    (unsigned long long)totals[id]);
		ok = false;
	}
	return ok;
}
