// SPDX-License-Identifier: GPL-2.0
/*
 * prog_bench.bpf.c - the yardsticks prog_bench measures the data path
 * against, through the same BPF_PROG_TEST_RUN calls:
 *
 *   base_empty_tc    returns at once: the test-run machinery alone.
 *   base_lookup_tc   reads the IPv4 and UDP headers into a session key and
 *   base_lookup_xdp  looks it up once in a hash map of bpfmasq's session
 *                    type and size: one hash lookup, nothing else.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/pkt_cls.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "bpfmasq.h"

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1); /* the fixture's session table, by the loader */
	__type(key, struct bpfmasq_session_key);
	__type(value, struct bpfmasq_session);
} base_sessions SEC(".maps");

/* Hits (1) or misses (0) of the last lookup, so that it is not optimised out. */
__u32 base_found;

static __always_inline void lookup(void *data, void *end)
{
	struct ethhdr *eth = data;
	struct iphdr *ip = (void *)(eth + 1);
	struct udphdr *udp = (void *)(ip + 1);
	struct bpfmasq_session_key key = {};

	if ((void *)(udp + 1) > end || eth->h_proto != bpf_htons(ETH_P_IP))
		return;
	key.inside_addr = ip->saddr;
	key.remote_addr = ip->daddr;
	key.inside_port = udp->source;
	key.remote_port = udp->dest;
	key.proto = ip->protocol;
	base_found = bpf_map_lookup_elem(&base_sessions, &key) != NULL;
}

SEC("tc")
int base_empty_tc(struct __sk_buff *skb)
{
	return TC_ACT_OK;
}

SEC("tc")
int base_lookup_tc(struct __sk_buff *skb)
{
	lookup((void *)(long)skb->data, (void *)(long)skb->data_end);
	return TC_ACT_OK;
}

SEC("xdp")
int base_lookup_xdp(struct xdp_md *ctx)
{
	lookup((void *)(long)ctx->data, (void *)(long)ctx->data_end);
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
