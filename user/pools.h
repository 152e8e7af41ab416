/* SPDX-License-Identifier: GPL-2.0 */
/* pools.h - the free-port pools of an instance. */
#ifndef BPFMASQ_USER_POOLS_H
#define BPFMASQ_USER_POOLS_H

#include "maps.h"

enum pools_how { POOLS_ALL, POOLS_MISSING, POOLS_FLUSH };

/*
 * (Re)create the free-port pools of each address of @cfg (its ext_addr,
 * or with a pool each one of ext_addrs, into an empty port_pools) for
 * TCP, UDP and ICMP: queue maps holding the instance record's port ranges
 * in random order (RFC 6056), minus the ports port_owners holds (owned or
 * quarantined) and those the gateway's own sockets use (TCP listeners,
 * bound UDP sockets: they get a RESERVED entry). Never while the data
 * path may allocate from them (see state_reset).
 */
int pools_create(const struct masq_maps *m, const struct bpfmasq_config *cfg);
/* The same for the pools that are missing, only. */
int pools_ensure(const struct masq_maps *m, const struct bpfmasq_config *cfg);
/* The pools of @addr that are missing. */
int pools_ensure_addr(const struct masq_maps *m, __be32 addr);
/*
 * After a flush, when nothing is on any address: the pools of the ACTIVE
 * ones made anew, the DRAINING ones forgotten (ext_addr_forget).
 */
int pools_flush(const struct masq_maps *m, const struct bpfmasq_config *cfg);
/* Remove the pools of @addr (after an address change or on flush). */
int pools_delete(const struct masq_maps *m, __be32 addr);

#endif /* BPFMASQ_USER_POOLS_H */
