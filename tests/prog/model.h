/* SPDX-License-Identifier: GPL-2.0 */
/*
 * model.h - a reference model of the NAT for the fuzz test (t_fuzz.c): a
 * parser of its own that sorts a frame the way README.md says the data
 * path must (malformed, later fragment, ICMP error, ports, echo, other),
 * and the state the programs must hold (mappings, sessions, fragments,
 * quarantined ports), from which it says what each packet must become: translated to exactly
 * which address and port, passed untouched, or dropped, and with which
 * counter. Written from README.md, not from the data path.
 */
#ifndef PROG_TEST_MODEL_H
#define PROG_TEST_MODEL_H

#include <stdbool.h>
#include <stdint.h>
#include <netinet/in.h>
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
	/*
	 * Lent its port as a collector pass began: the LENT entry, not a
	 * flow of its own, may keep it through that pass.
	 */
	bool lending;
};

struct m_sess {
	struct m_ep in;
	__be32 raddr;
	__u16 rport; /* 0 for echo */
	__u16 ext; /* the external port it is on */
	bool inbound; /* opened from outside (endpoint-independent) */
	bool replied; /* the side that did not open it has answered */
	/* On a port another mapping owns: @in has no mapping of it. */
	bool shared;
	/*
	 * Not a flow: owner @in lends its port @ext, for this remote only,
	 * to the shared session of @lent_to.
	 */
	bool lent;
	struct m_ep lent_to;
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
	__u16 max_inbound; /* sessions opened from outside, per mapping */
	int nmaps, nsess, nfrags;
	struct m_map maps[MODEL_MAX_MAPS];
	struct m_sess sess[MODEL_MAX_SESS];
	struct m_frag frags[MODEL_MAX_FRAGS];
	/*
	 * Quarantined external ports, per protocol (model_proto_idx): a
	 * mapping the collector released leaves its port here, released at
	 * quar_s (that pass's now, in seconds), until a pass at least
	 * BPFMASQ_PORT_QUARANTINE_S later frees it. Only a flush empties it
	 * otherwise.
	 */
	__u8 quar[3][65536 / 8];
	__u32 quar_s[3][65536];
	int nquar[3];
	long n_released, n_freed; /* ports quarantined and freed, in all */
};

static inline int model_proto_idx(__u8 proto)
{
	return proto == IPPROTO_TCP ? 0 : proto == IPPROTO_UDP ? 1 : 2;
}

static inline bool model_ep_eq(const struct m_ep *a, const struct m_ep *b)
{
	return a->addr == b->addr && a->port == b->port && a->proto == b->proto;
}

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
	/*
	 * The pool is dry: dropped as @reasons say, or the data path shared
	 * a port (model_expect_shared()); then @shared is set.
	 */
	bool may_share, shared;
	bool to_borrower; /* a reply on a lent port, to its borrower */
	/* To a port of @in's own, from the remote of its shared flow. */
	bool cross_port;
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
 * A new flow that found its pool dry came out translated: @e becomes a
 * session on a shared port, chosen by the data path.
 */
void model_expect_shared(struct expect *e);
/*
 * May the flow of @e (@v) share external port @ext: owned by another
 * endpoint's mapping, which has no session (nor LENT entry) with the
 * flow's remote?
 */
bool model_sharable(const struct model *m, const struct view *v,
		    const struct expect *e, __u16 ext);
/*
 * The packet came out as @e said (with @port the external port the data
 * path chose for a new mapping or shared): the model takes in what it did.
 */
void model_commit(struct model *m, const struct view *v, const struct expect *e,
		  __u16 port, uint64_t now);

int model_find_map(const struct model *m, const struct m_ep *in);
int model_find_sess(const struct model *m, const struct m_ep *in, __be32 raddr,
		    __u16 rport);
/* Whose is external port @ext of @proto, -1 when nobody's. */
int model_owner(const struct model *m, __u8 proto, __u16 ext);
/* Is port @ext of @proto quarantined? Since when, in *@since. */
bool model_quarantined(const struct model *m, __u8 proto, __u16 ext,
		       __u32 *since);
void model_quarantine(struct model *m, __u8 proto, __u16 ext, __u32 since);
void model_unquarantine(struct model *m, __u8 proto, __u16 ext);
/* Ports of @proto's range owned or quarantined: not in the pool. */
int model_held(const struct model *m, __u8 proto);
/* A quarantined port, the first from @r on (any protocol); false if none. */
bool model_pick_quarantined(const struct model *m, __u32 r, __u8 *proto,
			    __u16 *ext);
/* Sessions opened from outside on the mapping of @in. */
int model_inbound_of(const struct model *m, const struct m_ep *in);
void model_drop_sess(struct model *m, int i);
void model_drop_map(struct model *m, int i);
void model_forget_all(struct model *m);

struct fixture;
/*
 * The maps hold exactly the model's mappings, sessions and port_owners
 * entries: its owned ports, naming their mapping's endpoint, and its
 * quarantined ones, with the time of their release.
 */
bool model_matches_maps(const struct model *m, struct fixture *fx);
/*
 * After a collector pass at @at, @now being the test's clock (boot-time
 * ns): what it removed is gone from
 * the model too, once checked that it could expire (nothing in use, or
 * touched in the last seconds, is; past every timeout everything is). The
 * ports of the mappings it released are quarantined since that pass; the
 * quarantines it found over are freed.
 */
bool model_follow_gc(struct model *m, struct fixture *fx, uint64_t now,
		     uint64_t at);

#endif /* PROG_TEST_MODEL_H */
