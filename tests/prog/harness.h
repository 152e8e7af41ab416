/* SPDX-License-Identifier: GPL-2.0 */
/*
 * harness.h - what every program test needs: a freshly loaded and
 * configured instance (the fixture), BPF_PROG_TEST_RUN wrappers, map
 * look-ups by key, and assertions that print what was expected and what
 * the programs actually did.
 */
#ifndef PROG_TEST_HARNESS_H
#define PROG_TEST_HARNESS_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <linux/types.h>

#include "bpfmasq.h"
#include "clock.h"
#include "config.h"
#include "gc.h"
#include "maps.h"
#include "pools.h"
#include "state.h"
#include "pkt.h"

/* Test network: inside 10.0.0.0/8, remotes 198.51.100.0/24. */
#define EXT_ADDR IP4(203, 0, 113, 1)
#define GW_LAN_ADDR IP4(10, 0, 0, 1)
#define HOST1 IP4(10, 0, 0, 2)
#define HOST2 IP4(10, 0, 0, 3)
#define HOST3 IP4(10, 0, 0, 4)
#define HOST4 IP4(10, 0, 0, 5)
#define HOST5 IP4(10, 0, 0, 6)
#define REMOTE1 IP4(198, 51, 100, 9)
#define REMOTE2 IP4(198, 51, 100, 10)
#define STRANGER IP4(198, 51, 100, 77)
#define ROUTER IP4(198, 51, 100, 1) /* a hop on the way to the remotes */
#define OUTSIDER IP4(192, 0, 2, 5) /* neither inside nor local */

/*
 * Default port range. IN_RANGE_PORT is in it, OUT_RANGE_PORT is not; every
 * external port comes from the pool, at random.
 */
#define PORT_MIN 40000
#define PORT_MAX 40999
#define IN_RANGE_PORT 40000
#define OUT_RANGE_PORT 5555

/* Verdicts, as the entry points return them. */
#define TC_OK 0 /* TC_ACT_OK */
#define TC_SHOT 2 /* TC_ACT_SHOT */
#define XDP_VERDICT_DROP 1
#define XDP_VERDICT_PASS 2
#define XDP_VERDICT_REDIRECT 4 /* the fast path's */

/* The fast path's counters, the last of them: FAST_OUT, FAST_IN, fallbacks. */
#define FAST_NSTATS (BPFMASQ_STAT_FAST_FRAGMENT - BPFMASQ_STAT_FAST_OUT + 1)

/* Fixture knobs; zero means the default. */
struct fx_opts {
	__u16 port_min;
	__u16 port_max;
	__u8 filtering;
	bool no_ext_addr; /* config without an external address */
	__u32 max_sessions; /* sessions map size */
	__u32 max_owners; /* port_owners map size */
	__u16 max_inbound; /* per mapping; 0: the default */
	bool inside_any; /* inside prefix 0.0.0.0/0 instead of 10.0.0.0/8 */
	bool no_sharing; /* --port-sharing off */
	bool fast_path; /* load bpfmasq_lan too (the verifier's time) */
	bool hairpin; /* load bpfmasq_hairpin too */
	bool both_ingress; /* load the ingress program fx_ingress() runs not */
	__u16 max_ports_per_host; /* 0: no limit */
};

struct fixture {
	struct bpfmasq *skel;
	struct masq_maps maps;
	struct bpfmasq_config cfg;
	bool ingress_tc; /* fx_ingress() runs the TC ingress program */
	bool fast; /* in the fast path's namespace until fx_teardown */
	bool fast_runs; /* fx_egress() and fx_ingress() take the fast path */
	/*
	 * The fast path's counters (BPFMASQ_STAT_FAST_*) as fx_egress() and
	 * fx_ingress() saw their runs count them, checked packet by packet:
	 * assert_stats() expects them on top of what the test lists.
	 */
	__u64 fast_seen[FAST_NSTATS];
};

/*
 * The fast path's world: a network namespace of its own, with a "LAN"
 * (10.0.0.1/8; HOST1 to HOST5 neighbours with their fast_host_mac(),
 * FAST_NO_NEIGH_HOST's MAC not known) and a "WAN" (EXT_ADDR/24, the
 * default route through a next hop whose MAC is FAST_NEXT_HOP_MAC: every
 * remote), both veths to nowhere, forwarding on, so that bpf_fib_lookup
 * answers in BPF_PROG_TEST_RUN. A fixture with fast_path (or set up for a
 * .fast run) runs in it (made at the first) and leaves it at fx_teardown,
 * for the namespace of the other tests, where no route is (unreach.h's
 * lookups find none; in the fast world, forwarding is off on lo, where the
 * TC programs' test runs come in, for the same answer).
 */
