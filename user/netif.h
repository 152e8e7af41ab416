/* SPDX-License-Identifier: GPL-2.0 */
/* netif.h - what the loader needs to know about the gateway's interfaces. */
#ifndef BPFMASQ_USER_NETIF_H
#define BPFMASQ_USER_NETIF_H

#include <stdbool.h>
#include <stddef.h>
#include <linux/types.h>

#include "maps.h"

/* The first IPv4 address of @ifname (its primary), or 0. */
__be32 netif_primary_addr(const char *ifname);
/* The driver of @ifname ("veth", "tun", "mlx5_core", ...) into @buf. */
int netif_driver(const char *ifname, char *buf, size_t len);
/* Does @ifname carry Ethernet frames (the data path parses them)? */
bool netif_is_ether(const char *ifname);
/* Every IPv4 address of this network namespace; returns the count. */
int netif_local_addrs(__be32 *addrs, int max);
/*
 * The IPv4 prefixes of every interface but @wan and loopback: the LANs
 * behind the gateway. Returns the count.
 */
int netif_lan_prefixes(const char *wan, struct cidr *out, int max);
/*
 * The destinations of the main table's routes through any interface but
 * @wan (LANs behind a router or a tunnel). Returns the count.
 */
int netif_lan_routes(const char *wan, struct cidr *out, int max);
/* net.ipv4.ip_local_port_range of this network namespace. */
int netif_local_port_range(__u16 *lo, __u16 *hi);
/*
 * Mark in @bound[65536] the ports of @proto (TCP or UDP) on which this
 * namespace has its own sockets: TCP listeners, bound UDP sockets.
 */
int netif_own_ports(__u8 proto, uint8_t *bound);

/*
 * A netlink socket that becomes readable when an IPv4 address, route or a
 * link changes anywhere in this network namespace; -errno on failure.
 */
int netif_addr_watch_open(void);
/* Drain pending notifications; true if there were any. */
bool netif_addr_watch_drain(int fd);

#endif /* BPFMASQ_USER_NETIF_H */
