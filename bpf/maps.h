/* SPDX-License-Identifier: GPL-2.0 */
/*
 * maps.h - the BPF maps of one bpfmasq instance. The loader sizes them
 * (bpf_map__set_max_entries), pins them under <bpffs>/bpfmasq/<ifname>/ and
 * fills the port pools; every map carries BTF so bpftool shows named fields.
 */
#ifndef BPFMASQ_MAPS_H
#define BPFMASQ_MAPS_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "bpfmasq.h"

/* What the data path reads of the configuration. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct bpfmasq_config);
} config SEC(".maps");

/* The loader's record of the instance: no program reads it. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct bpfmasq_instance);
} instance SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, BPFMASQ_STAT_SLOTS);
	__type(key, __u32);
	__type(value, __u64);
} stats SEC(".maps");

/* Inside endpoint -> its one external endpoint. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, BPFMASQ_DEFAULT_MAX_SESSIONS);
	__type(key, struct bpfmasq_endpoint);
	__type(value, struct bpfmasq_mapping);
} mappings SEC(".maps");

/*
 * External endpoint -> its owner, or its quarantine; BPF_NOEXIST inserts
 * claim ports. A port with no entry is free, in its pool's queue.
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, BPFMASQ_MAX_OWNERS);
	__type(key, struct bpfmasq_endpoint);
	__type(value, struct bpfmasq_owner);
} port_owners SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, BPFMASQ_DEFAULT_MAX_SESSIONS);
	__type(key, struct bpfmasq_session_key);
	__type(value, struct bpfmasq_session);
} sessions SEC(".maps");

/*
 * The free external ports of one (address, protocol), in random order:
 * exactly those with no entry in port_owners.
 */
struct pool_queue {
	__uint(type, BPF_MAP_TYPE_QUEUE);
	__uint(max_entries, 1);
	__uint(value_size, sizeof(__be16));
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH_OF_MAPS);
	__uint(max_entries, BPFMASQ_MAX_POOLS);
	__type(key, struct bpfmasq_pool_key);
	__array(values, struct pool_queue);
} port_pools SEC(".maps");

/*
 * Keys of the oldest sessions that give way, queued by the collector for a
 * new flow that finds the table full (room.h).
 */
struct {
	__uint(type, BPF_MAP_TYPE_QUEUE);
	__uint(max_entries, BPFMASQ_EVICT_QUEUE);
	__uint(value_size, sizeof(struct bpfmasq_victim));
} evict_queue SEC(".maps");

/* Flows that found no port lately, per CPU (share.h). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, BPFMASQ_SHARE_MISS_SLOTS);
	__type(key, __u32);
	__type(value, struct bpfmasq_share_miss);
} share_misses SEC(".maps");

/* Port forwards: (protocol, external port) -> inside endpoint. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, BPFMASQ_MAX_FORWARDS);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct bpfmasq_forward_key);
	__type(value, struct bpfmasq_forward);
} forwards SEC(".maps");

/* Static NAT: each address of a pair -> the other (bpfmasq.h). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 2 * BPFMASQ_MAX_STATICS);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct bpfmasq_static_key);
	__type(value, struct bpfmasq_static);
} statics SEC(".maps");

/* Inside hosts: the ports their mappings hold (bpfmasq.h). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, BPFMASQ_MAX_HOSTS);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, __be32);
	__type(value, struct bpfmasq_host);
} hosts SEC(".maps");

/* Per-host limits beside the ports' (bpfmasq.h). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct bpfmasq_limits);
} limits SEC(".maps");

/* The pool's addresses and their state (bpfmasq.h). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, BPFMASQ_MAX_EXT_ADDRS);
	__type(key, __be32);
	__type(value, struct bpfmasq_ext_addr);
} ext_addrs SEC(".maps");

/* The ACTIVE addresses of the pool, that new hosts are spread over. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct bpfmasq_addr_pool);
} addr_pool SEC(".maps");

/* Source prefixes that are translated. */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, BPFMASQ_MAX_INTERNAL);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct bpfmasq_lpm_key);
	__type(value, __u8);
} internal_nets SEC(".maps");

/*
 * Prefixes of the gateway's other (LAN) interfaces: an inbound packet
 * addressed there that matches no state is dropped, never forwarded.
 */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, BPFMASQ_MAX_INTERNAL);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct bpfmasq_lpm_key);
	__type(value, __u8);
} lan_nets SEC(".maps");

/*
 * Destinations never translated (RFC 6888 REQ-6): flows to them leave with
 * their inside source, and their packets may reach the inside.
 */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, BPFMASQ_MAX_EXCLUDED);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct bpfmasq_lpm_key);
	__type(value, __u8);
} excluded_nets SEC(".maps");

/* The gateway's own addresses: never translated. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, BPFMASQ_MAX_LOCAL_ADDRS);
	__type(key, __be32);
	__type(value, __u8);
} local_addrs SEC(".maps");

/* Inbound first fragment's (src, dst, proto, id) -> inside address, time. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, BPFMASQ_MAX_FRAGS);
	__type(key, struct bpfmasq_frag_key);
	__type(value, struct bpfmasq_frag);
} frags SEC(".maps");

/* The fast path's interfaces (fast.h): ifindex -> LAN or WAN. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, BPFMASQ_MAX_FAST_LANS + 1);
	__type(key, __u32);
	__type(value, struct bpfmasq_fast_iface);
} fast_ifaces SEC(".maps");

/* The --hairpin LAN interfaces: the loader's record, no program reads it. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, BPFMASQ_MAX_HAIRPIN_LANS);
	__type(key, __u32);
	__type(value, struct bpfmasq_hairpin_iface);
} hairpin_ifaces SEC(".maps");

/* Early fragments and settled datagrams, for the daemon (frag.h). */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, BPFMASQ_FRAG_EVENTS_BYTES);
} frag_events SEC(".maps");

/* The daemon's heartbeat: it alone writes it. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct bpfmasq_daemon);
} daemon SEC(".maps");

/* The rate limit of the ICMP errors for flows that found no port. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct bpfmasq_unreach_bucket);
} unreach_bucket SEC(".maps");

static __always_inline const struct bpfmasq_config *config_get(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&config, &zero);
}

static __always_inline void stat_inc(enum bpfmasq_stat id)
{
	__u32 key = id;
	__u64 *v = bpf_map_lookup_elem(&stats, &key);

	if (v)
		*v += 1;
}

#endif /* BPFMASQ_MAPS_H */