extern int fast_lan_ifindex, fast_wan_ifindex;
#define FAST_LAN_MAC "\x02\x00\x00\x00\x0a\x01"
#define FAST_WAN_MAC "\x02\x00\x00\x00\xfe\x02"
#define FAST_NEXT_HOP_MAC "\x02\x00\x00\x00\xfe\x01"
#define FAST_NO_NEIGH_HOST IP4(10, 0, 0, 99) /* no other test's */
/* The MAC of inside host @addr on the fast world's LAN. */
void fast_host_mac(__be32 addr, __u8 mac[ETH_ALEN]);

/* Open, size, load and configure; false (with a message) on failure. */
bool fx_setup(struct fixture *fx, const struct fx_opts *opts);
/*
 * A pool of one port, IN_RANGE_PORT: the first flow's external port is
 * known ahead, for tests that spell out both directions.
 */
extern const struct fx_opts fx_one_port;
void fx_teardown(struct fixture *fx);

/* Run one frame through a program; the verdict, or -1 if the run failed. */
int fx_egress(struct fixture *fx, const struct frame *in, struct frame *out);
int fx_ingress(struct fixture *fx, const struct frame *in, struct frame *out);
/*
 * Replies through the TC ingress program instead of XDP, for the fixtures
 * set up from now on: the runner picks it for each run of a test.
 */
void fx_set_ingress_tc(bool tc);
bool fx_ingress_tc(void);
/*
 * The fast path, for the fixtures set up from now on (the runner's .fast
 * runs): each fixture loads bpfmasq_lan and turns the fast path on, in the
 * fast world; fx_egress() runs the LAN's XDP program first, fx_ingress()
 * the WAN's XDP ingress on the WAN, and each checks what the fast path did
 * and hands the test the frame and verdict the normal path gives (see
 * harness.c). fx_fast_taken counts the packets the fast path forwarded
 * since the last fx_set_fast().
 */
void fx_set_fast(bool fast);
extern unsigned long fx_fast_taken;

/*
 * The fast path's own programs, run by hand: the LAN's XDP program on the
 * fast world's LAN, the WAN's XDP ingress on its WAN. The verdict, or -1.
 */
int fx_fast_lan(struct fixture *fx, const struct frame *in, struct frame *out);
int fx_fast_wan(struct fixture *fx, const struct frame *in, struct frame *out);

/*
 * Run @in through @prog with BPF_PROG_TEST_RUN: its verdict, -1 (reported)
 * if it could not run. Its frame comes in on @ifindex, when not 0 (else
 * on loopback, as the kernel sets it).
 */
int fx_prog_run(const struct bpf_program *prog, int ifindex,
		const struct frame *in, struct frame *out);

/* Map look-ups by key; 0 when found, -ENOENT when not. */
int fx_mapping(struct fixture *fx, __be32 addr, __u16 port, __u8 proto,
	       struct bpfmasq_mapping *m);
/* The inside endpoint owning an external port; -EBUSY if quarantined. */
int fx_owner(struct fixture *fx, __be32 ext_addr, __u16 ext_port, __u8 proto,
	     struct bpfmasq_endpoint *inside);
/*
 * Make the external addresses a pool of @addrs[0..@n) (attach --address
 * A --address B ...; again: a re-attach with that pool), @addrs[0] the
 * primary. 0, or -errno.
 */
int fx_pool(struct fixture *fx, const __be32 *addrs, int n);
/* Add @delta to the ports hosts counts for @addr (an entry made at 0). */
int fx_host_ports(struct fixture *fx, __be32 addr, int delta);
/* The same for the sessions it counts (a session made or deleted by hand). */
int fx_host_sessions(struct fixture *fx, __be32 addr, int delta);
/* enum bpfmasq_port_state of an external port, its entry in @o. */
int fx_port_state(struct fixture *fx, __be32 ext_addr, __u16 ext_port,
		  __u8 proto, struct bpfmasq_owner *o);
int fx_session(struct fixture *fx, __be32 inside_addr, __u16 inside_port,
	       __be32 remote_addr, __u16 remote_port, __u8 proto,
	       struct bpfmasq_session *s);
__u64 fx_stat(struct fixture *fx, enum bpfmasq_stat id);

/* --- assertions --- */

extern const char *cur_test;
extern int cur_failures;

