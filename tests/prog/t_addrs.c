// SPDX-License-Identifier: GPL-2.0
/*
 * t_addrs.c - dynamic NAT from an address pool (--address, several):
 * pooling is paired (RFC 4787 REQ-2), each host's mappings all on the
 * address its own address hashes to, replies to each address back to its
 * host; a re-attach with another pool keeps what is on the addresses that
 * stay, a removed one drains (its hosts keep it while they have mappings,
 * no other host is paired with it) and the collector forgets it, pools
 * and owner entries with it, once nothing is left on it. The gateway's
 * own echo requests from a pool address keep it. The checker finds a host
 * paired with another address than its mapping's, and an addr_pool that
 * lists an address not ACTIVE.
 */
#include <arpa/inet.h>
#include <bpf/bpf.h>

#include "addrs.h"
#include "check.h"
#include "clock.h"
#include "gc.h"
#include "scenario.h"

#define POOL_B IP4(203, 0, 113, 10)
#define POOL_C IP4(203, 0, 113, 11)

/* The pool's model: the address a host with no mapping is paired with. */
static __be32 model_pick(__be32 host, const __be32 *addrs, __u32 n)
{
	__u32 h = ntohl(host) * 2654435761u;

	return addrs[((__u64)h * n) >> 32];
}

static __be32 host_addr(struct fixture *fx, __be32 host)
{
	struct bpfmasq_host h;

	return bpf_map_lookup_elem(fx->maps.hosts, &host, &h) ? 0 : h.ext_addr;
}

static __u32 addr_state(struct fixture *fx, __be32 a)
{
	struct bpfmasq_ext_addr e;

	return bpf_map_lookup_elem(fx->maps.ext_addrs, &a, &e) ? 0 : e.state;
}

/* Host @h's flow from @sport leaves from @ext and its reply comes back. */
static bool flow_via(struct fixture *fx, __be32 h, __u16 sport, __be32 ext)
{
	struct pkt_spec s = udp_spec(h, sport, REMOTE1, 53, query);
	struct pkt_spec r;
	__u16 port;

	if (!send_out_as(fx, &s, ext, &port))
		return false;
	r = udp_spec(REMOTE1, 53, ext, port, answer);
	return send_in(fx, &r, h, sport);
}

static const __be32 hosts5[] = { HOST1, HOST2, HOST3, HOST4, HOST5 };

/* Five hosts, three flows each, over three addresses. */
PROG_TEST(pool_paired, TEST_REPLIES)
{
	const __be32 pool[] = { EXT_ADDR, POOL_B, POOL_C };
	bool used[3] = {};
	struct fixture fx;
	__be32 want;
	int i, j, k, spread = 0;

	if (!fx_setup(&fx, NULL) || !ASSERT_OK(fx_pool(&fx, pool, 3), "pool"))
		goto out;
	for (i = 0; i < 5; i++) {
		want = model_pick(hosts5[i], pool, 3);
		test_ctx("host %d", i + 1);
		for (j = 0; j < 3; j++)
			if (!flow_via(&fx, hosts5[i], 5000 + j, want))
				goto out;
		ASSERT_EQ(host_addr(&fx, hosts5[i]), want, "paired with");
		for (k = 0; k < 3; k++)
			used[k] |= pool[k] == want;
	}
	test_ctx(NULL);
	for (k = 0; k < 3; k++)
		spread += used[k];
	ASSERT_EQ(spread, 3, "addresses that got hosts");
	ASSERT_TABLES(&fx, 15, 15);
	expect_check_clean(&fx);
out:
	fx_teardown(&fx);
}

/*
 * HOST2 is on POOL_B, which leaves the pool: its flow and its new ones
 * stay there while it has mappings; HOST5, also POOL_B's by its hash,
 * goes to the address left. Once all has expired the collector forgets
 * POOL_B at its second look, and HOST2 is paired anew.
 */
