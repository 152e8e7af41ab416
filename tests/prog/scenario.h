/* SPDX-License-Identifier: GPL-2.0 */
/*
 * scenario.h - the shapes program tests are written in: packet
 * shorthands; sending a frame out or in and checking it came out
 * translated, or not translated with nothing else changed (on a fresh
 * instance, or next to one flow); flows set up for a test to act on; and
 * ICMP errors quoting a flow's packets, built and checked.
 */
#ifndef PROG_TEST_SCENARIO_H
#define PROG_TEST_SCENARIO_H

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <arpa/inet.h>

#include "clock.h"
#include "harness.h"
#include "pkt.h"
#include "prog_test.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* UDP payloads: a query (of odd length) and its answer. */
extern const char query[];
extern const char answer[];

/* --- packet shorthands --- */

struct pkt_spec tcp_spec(__be32 saddr, __u16 sport, __be32 daddr, __u16 dport,
			 __u8 flags);
struct pkt_spec udp_spec(__be32 saddr, __u16 sport, __be32 daddr, __u16 dport,
			 const char *payload);
struct pkt_spec echo_spec(__be32 saddr, __be32 daddr, __u8 type, __u16 id);
/*
 * A packet of @proto between HOST1:IN_RANGE_PORT and REMOTE1:80 (an echo
 * with id IN_RANGE_PORT): from inside if @outbound, else the reply.
 */
struct pkt_spec flow_spec(__u8 proto, bool outbound);

/* Source port, or ICMP echo id, of an unfragmented frame; destination. */
__u16 frame_sport(struct frame *f);
__u16 frame_dport(struct frame *f);

/* --- sending and checking --- */

/*
 * Send @s out: it must come out as exactly @s from the external address
 * and the port (or id) the program chose, returned in @ext_port, with
 * checksums that verify from scratch.
 */
bool send_out(struct fixture *fx, const struct pkt_spec *s, __u16 *ext_port);
/* The same, from external address @ext_addr (a pool's). */
bool send_out_as(struct fixture *fx, const struct pkt_spec *s, __be32 ext_addr,
		 __u16 *ext_port);
/* Send @s in: it must come out as @s to the inside endpoint, nothing else. */
bool send_in(struct fixture *fx, const struct pkt_spec *s, __be32 inside_addr,
	     __u16 inside_port);
/* @in must get @verdict and, when passed, come out byte for byte. */
bool expect_untouched(struct fixture *fx, bool outbound, const struct frame *in,
		      int verdict);
bool expect_untouched_spec(struct fixture *fx, bool outbound,
			   const struct pkt_spec *s, int verdict);

#define ASSERT_TABLES(fx, nmappings, nsessions)                                \
	({                                                                     \
		bool __t = ASSERT_EQ(map_count((fx)->maps.mappings),           \
				     nmappings, "mappings entries");           \
		__t &= ASSERT_EQ(map_count((fx)->maps.port_owners), nmappings, \
				 "port_owners entries");                       \
		__t &= ASSERT_EQ(map_count((fx)->maps.sessions), nsessions,    \
				 "sessions entries");                          \
		__t;                                                           \
	})

/*
 * @f is not translated, on a fresh instance (@opts; NULL: the defaults):
 * it gets @verdict, comes out untouched if passed, leaves no state and
 * counts as @stat, and only that.
 */
void expect_ignored_fresh(const struct fx_opts *opts, bool outbound,
			  const struct frame *f, int verdict,
			  enum bpfmasq_stat stat);
void expect_ignored_fresh_spec(const struct fx_opts *opts, bool outbound,
			       const struct pkt_spec *s, int verdict,
			       enum bpfmasq_stat stat);

/* --- flows --- */

/*
 * A fresh instance (@opts; NULL: the defaults) with one flow, opened by
 * sending @s out (send_out()): its external port, or id, in @ext_port.
 * False if either step failed; fx_teardown() is due either way.
 */
bool setup_flow(struct fixture *fx, const struct fx_opts *opts,
		const struct pkt_spec *s, __u16 *ext_port);
/*
 * @f is not translated, after setup_flow(): it gets @verdict, comes out
 * untouched if passed, the flow is all the state there is, and the
 * counters are its first packet's and @stat for @f.
 */
void expect_ignored(struct fixture *fx, bool outbound, const struct frame *f,
		    int verdict, enum bpfmasq_stat stat);
void expect_ignored_spec(struct fixture *fx, bool outbound,
			 const struct pkt_spec *s, int verdict,
			 enum bpfmasq_stat stat);

/* The session of the flow that @s, sent from inside, opened. */
int flow_session(struct fixture *fx, const struct pkt_spec *s,
		 struct bpfmasq_session *sess);
/*
 * Send @s out as a flow's first packet: @sent gets the frame as it left
 * (for an error to quote), @sess the flow's session as it is now.
 */
bool open_flow(struct fixture *fx, const struct pkt_spec *s, struct frame *sent,
	       __u16 *ext_port, struct bpfmasq_session *sess);
/* Errors neither refresh a session nor count as its traffic (REQ-6). */
void expect_session_unchanged(struct fixture *fx, const struct pkt_spec *s,
			      const struct bpfmasq_session *before);

/* --- ICMP errors (RFC 5508, RFC 5382 REQ-9) --- */

/* A quote of @f's IP header and @l4_bytes of what follows; 0: all of @f. */
__u16 quote_len(struct frame *f, __u16 l4_bytes);
/* A router quotes the header as the packet reached it, TTL included. */
void set_ttl(struct frame *f, __u8 ttl);
/*
 * Send the error @e, quoting @quoted, through the program of its direction.
 * It must come out as the same error quoting @orig, the packet as its
 * sender sent it: inbound to the inside host that sent @orig, outbound
 * from the external endpoint @orig was sent to.
 */
bool send_error(struct fixture *fx, bool outbound,
		const struct icmp_error_spec *e, const struct frame *quoted,
		struct frame *orig);
/*
 * After an inbound error about the flow @s opened, sent with send_error():
 * the session is as @before, the flow is all the state there is, and the
 * counters are one packet translated each way.
 */
void expect_flow_after_error(struct fixture *fx, const struct pkt_spec *s,
			     const struct bpfmasq_session *before);

/*
 * As if BPFMASQ_SHARE_MISS_MS had passed: every flow that found no port
 * may try again (what the collector does, misses_forget()).
 */
bool share_misses_forget(struct fixture *fx);

/* Elements in a queue map (a port pool); popped and pushed back in order. */
long queue_len(int fd);

/* The state checker, pools included, finds nothing (else it prints it). */
bool expect_check_clean(struct fixture *fx);
/* The checker finds exactly one violation, of @kind (enum check_kind). */
void expect_check_finds(struct fixture *fx, int kind);

/* Make the frags entry of datagram @fk @age_s seconds older. */
bool frag_age(struct fixture *fx, const struct bpfmasq_frag_key *fk,
	      __u64 age_s);

#endif /* PROG_TEST_SCENARIO_H */