/* Prefix for the messages of one table row; NULL clears it. */
void test_ctx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void assert_fail(const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#define ASSERT_EQ(actual, expected, what)                                      \
	({                                                                     \
		long long __a = (long long)(actual);                           \
		long long __e = (long long)(expected);                         \
		bool __ok = __a == __e;                                        \
		if (!__ok)                                                     \
			assert_fail(__FILE__, __LINE__,                        \
				    "%s: expected %lld (0x%llx), got %lld "    \
				    "(0x%llx)",                                \
				    what, __e, (unsigned long long)__e, __a,   \
				    (unsigned long long)__a);                  \
		__ok;                                                          \
	})

#define ASSERT_NEQ(actual, unexpected, what)                                   \
	({                                                                     \
		long long __a = (long long)(actual);                           \
		long long __u = (long long)(unexpected);                       \
		bool __ok = __a != __u;                                        \
		if (!__ok)                                                     \
			assert_fail(__FILE__, __LINE__,                        \
				    "%s: expected anything but %lld (0x%llx)", \
				    what, __u, (unsigned long long)__u);       \
		__ok;                                                          \
	})

#define ASSERT_IN_RANGE(actual, lo, hi, what)                                  \
	({                                                                     \
		long long __a = (long long)(actual);                           \
		bool __ok = __a >= (long long)(lo) && __a <= (long long)(hi);  \
		if (!__ok)                                                     \
			assert_fail(__FILE__, __LINE__,                        \
				    "%s: expected in [%lld, %lld], got %lld",  \
				    what, (long long)(lo), (long long)(hi),    \
				    __a);                                      \
		__ok;                                                          \
	})

#define ASSERT_TRUE(cond, what)                                                \
	({                                                                     \
		bool __ok = !!(cond);                                          \
		if (!__ok)                                                     \
			assert_fail(__FILE__, __LINE__, "%s: %s is false",     \
				    what, #cond);                              \
		__ok;                                                          \
	})

/* err == 0, else print it as an errno. */
#define ASSERT_OK(err, what)                                                   \
	({                                                                     \
		long long __err = (long long)(err);                            \
		if (__err)                                                     \
			assert_fail(__FILE__, __LINE__,                        \
				    "%s: expected success, got %lld (%s)",     \
				    what, __err,                               \
				    strerror(__err < 0 ? -__err : __err));     \
		!__err;                                                        \
	})

/* Byte-exact frame comparison; prints the first difference. */
#define ASSERT_FRAME_EQ(actual, expected, what)                                \
	assert_frame_eq(actual, expected, what, __FILE__, __LINE__)
bool assert_frame_eq(const struct frame *actual, const struct frame *expected,
		     const char *what, const char *file, int line);

/*
 * IP and (for a first or only fragment) TCP/UDP/ICMP checksums of @f,
 * recomputed from scratch, match what @f carries.
 */
#define ASSERT_CSUMS(f, what) assert_csums(f, what, __FILE__, __LINE__)
bool assert_csums(struct frame *f, const char *what, const char *file,
		  int line);

/*
 * @out is @in as the fast path forwards it: TTL one less, the IP header's
 * checksum right (if @in's was), to @dmac from @smac (so out of the
 * interface whose MAC @smac is).
 */
#define ASSERT_FAST_FORWARDED(in, out, dmac, smac, what)                       \
	assert_fast_forwarded(in, out, dmac, smac, what, __FILE__, __LINE__)
bool assert_fast_forwarded(const struct frame *in, const struct frame *out,
			   const void *dmac, const void *smac, const char *what,
			   const char *file, int line);

/*
 * The whole counter vector: the listed counters have these values, every
 * other one is zero (every packet is counted under one reason only):
 * ASSERT_STATS(fx, STAT(TRANSLATED_OUT, 1), STAT(NEW_SESSION, 1)).
 */
struct stat_val {
	enum bpfmasq_stat id;
	__u64 val;
};
#define STAT(name, v)                                                          \
	{                                                                      \
		BPFMASQ_STAT_##name, v                                         \
	}
#define ASSERT_STATS(fx, ...)                                                  \
	assert_stats(fx,                                                       \
		     (const struct stat_val[]){ __VA_ARGS__,                   \
						{ BPFMASQ_STAT_MAX, 0 } },     \
		     __FILE__, __LINE__)
bool assert_stats(struct fixture *fx, const struct stat_val *expected,
		  const char *file, int line);

#define ASSERT_STAT(fx, id, expected)                                          \
	ASSERT_EQ(fx_stat(fx, id), expected, "counter " #id)

#endif /* PROG_TEST_HARNESS_H */
