/* SPDX-License-Identifier: GPL-2.0 */
/* pools.h - the free-port pools of an instance. */
#ifndef BPFMASQ_USER_POOLS_H
#define BPFMASQ_USER_POOLS_H

#include "maps.h"

/*
 * (Re)create the free-port pools of each address of @cfg (its ext_addr,
 * or with a pool every ACTIVE one of ext_addrs; a DRAINING one goes) for
 * TCP, UDP and ICMP: queue maps holding the instance record's port ranges
 * in random order (RFC 6056), minus the ports port_owners holds (owned or
 * quarantined) and those the gateway's own sockets use (TCP listeners,
 * bound UDP sockets: they get a RESERVED entry). Never while the data
 * path may allocate from them (see state_reset).
 */
int pools_create(const struct masq_maps *m, const struct bpfmasq_config *cfg);
/* The same for the addresses that have no pools yet, only. */
int pools_ensure(const struct masq_maps *m, const struct bpfmasq_config *cfg);
/* Remove the pools of @addr (after an address change or on flush). */
int pools_delete(const struct masq_maps *m, __be32 addr);

#endif /* BPFMASQ_USER_POOLS_H */
