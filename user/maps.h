/* SPDX-License-Identifier: GPL-2.0 */
/*
 * maps.h - the maps of one bpfmasq instance as file descriptors, whether
 * they come from a freshly loaded skeleton or from the pins of a running
 * instance, and the operations every command builds on.
 */
#ifndef BPFMASQ_USER_MAPS_H
#define BPFMASQ_USER_MAPS_H

#include <stdbool.h>
#include <stdint.h>
#include <linux/types.h>

#include "bpfmasq.h"

struct bpfmasq;

struct cidr {
	__be32 addr;
	unsigned int plen;
};

/*
 * X(name, key size, value size, since) for every map of bpf/maps.h: the
 * field of struct masq_maps, the skeleton's map and the pinned file share
 * the name. The sizes are what a pinned map must have to be read; since is
 * the layout that added the map (an older instance has no such pin until
 * attach upgrades it).
 */
#define MASQ_MAPS(X)                                                           \
	X(config, sizeof(__u32), sizeof(struct bpfmasq_config), 1)             \
	X(instance, sizeof(__u32), sizeof(struct bpfmasq_instance), 2)         \
	X(stats, sizeof(__u32), sizeof(__u64), 1)                              \
	X(sessions, sizeof(struct bpfmasq_session_key),                        \
	  sizeof(struct bpfmasq_session), 1)                                   \
	X(mappings, sizeof(struct bpfmasq_endpoint),                           \
	  sizeof(struct bpfmasq_mapping), 1)                                   \
	X(port_owners, sizeof(struct bpfmasq_endpoint),                        \
	  sizeof(struct bpfmasq_owner), 1)                                     \
	X(port_pools, sizeof(struct bpfmasq_pool_key), sizeof(__u32), 1)       \
	X(internal_nets, sizeof(struct bpfmasq_lpm_key), sizeof(__u8), 1)      \
	X(lan_nets, sizeof(struct bpfmasq_lpm_key), sizeof(__u8), 1)           \
	X(excluded_nets, sizeof(struct bpfmasq_lpm_key), sizeof(__u8), 5)      \
	X(local_addrs, sizeof(__be32), sizeof(__u8), 1)                        \
	X(frags, sizeof(struct bpfmasq_frag_key), sizeof(struct bpfmasq_frag), \
	  1)                                                                   \
	X(unreach_bucket, sizeof(__u32),                                       \
	  sizeof(struct bpfmasq_unreach_bucket), 3)                            \
	X(evict_queue, 0, sizeof(struct bpfmasq_victim), 4)                    \
	X(share_misses, sizeof(__u32), sizeof(struct bpfmasq_share_miss), 4)   \
	X(frag_events, 0, 0, 5)                                                \
	X(daemon, sizeof(__u32), sizeof(struct bpfmasq_daemon), 5)             \
	X(fast_ifaces, sizeof(__u32), sizeof(struct bpfmasq_fast_iface), 5)    \
	X(forwards, sizeof(struct bpfmasq_forward_key),                        \
	  sizeof(struct bpfmasq_forward), 6)                                   \
	X(hairpin_ifaces, sizeof(__u32), sizeof(struct bpfmasq_hairpin_iface), \
	  6)                                                                   \
	X(statics, sizeof(struct bpfmasq_static_key),                          \
	  sizeof(struct bpfmasq_static), 7)                                    \
	X(hosts, sizeof(__be32), sizeof(struct bpfmasq_host), 7)               \
	X(ext_addrs, sizeof(__be32), sizeof(struct bpfmasq_ext_addr), 8)       \
	X(addr_pool, sizeof(__u32), sizeof(struct bpfmasq_addr_pool), 8)       \
	X(limits, sizeof(__u32), sizeof(struct bpfmasq_limits), 8)

struct masq_maps {
#define MASQ_MAP_FIELD(name, key_size, value_size, since) int name;
	MASQ_MAPS(MASQ_MAP_FIELD)
#undef MASQ_MAP_FIELD
	int ctl; /* the control program over these maps (bpf/ctl.bpf.c) */
	int ctl_batch; /* its .bss: struct bpfmasq_ctl_batch */
};

