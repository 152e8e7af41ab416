// SPDX-License-Identifier: GPL-2.0
/*
 * bench.bpf.c - the benchmark's XDP programs (tools/bench/bench.sh):
 *
 *   bench_gen   the traffic generator, run by BPF_PROG_TEST_RUN with live
 *               frames on an end host's veth: each run rewrites the frame to
 *               the next flow of the workload and sends it (XDP_TX) to the
 *               gateway.
 *   bench_sink  on the receivers: counts the generator's packets and drops
 *               them, so that what is counted is what left the gateway;
 *               everything else goes to the stack.
 *   bench_fwd   on the gateway: redirects the generator's packets to the
 *               other side with no routing and no NAT, the ceiling.
 *
 * Each is configured through .rodata before it is loaded; one loaded object
 * serves one role.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "bench.h"

/*
 * The workload: flow n (mod hosts * ports * remotes) is host h = n % hosts
 * (address addr_base + h when an address varies), its port
 * port_base + h * port_stride + (n / hosts) % ports, to the remote's port
 * remote_base + n / (hosts * ports). Hosts vary fastest, as many hosts
 * sending at once would make the gateway see them.
 */
const volatile __u32 gen_hosts = 1;
const volatile __u32 gen_ports = 1;
const volatile __u32 gen_remotes = 1;
const volatile __u32 gen_port_stride;
const volatile __u32 gen_port_base = 1024;
const volatile __u32 gen_remote_base = 9000;
const volatile __u32 gen_addr_base; /* host order */
const volatile __u32 gen_vary = BENCH_VARY_SRC;
/* Replies: from the remote's port to the inside (or external) port. */
const volatile __u32 gen_reply;
/*
 * Flow 0's headers, up to the magic word: each run starts from them. Not
 * const: clang would take a const array, set only by the loader, for zeros.
 */
__u8 gen_tmpl[BENCH_TMPL_LEN];

const volatile __u32 fwd_ifindex;
__u8 fwd_dmac[ETH_ALEN]; /* not const, as gen_tmpl */
__u8 fwd_smac[ETH_ALEN];

/*
 * With gen_mapped, the port a reply goes to is not the inside port but the
 * one the NAT mapped it to (bpfmasq does not keep inside ports): the
 * loader fills this from the NAT's state, indexed h * ports + port's index.
 */
const volatile __u32 gen_mapped;

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1); /* hosts * ports, set by the loader */
	__type(key, __u32);
	__type(value, __u32);
} gen_ext_port SEC(".maps");

/* A test run sends from one CPU only: a plain counter is enough. */
__u64 gen_seq;

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} sink_count SEC(".maps");

/*
 * The generator's UDP packet: its IP header (and @udp), or NULL. The
 * headers follow Ethernet unaligned by 2, so no packed struct around them.
 */
static __always_inline struct iphdr *bench_pkt(struct xdp_md *ctx,
					       struct udphdr **udp)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = (void *)(eth + 1);
	__be32 *magic;

	*udp = (void *)(ip + 1);
	magic = (void *)(*udp + 1);
	if ((void *)(magic + 1) > end)
		return NULL;
	if (eth->h_proto != bpf_htons(ETH_P_IP) || ip->ihl != 5 ||
	    ip->protocol != IPPROTO_UDP || *magic != bpf_htonl(BENCH_MAGIC))
		return NULL;
	return ip;
}

static __always_inline __u16 csum_fold(__u32 s)
{
	s = (s & 0xffff) + (s >> 16);
	s = (s & 0xffff) + (s >> 16);
	return s;
}

/*
 * RFC 1624 incremental update of @csum for a 16-bit word going from @from
 * to @to (both as in the packet).
 */
static __always_inline void csum_replace2(__sum16 *csum, __u16 from, __u16 to)
{
	*csum = ~csum_fold((__u16) ~*csum + (__u16)~from + to);
}

static __always_inline void set16(__be16 *field, __u16 to, __sum16 *c1,
				  __sum16 *c2)
{
	__u16 from = *field;

	*field = to;
	if (c1)
		csum_replace2(c1, from, to);
	csum_replace2(c2, from, to);
}

static __always_inline void set_addr(__be32 *field, __be32 to, __sum16 *ipc,
				     __sum16 *udpc)
{
	__u16 *f = (__u16 *)field, *t = (__u16 *)&to;

	set16(&f[0], t[0], ipc, udpc);
	set16(&f[1], t[1], ipc, udpc);
}

SEC("xdp")
int bench_gen(struct xdp_md *ctx)
{
	__u32 hosts = gen_hosts ?: 1, ports = gen_ports ?: 1;
	__u32 remotes = gen_remotes ?: 1;
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct iphdr *ip = data + sizeof(struct ethhdr);
	struct udphdr *udp = (void *)(ip + 1);
	__u32 n, h, j, port, remote;
	__sum16 *udpc;

	/*
	 * Not a word of the frame is trusted: its page comes back from the
	 * stack with whatever the gateway wrote into it.
	 */
	if (data + BENCH_TMPL_LEN > end)
		return XDP_ABORTED;
	__builtin_memcpy(data, gen_tmpl, BENCH_TMPL_LEN);
	n = gen_seq++ % (hosts * ports * remotes);
	h = n % hosts;
	j = n / hosts;
	port = gen_port_base + h * gen_port_stride + j % ports;
	remote = gen_remote_base + j / ports;
	if (gen_mapped) {
		__u32 k = h * ports + j % ports, *ext;

		ext = bpf_map_lookup_elem(&gen_ext_port, &k);
		if (ext && *ext)
			port = *ext;
	}
	udpc = &udp->check;

	if (gen_vary == BENCH_VARY_SRC)
		set_addr(&ip->saddr, bpf_htonl(gen_addr_base + h), &ip->check,
			 udpc);
	else if (gen_vary == BENCH_VARY_DST)
		set_addr(&ip->daddr, bpf_htonl(gen_addr_base + h), &ip->check,
			 udpc);
	set16(&udp->source, bpf_htons(gen_reply ? remote : port), NULL, udpc);
	set16(&udp->dest, bpf_htons(gen_reply ? port : remote), NULL, udpc);
	/* 0 means "no checksum" in UDP over IPv4; its equal is 0xffff. */
	if (!*udpc)
		*udpc = 0xffff;
	return XDP_TX;
}

SEC("xdp")
int bench_sink(struct xdp_md *ctx)
{
	struct udphdr *udp;
	__u32 key = 0;
	__u64 *c;

	if (!bench_pkt(ctx, &udp))
		return XDP_PASS;
	c = bpf_map_lookup_elem(&sink_count, &key);
	if (c)
		(*c)++;
	return XDP_DROP;
}

SEC("xdp")
int bench_fwd(struct xdp_md *ctx)
{
	struct ethhdr *eth = (void *)(long)ctx->data;
	struct udphdr *udp;

	if (!bench_pkt(ctx, &udp))
		return XDP_PASS;
	__builtin_memcpy(eth->h_dest, fwd_dmac, ETH_ALEN);
	__builtin_memcpy(eth->h_source, fwd_smac, ETH_ALEN);
	return bpf_redirect(fwd_ifindex, 0);
}

char LICENSE[] SEC("license") = "GPL";
