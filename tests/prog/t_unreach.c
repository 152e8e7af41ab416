// SPDX-License-Identifier: GPL-2.0
/*
 * t_unreach.c - a flow that finds no port (RFC 6888 REQ-11): the packet
 * comes back as an ICMP host unreachable to its sender, from the
 * gateway's address towards it, redirected there, with checksums that
 * verify; over the rate limit it is only dropped and counted.
 */
#define _GNU_SOURCE /* unshare, setns */
#include <fcntl.h>
#include <sched.h>
#include <stdlib.h>
#include <unistd.h>
#include <bpf/bpf.h>

#include "scenario.h"

#define TC_REDIRECT 7 /* TC_ACT_REDIRECT */
#define ICMP_HDR 8
#define QUOTE_LEN (20 + 8) /* IP header and the UDP header */

/* A one-port pool held by HOST1; HOST2's datagram then finds none. */
static bool unreach_setup(struct fixture *fx, struct pkt_spec *second)
{
	const struct fx_opts opts = { .port_min = 41000, .port_max = 41000 };
	struct pkt_spec first =
		udp_spec(HOST1, OUT_RANGE_PORT, REMOTE1, 53, query);
	__u16 port;

	if (!fx_setup(fx, &opts))
		return false;
	*second = udp_spec(HOST2, OUT_RANGE_PORT, REMOTE1, 53, query);
	return send_out(fx, &first, &port);
}

/* An empty bucket: the packet is dropped, the error counted as held back. */
PROG_TEST(unreach_limited, 0)
{
	struct bpfmasq_unreach_bucket *b;
	struct frame in, out;
	struct pkt_spec q;
	struct fixture fx = {};
	__u32 zero = 0;
	int ncpus, i;

	ncpus = libbpf_num_possible_cpus();
	if (!ASSERT_TRUE(ncpus > 0, "possible CPUs"))
		return;
	b = calloc(ncpus, sizeof(*b));
	if (!b)
		return;
	if (!unreach_setup(&fx, &q))
		goto out;
	/* No credit, and no refill before a time that never comes. */
	for (i = 0; i < ncpus; i++)
		b[i].last_ns = ~0ULL;
	if (!ASSERT_OK(bpf_map_update_elem(fx.maps.unreach_bucket, &zero, b, 0),
		       "bucket update"))
		goto out;
	frame_build(&in, &q);
	ASSERT_EQ(fx_egress(&fx, &in, &out), TC_SHOT,
		  "verdict, over the limit");
	ASSERT_STATS(&fx, STAT(TRANSLATED_OUT, 1), STAT(NEW_MAPPING, 1),
		     STAT(NEW_SESSION, 1), STAT(PORT_POOL_EMPTY, 1),
		     STAT(ICMP_UNREACH_LIMITED, 1));
out:
	fx_teardown(&fx);
	free(b);
}

/*
 * A network namespace of the test's own where the inside hosts are on a
 * veth with the gateway's address 10.0.0.1 and HOST2's neighbour entry,
 * and forwarding is on, so that the FIB lookup finds the way back.
 */
static int unreach_netns(int *saved)
{
	static const char *const cmds[] = {
		"ip link set lo up",
		"ip link add bmqu0 type veth peer name bmqu1",
		"ip addr add 10.0.0.1/8 dev bmqu0",
		"ip link set bmqu0 address 02:00:00:00:00:01",
		"ip link set bmqu0 up",
		"ip link set bmqu1 up",
		"ip neigh replace 10.0.0.3 lladdr 02:00:00:00:00:03 dev bmqu0 nud permanent",
		"sysctl -qw net.ipv4.conf.all.forwarding=1 net.ipv4.conf.lo.forwarding=1",
	};
	size_t i;

	*saved = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	if (*saved < 0 || unshare(CLONE_NEWNET))
		return -errno;
	for (i = 0; i < ARRAY_SIZE(cmds); i++) {
		char cmd[256];

		snprintf(cmd, sizeof(cmd), "%s >/dev/null 2>&1", cmds[i]);
		if (system(cmd)) {
			printf("  (%s failed)\n", cmds[i]);
			return -EIO;
		}
	}
	return 0;
}

/* Not .fast: its namespace (a route back) is not the fast world. */
PROG_TEST(unreach_sent, TEST_NO_FAST)
{
	static const __u8 gw_mac[6] = { 2, 0, 0, 0, 0, 1 };
	static const __u8 host_mac[6] = { 2, 0, 0, 0, 0, 3 };
	struct frame in, out;
	struct pkt_spec q;
	struct fixture fx = {};
	const __u8 *ip, *icmp;
	int saved = -1;

	if (!ASSERT_OK(unreach_netns(&saved), "test network namespace"))
		goto restore;
	if (!unreach_setup(&fx, &q))
		goto out;
	frame_build(&in, &q);
	if (!ASSERT_EQ(fx_egress(&fx, &in, &out), TC_REDIRECT,
		       "verdict, error sent"))
		goto out;
	ASSERT_EQ(out.len, ETH_HLEN + 20 + ICMP_HDR + QUOTE_LEN,
		  "error length");
	ASSERT_TRUE(!memcmp(out.data, host_mac, 6), "Ethernet destination");
	ASSERT_TRUE(!memcmp(out.data + 6, gw_mac, 6), "Ethernet source");
	ip = out.data + ETH_HLEN;
	icmp = ip + 20;
	ASSERT_EQ(ip[0], 0x45, "version and IHL");
	ASSERT_EQ(ip[8], 64, "TTL");
	ASSERT_EQ(ip[9], IPPROTO_ICMP, "protocol");
	ASSERT_TRUE(!memcmp(ip + 12, &(__be32){ GW_LAN_ADDR }, 4), "source");
	ASSERT_TRUE(!memcmp(ip + 16, &(__be32){ HOST2 }, 4), "destination");
	ASSERT_EQ(icmp[0], 3, "ICMP type (destination unreachable)");
	ASSERT_EQ(icmp[1], 1, "ICMP code (host unreachable)");
	/* The quote: the packet's IP header and UDP header (its checksum aside). */
	ASSERT_TRUE(!memcmp(icmp + ICMP_HDR, in.data + ETH_HLEN, QUOTE_LEN - 2),
		    "quoted header");
	ASSERT_CSUMS(&out, "error");
	ASSERT_STATS(&fx, STAT(TRANSLATED_OUT, 1), STAT(NEW_MAPPING, 1),
		     STAT(NEW_SESSION, 1), STAT(PORT_POOL_EMPTY, 1),
		     STAT(ICMP_UNREACH_SENT, 1));
out:
	fx_teardown(&fx);
restore:
	if (saved >= 0) {
		/* The namespace, and the veth in it, go with its last user. */
		if (setns(saved, CLONE_NEWNET))
			printf("  (cannot return to the original namespace)\n");
		close(saved);
	}
}