/*
 * Before load: size the tables and set the load-time constants (the port
 * ranges that sharing picks from) for @inst.
 */
void skel_prepare(struct bpfmasq *skel, const struct bpfmasq_instance *inst);
/* The maps of a loaded skeleton, and the control program loaded on them. */
int maps_from_skel(const struct bpfmasq *skel, struct masq_maps *m);
/*
 * Opens the pinned maps in @dir, checking that each has this build's key
 * and value size and that the instance record is of this layout; -errno,
 * with one message printed, if not.
 */
int maps_open_pinned(const char *dir, struct masq_maps *m);
/*
 * The same for attach and detach, which also take an instance of an older
 * layout that this build upgrades (BPFMASQ_LAYOUT_OLDEST up): its layout in
 * *@layout. Only the maps are opened then, not the control program, and
 * none for a layout older than MIGRATE_LAYOUT_READABLE, whose pins only
 * migrate.c reads.
 */
int maps_open_pinned_layout(const char *dir, struct masq_maps *m,
			    __u32 *layout);
void maps_close(struct masq_maps *m);
/* Close the control program of @m (a skeleton's maps stay its own). */
void ctl_close(struct masq_maps *m);

/*
 * Run one of the collector's atomic steps (enum bpfmasq_ctl_op) through
 * the control program: its result (a->ret), or -errno if it could not run.
 */
int ctl_run(const struct masq_maps *m, struct bpfmasq_ctl_args *a);
/*
 * BPFMASQ_CTL_SESSION_EXPIRE for each of @b's first b->n entries in one
 * run, each entry's result in its ret; 0, or -errno if it could not run.
 */
int ctl_expire_batch(const struct masq_maps *m, struct bpfmasq_ctl_batch *b);

int config_read(const struct masq_maps *m, struct bpfmasq_config *cfg);
int config_write(const struct masq_maps *m, const struct bpfmasq_config *cfg);
/*
 * The instance record; -EPROTO (message printed) when its layout version is
 * not this build's.
 */
int instance_read(const struct masq_maps *m, struct bpfmasq_instance *inst);
int instance_write(const struct masq_maps *m,
		   const struct bpfmasq_instance *inst);

/* Is @port in one of the instance's port ranges? */
bool ports_contain(const struct bpfmasq_instance *inst, __u16 port);
/* The port ranges as "LO-HI[,LO-HI]", in @buf. */
const char *ports_str(const struct bpfmasq_instance *inst, char *buf,
		      size_t len);
/* Do two records have the same port ranges? */
bool ports_equal(const struct bpfmasq_instance *a,
		 const struct bpfmasq_instance *b);

/* "tcp", "udp", "icmp", or "?". */
const char *proto_name(__u8 proto);

/* Sum the per-CPU counters into @totals[BPFMASQ_STAT_MAX]. */
int stats_read(const struct masq_maps *m, uint64_t *totals);
/* One counter, summed over the CPUs. */
int stat_read(const struct masq_maps *m, enum bpfmasq_stat id, uint64_t *total);
/*
 * Add @n to counter @id, in CPU 0's slot: only for the rows that the
 * daemon alone counts (the data path's are its own CPUs' to write).
 */
int stat_add(const struct masq_maps *m, enum bpfmasq_stat id, uint64_t n);
extern const char *const stat_names[BPFMASQ_STAT_MAX];
/* "native", "generic", "tc": --mode's words and what status shows. */
extern const char *const ingress_names[BPFMASQ_INGRESS_MAX];
/* "tcp_est", ...: the JSON keys of the timeouts (BPFMASQ_TIMEOUTS). */
extern const char *const timeout_keys[BPFMASQ_TIMEOUT_MAX];

/*
 * Read every entry of a hash map with batch lookups into malloc'ed arrays
 * (@vals may be NULL). Returns the number of entries or -errno.
 */
long map_dump(int fd, void **keys, void **vals);
/* Would the data path translate packets from @addr (--internal, not own)? */
bool addr_translated(const struct masq_maps *m, __be32 addr);
/* Count the entries of a hash map. */
long map_count(int fd);
/* Delete every entry of a hash map. Returns the number deleted or -errno. */
long map_clear(int fd);

#endif /* BPFMASQ_USER_MAPS_H */