PROG_TEST(pool_drain, TEST_REPLIES)
{
	const __be32 pool[] = { EXT_ADDR, POOL_B }, after[] = { EXT_ADDR };
	const __u64 later =
		now_boot_ns() + (300 + 1 + 2 * BPFMASQ_MAPPING_GRACE_S +
				 BPFMASQ_PORT_QUARANTINE_S) *
					1000000000ull;
	struct bpfmasq_pool_key pk = { .addr = POOL_B,
				       .proto = BPFMASQ_PROTO_UDP };
	struct gc_result res;
	struct fixture fx;
	__u32 id;

	if (!fx_setup(&fx, NULL) || !ASSERT_OK(fx_pool(&fx, pool, 2), "pool") ||
	    !ASSERT_EQ(model_pick(HOST2, pool, 2), POOL_B, "HOST2's pick") ||
	    !ASSERT_EQ(model_pick(HOST5, pool, 2), POOL_B, "HOST5's pick"))
		goto out;
	if (!flow_via(&fx, HOST2, 5000, POOL_B) ||
	    !ASSERT_OK(fx_pool(&fx, after, 1), "POOL_B removed"))
		goto out;
	ASSERT_EQ(addr_state(&fx, POOL_B), BPFMASQ_ADDR_DRAINING, "POOL_B");
	test_ctx("draining");
	flow_via(&fx, HOST2, 5000, POOL_B);
	flow_via(&fx, HOST2, 5001, POOL_B);
	flow_via(&fx, HOST5, 5000, EXT_ADDR);
	test_ctx(NULL);
	expect_check_clean(&fx);

	if (!ASSERT_OK(gc_pass(&fx.maps, later, &res), "gc_pass"))
		goto out;
	ASSERT_EQ(map_count(fx.maps.mappings), 0, "mappings after expiry");
	ASSERT_EQ(addrs_collect(&fx.maps, later), 0, "first look: kept");
	ASSERT_EQ(addr_state(&fx, POOL_B), BPFMASQ_ADDR_DRAINING, "POOL_B");
	ASSERT_EQ(addrs_collect(&fx.maps, later + 2000000000ull), 1,
		  "second look: forgotten");
	ASSERT_EQ(addr_state(&fx, POOL_B), 0, "POOL_B in ext_addrs");
	ASSERT_EQ(bpf_map_lookup_elem(fx.maps.port_pools, &pk, &id) == 0, false,
		  "POOL_B's UDP pool there");
	test_ctx("paired anew");
	flow_via(&fx, HOST2, 5002, EXT_ADDR);
	test_ctx(NULL);
	expect_check_clean(&fx);
out:
	fx_teardown(&fx);
}

/* A new address: the hosts that have mappings keep theirs. */
PROG_TEST(pool_grow, TEST_REPLIES)
{
	const __be32 pool[] = { EXT_ADDR, POOL_B },
		     more[] = { EXT_ADDR, POOL_B, POOL_C };
	struct fixture fx;

	if (!fx_setup(&fx, NULL) || !ASSERT_OK(fx_pool(&fx, pool, 2), "pool") ||
	    !ASSERT_EQ(model_pick(HOST2, more, 3), POOL_C, "HOST2's new pick"))
		goto out;
	if (!flow_via(&fx, HOST2, 5000, POOL_B) ||
	    !ASSERT_OK(fx_pool(&fx, more, 3), "POOL_C added"))
		goto out;
	flow_via(&fx, HOST2, 5001, POOL_B);
	flow_via(&fx, HOST3, 5000, model_pick(HOST3, more, 3));
	ASSERT_EQ(addr_state(&fx, POOL_C), BPFMASQ_ADDR_ACTIVE, "POOL_C");
	expect_check_clean(&fx);
out:
	fx_teardown(&fx);
}

/*
 * The gateway's own ping from a pool address keeps it as its source.
 * Fast-path none: the gateway's packets and replies to it never are.
 */
PROG_TEST(pool_own_echo, TEST_REPLIES | TEST_FAST_NONE)
{
	const __be32 pool[] = { EXT_ADDR, POOL_B };
	struct pkt_spec ping = echo_spec(POOL_B, REMOTE1, ICMP_ECHO, 77), pong;
	struct fixture fx;
	__u16 id;

	if (!fx_setup(&fx, NULL) || !ASSERT_OK(fx_pool(&fx, pool, 2), "pool"))
		goto out;
	if (!send_out_as(&fx, &ping, POOL_B, &id))
		goto out;
	pong = echo_spec(REMOTE1, POOL_B, ICMP_ECHOREPLY, id);
	send_in(&fx, &pong, POOL_B, 77);
	expect_check_clean(&fx);
out:
	fx_teardown(&fx);
}

/* What the checker finds in a pool's state. */
PROG_TEST(pool_check, 0)
{
	const __be32 pool[] = { EXT_ADDR, POOL_B };
	struct bpfmasq_addr_pool ap;
	struct bpfmasq_host h;
	struct fixture fx;
	__u32 zero = 0;
	__be32 host = HOST1;

	if (!fx_setup(&fx, NULL) || !ASSERT_OK(fx_pool(&fx, pool, 2), "pool") ||
	    !flow_via(&fx, HOST1, 5000, EXT_ADDR))
		goto out;
	test_ctx("a host paired elsewhere than its mapping");
	if (ASSERT_OK(bpf_map_lookup_elem(fx.maps.hosts, &host, &h),
		      "HOST1's entry")) {
		h.ext_addr = POOL_B;
		bpf_map_update_elem(fx.maps.hosts, &host, &h, BPF_EXIST);
		expect_check_finds(&fx, CHECK_HOST_ADDRESS);
		h.ext_addr = EXT_ADDR;
		bpf_map_update_elem(fx.maps.hosts, &host, &h, BPF_EXIST);
	}
	test_ctx("addr_pool lists an address not ACTIVE");
	if (ASSERT_OK(bpf_map_lookup_elem(fx.maps.addr_pool, &zero, &ap),
		      "addr_pool")) {
		ap.addrs[ap.count++] = POOL_C;
		bpf_map_update_elem(fx.maps.addr_pool, &zero, &ap, BPF_EXIST);
		expect_check_finds(&fx, CHECK_POOL_ADDRESS);
	}
out:
	fx_teardown(&fx);
}
