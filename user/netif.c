// SPDX-License-Identifier: GPL-2.0
/* netif.c - interface addresses and port settings of the gateway. */
#include <errno.h>
#include <ifaddrs.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <linux/ethtool.h>
#include <linux/if_arp.h>
#include <linux/sockios.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>

#include "netif.h"

__be32 netif_primary_addr(const char *ifname)
{
	struct ifaddrs *ifa, *i;
	__be32 addr = 0;

	if (getifaddrs(&ifa))
		return 0;
	/* getifaddrs lists an interface's addresses primary first. */
	for (i = ifa; i && !addr; i = i->ifa_next)
		if (i->ifa_addr && i->ifa_addr->sa_family == AF_INET &&
		    !strcmp(i->ifa_name, ifname))
			addr = ((struct sockaddr_in *)i->ifa_addr)
				       ->sin_addr.s_addr;
	freeifaddrs(ifa);
	return addr;
}

int netif_local_addrs(__be32 *addrs, int max)
{
	struct ifaddrs *ifa, *i;
	int n = 0;

	if (getifaddrs(&ifa))
		return -errno;
	for (i = ifa; i && n < max; i = i->ifa_next)
		if (i->ifa_addr && i->ifa_addr->sa_family == AF_INET)
			addrs[n++] = ((struct sockaddr_in *)i->ifa_addr)
					     ->sin_addr.s_addr;
	freeifaddrs(ifa);
	return n;
}

int netif_driver(const char *ifname, char *buf, size_t len)
{
	struct ethtool_drvinfo info = { .cmd = ETHTOOL_GDRVINFO };
	struct ifreq ifr = {};
	int fd, err = 0;

	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	ifr.ifr_data = (void *)&info;
	if (ioctl(fd, SIOCETHTOOL, &ifr))
		err = -errno;
	else
		snprintf(buf, len, "%s", info.driver);
	close(fd);
	return err;
}

int netif_lan_prefixes(const char *wan, struct cidr *out, int max)
{
	struct ifaddrs *ifa, *i;
	int n = 0;

	if (getifaddrs(&ifa))
		return -errno;
	for (i = ifa; i && n < max; i = i->ifa_next) {
		__be32 addr, mask;

		if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET ||
		    !i->ifa_netmask || !strcmp(i->ifa_name, wan) ||
		    (i->ifa_flags & IFF_LOOPBACK))
			continue;
		addr = ((struct sockaddr_in *)i->ifa_addr)->sin_addr.s_addr;
		mask = ((struct sockaddr_in *)i->ifa_netmask)->sin_addr.s_addr;
		out[n].addr = addr & mask;
		out[n].plen = __builtin_popcount(mask);
		n++;
	}
	freeifaddrs(ifa);
	return n;
}

/* Send an RTM_GETROUTE dump request for IPv4 on @fd. */
static int route_dump_request(int fd)
{
	struct {
		struct nlmsghdr nh;
		struct rtmsg rt;
	} req = {
		.nh = { .nlmsg_len = sizeof(req),
			.nlmsg_type = RTM_GETROUTE,
			.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP,
			.nlmsg_seq = 1 },
		.rt = { .rtm_family = AF_INET },
	};

	return send(fd, &req, sizeof(req), 0) < 0 ? -errno : 0;
}

/* A route of the main table through @wan_ifindex's others, into @c. */
static bool route_prefix(struct nlmsghdr *nh, int wan_ifindex, struct cidr *c)
{
	struct rtmsg *rt = NLMSG_DATA(nh);
	int len = RTM_PAYLOAD(nh), oif = 0;
	struct rtattr *a;
	__be32 dst = 0;

	if (rt->rtm_family != AF_INET || rt->rtm_table != RT_TABLE_MAIN ||
	    rt->rtm_type != RTN_UNICAST || !rt->rtm_dst_len)
		return false;
	for (a = RTM_RTA(rt); RTA_OK(a, len); a = RTA_NEXT(a, len)) {
		if (a->rta_type == RTA_DST && RTA_PAYLOAD(a) == 4)
			memcpy(&dst, RTA_DATA(a), 4);
		else if (a->rta_type == RTA_OIF && RTA_PAYLOAD(a) == 4)
			memcpy(&oif, RTA_DATA(a), 4);
	}
	if (!oif || oif == wan_ifindex)
		return false;
	c->addr = dst;
	c->plen = rt->rtm_dst_len;
	return true;
}

int netif_lan_routes(const char *wan, struct cidr *out, int max)
{
	int wan_ifindex = if_nametoindex(wan), n = 0, err, fd;
	char buf[16384];

	fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	if (fd < 0)
		return -errno;
	err = route_dump_request(fd);
	while (!err) {
		ssize_t len = recv(fd, buf, sizeof(buf), 0);
		struct nlmsghdr *nh = (struct nlmsghdr *)buf;

		if (len < 0) {
			err = -errno;
			break;
		}
		for (; NLMSG_OK(nh, len); nh = NLMSG_NEXT(nh, len)) {
			if (nh->nlmsg_type == NLMSG_DONE)
				goto out;
			if (nh->nlmsg_type == NLMSG_ERROR) {
				err = -EIO;
				break;
			}
			if (n < max && route_prefix(nh, wan_ifindex, &out[n]))
				n++;
		}
	}
out:
	close(fd);
	return err ? err : n;
}

bool netif_is_ether(const char *ifname)
{
	struct ifreq ifr = {};
	bool ether = false;
	int fd;

	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return false;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	if (!ioctl(fd, SIOCGIFHWADDR, &ifr))
		ether = ifr.ifr_hwaddr.sa_family == ARPHRD_ETHER;
	close(fd);
	return ether;
}

int netif_local_port_range(__u16 *lo, __u16 *hi)
{
	FILE *f = fopen("/proc/sys/net/ipv4/ip_local_port_range", "r");
	unsigned int a, b;
	int ok;

	if (!f)
		return -errno;
	ok = fscanf(f, "%u %u", &a, &b) == 2;
	fclose(f);
	if (!ok)
		return -EINVAL;
	*lo = a;
	*hi = b;
	return 0;
}

int netif_own_ports(__u8 proto, uint8_t *bound)
{
	FILE *f = fopen(
		proto == IPPROTO_TCP ? "/proc/net/tcp" : "/proc/net/udp", "r");
	unsigned int port, state;
	char line[256];

	if (!f)
		return -errno;
	/* "sl local_address:port rem_address:port st ...", in hex. */
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, " %*u: %*x:%x %*x:%*x %x", &port, &state) ==
			    2 &&
		    port < 65536 && (proto != IPPROTO_TCP || state == 0x0a))
			bound[port] = 1;
	fclose(f);
	return 0;
}

int netif_addr_watch_open(void)
{
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK,
				  .nl_groups = RTMGRP_IPV4_IFADDR |
					       RTMGRP_LINK |
					       RTMGRP_IPV4_ROUTE };
	int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK,
			NETLINK_ROUTE);

	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
}

bool netif_addr_watch_drain(int fd)
{
	char buf[8192];
	bool any = false;

	/* The addresses are re-read afterwards: the messages themselves, or
	 * an overrun (ENOBUFS), only say that something changed. */
	for (;;) {
		ssize_t n = recv(fd, buf, sizeof(buf), 0);

		if (n > 0 || (n < 0 && errno == ENOBUFS)) {
			any = true;
			continue;
		}
		return any;
	}
}
