/* SPDX-License-Identifier: GPL-2.0 */
/*
 * model.h - a reference model of the NAT for the fuzz test (t_fuzz.c): a
 * parser of its own that sorts a frame the way README.md says the data
 * path must (malformed, later fragment, ICMP error, ports, echo, other),
 * and the state the programs must hold (mappings, sessions, fragments),
 * from which it says what each packet must become: translated to exactly
 * which address and port, passed untouched, or dropped, and with which
 * counter. Written from README.md, not from the data path.
 */
#ifndef PROG_TEST_MODEL_H
#define PROG_TEST_MODEL_H

#include <stdbool.h>
#include <stdint.h>
#include <linux/types.h>

#include "pkt.h"

/* How the data path must see a frame. */
enum view_class {
	V_NON_IPV4,
	V_MALFORMED,
	V_LATER_FRAG,
	V_ICMP_ERROR,
	V_PORTS, /* TCP or UDP */
	V_ECHO_REQUEST,
	V_ECHO_REPLY,
	V_OTHER, /* another protocol or ICMP type */
};

struct view {
	enum view_class cls;
	__be32 saddr, daddr;
	__u16 sport, dport; /* host order; an echo's id in both */
	__u16 ip_id; /* network order, as the fragment key holds it */
	__u8 proto;
	__u8 tcp_flags;
	bool first_frag;
	__u32 l4_off; /* from the start of the frame */
};

void view_parse(const struct frame *f, struct view *v);
const char *view_class_name(enum view_class c);

/* An inside endpoint, host-order port (echo id). */
struct m_ep {
	__be32 addr;
	__u16 port;
	__u8 proto;
};

struct m_map {
	struct m_ep in;
	__u16 ext; /* external port or echo id */
};

struct m_sess {
	struct m_ep in;
	__be32 raddr;
	__u16 rport; /* 0 for echo */
	uint64_t last_ns; /* the test's clock when last used */
};

struct m_frag {
	__be32 saddr, daddr, inside;
	__u16 id;
	__u8 proto;
	bool doubtful; /* a collector pass may have forgotten it */
	uint64_t seen_ns;
};

#define MODEL_MAX_MAPS 2048
#define MODEL_MAX_SESS 8192
#define MODEL_MAX_FRAGS 256

struct model {
	__be32 ext_addr;
	__u16 port_min, port_max;
	bool independent; /* endpoint-independent filtering */
	int nmaps, nsess, nfrags;
	struct m_map maps[MODEL_MAX_MAPS];
	struct m_sess sess[MODEL_MAX_SESS];
	struct m_frag frags[MODEL_MAX_FRAGS];
	/* Ports handed out at least once, per protocol (0 TCP, 1 UDP, 2 ICMP). */
	__u8 used[3][65536 / 8];
	int nused[3];
};

enum exp_action {
	EXP_TRANSLATE, /* rewritten as the fields below say, then passed */
	EXP_PASS, /* passed untouched */
	EXP_DROP,
	EXP_ANY, /* not modelled (ICMP errors): only no new state */
};

/* What a packet must become. */
struct expect {
	enum exp_action act;
	bool outbound;
	__u32 reasons; /* bitmask of acceptable counters (enum bpfmasq_stat) */
	__be32 addr; /* new source (outbound) or destination */
	__u16 port; /* new port or id, when rewrite_port and not new_port */
	bool rewrite_port;
	bool new_port; /* a new mapping: the port is the data path's choice */
	bool may_pool_empty; /* a new mapping may fail for want of ports */
	int new_mappings, new_sessions;
	struct m_ep in; /* the inside endpoint concerned */
	int sess; /* index of its session, -1 when none */
	const char *why;
};

#define REASON(id) (1u << (id))

void model_init(struct model *m, __be32 ext_addr, __u16 port_min,
		__u16 port_max, bool independent);
bool model_is_inside(__be32 addr);
void model_expect(struct model *m, bool outbound, const struct view *v,
		  uint64_t now, struct expect *e);
/*
 * The packet came out as @e said (with @port the external port the data
 * path chose for a new mapping): the model takes in what it did.
 */
void model_commit(struct model *m, const struct view *v, const struct expect *e,
		  __u16 port, uint64_t now);

int model_find_map(const struct model *m, const struct m_ep *in);
int model_find_sess(const struct model *m, const struct m_ep *in, __be32 raddr,
		    __u16 rport);
/* Whose is external port @ext of @proto, -1 when nobody's. */
int model_owner(const struct model *m, __u8 proto, __u16 ext);
void model_drop_sess(struct model *m, int i);
void model_drop_map(struct model *m, int i);
void model_forget_all(struct model *m);

struct fixture;
/* The maps hold exactly the model's mappings, owners and sessions. */
bool model_matches_maps(const struct model *m, struct fixture *fx);
/*
 * After a collector pass at @now + @ahead_s: what it removed is gone from
 * the model too, once checked that it could expire (nothing in use, or
 * touched in the last seconds, is; past every timeout everything is).
 */
bool model_follow_gc(struct model *m, struct fixture *fx, uint64_t now,
		     uint64_t ahead_s);

#endif /* PROG_TEST_MODEL_H */
