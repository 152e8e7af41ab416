// SPDX-License-Identifier: GPL-2.0
/*
 * model.c - the fuzz test's reference model: its own parser and the state
 * the programs must hold, from README.md ("How it works", "Counters").
 */
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>

#include "bpfmasq.h"
#include "harness.h"
#include "model.h"

#define NS_PER_S 1000000000ull

const char *view_class_name(enum view_class c)
{
	static const char *const names[] = {
		"non-IPv4", "malformed",    "later fragment", "ICMP error",
		"TCP/UDP",  "echo request", "echo reply",     "other",
	};

	return c <= V_OTHER ? names[c] : "?";
}

static __u16 get16(const __u8 *b)
{
	return (__u16)b[0] << 8 | b[1];
}

/* The L4 header at @l4, @len bytes of it in the IP packet. */
static enum view_class view_l4(const __u8 *l4, __u32 len, struct view *v)
{
	switch (v->proto) {
	case IPPROTO_TCP:
		if (len < 20 || (l4[12] >> 4) < 5 || (l4[12] >> 4) * 4u > len)
			return V_MALFORMED;
		v->sport = get16(l4);
		v->dport = get16(l4 + 2);
		v->tcp_flags = l4[13];
		return V_PORTS;
	case IPPROTO_UDP:
		/* A first fragment carries only part of the datagram. */
		if (len < 8 || get16(l4 + 4) < 8 ||
		    (!v->first_frag && get16(l4 + 4) > len))
			return V_MALFORMED;
		v->sport = get16(l4);
		v->dport = get16(l4 + 2);
		return V_PORTS;
	case IPPROTO_ICMP:
		if (len < 8)
			return V_MALFORMED;
		v->sport = v->dport = get16(l4 + 4);
		switch (l4[0]) {
		case ICMP_ECHO:
			return V_ECHO_REQUEST;
		case ICMP_ECHOREPLY:
			return V_ECHO_REPLY;
		case ICMP_DEST_UNREACH:
		case ICMP_TIME_EXCEEDED:
		case ICMP_PARAMETERPROB:
			return V_ICMP_ERROR;
		}
		return V_OTHER;
	}
	return V_OTHER;
}

void view_parse(const struct frame *f, struct view *v)
{
	const __u8 *ip = f->data + ETH_HLEN;
	__u32 ihl, tot, frag;

	memset(v, 0, sizeof(*v));
	if (f->len < ETH_HLEN || get16(f->data + 12) != ETH_P_IP) {
		v->cls = V_NON_IPV4;
		return;
	}
	v->cls = V_MALFORMED;
	if (f->len < ETH_HLEN + 20)
		return;
	ihl = (ip[0] & 15) * 4;
	tot = get16(ip + 2);
	if (ip[0] >> 4 != 4 || ihl < 20 || tot < ihl || tot > f->len - ETH_HLEN)
		return;
	memcpy(&v->saddr, ip + 12, 4);
	memcpy(&v->daddr, ip + 16, 4);
	memcpy(&v->ip_id, ip + 4, 2);
	v->proto = ip[9];
	v->l4_off = ETH_HLEN + ihl;
	frag = get16(ip + 6);
	v->first_frag = (frag & (PKT_IP_MF | PKT_IP_OFFSET)) == PKT_IP_MF;
	if (frag & PKT_IP_OFFSET) {
		v->cls = V_LATER_FRAG;
		return;
	}
	v->cls = view_l4(ip + ihl, tot - ihl, v);
}

void model_init(struct model *m, __be32 ext_addr, __u16 port_min,
		__u16 port_max, bool independent)
{
	memset(m, 0, sizeof(*m));
	m->ext_addr = ext_addr;
	m->port_min = port_min;
	m->port_max = port_max;
	m->independent = independent;
	m->max_inbound = BPFMASQ_DEFAULT_MAX_INBOUND;
}

/* Translated sources (the fixture's): 10/8, not the gateway's, not special. */
bool model_is_inside(__be32 addr)
{
	__u32 a = ntohl(addr);

	if (a >> 24 == 0 || a >> 24 == 127 || a >> 16 == 0xa9fe)
		return false;
	if (addr == EXT_ADDR || addr == GW_LAN_ADDR)
		return false;
	return a >> 24 == 10;
}

/* Addressed to a LAN behind the gateway (lan_nets), not to the gateway. */
static bool is_lan(__be32 addr)
{
	return ntohl(addr) >> 24 == 10 && addr != GW_LAN_ADDR &&
	       addr != EXT_ADDR;
}

int model_find_map(const struct model *m, const struct m_ep *in)
{
	int i;

	for (i = 0; i < m->nmaps; i++)
		if (model_ep_eq(&m->maps[i].in, in))
			return i;
	return -1;
}

int model_find_sess(const struct model *m, const struct m_ep *in, __be32 raddr,
		    __u16 rport)
{
	int i;

	for (i = 0; i < m->nsess; i++)
		if (model_ep_eq(&m->sess[i].in, in) &&
		    m->sess[i].raddr == raddr && m->sess[i].rport == rport)
			return i;
	return -1;
}

int model_owner(const struct model *m, __u8 proto, __u16 ext)
{
	int i;

	for (i = 0; i < m->nmaps; i++)
		if (m->maps[i].in.proto == proto && m->maps[i].ext == ext)
			return i;
	return -1;
}

bool model_quarantined(const struct model *m, __u8 proto, __u16 ext,
		       __u32 *since)
{
	int p = model_proto_idx(proto);

	if (!(m->quar[p][ext / 8] & (1 << ext % 8)))
		return false;
	if (since)
		*since = m->quar_s[p][ext];
	return true;
}

void model_quarantine(struct model *m, __u8 proto, __u16 ext, __u32 since)
{
	int p = model_proto_idx(proto);

	if (!model_quarantined(m, proto, ext, NULL))
		m->nquar[p]++;
	m->n_released++;
	m->quar[p][ext / 8] |= 1 << ext % 8;
	m->quar_s[p][ext] = since;
}

void model_unquarantine(struct model *m, __u8 proto, __u16 ext)
{
	int p = model_proto_idx(proto);

	if (!model_quarantined(m, proto, ext, NULL))
		return;
	m->nquar[p]--;
	m->n_freed++;
	m->quar[p][ext / 8] &= ~(1 << ext % 8);
}

int model_held(const struct model *m, __u8 proto)
{
	int i, n = m->nquar[model_proto_idx(proto)];

	for (i = 0; i < m->nmaps; i++)
		n += m->maps[i].in.proto == proto;
	return n;
}

bool model_pick_quarantined(const struct model *m, __u32 r, __u8 *proto,
			    __u16 *ext)
{
	static const __u8 protos[] = { IPPROTO_TCP, IPPROTO_UDP, IPPROTO_ICMP };
	int range = m->port_max - m->port_min + 1, i;

	for (i = 0; i < 3 * range; i++) {
		int k = (r % (3 * range) + i) % (3 * range);

		*proto = protos[k / range];
		*ext = m->port_min + k % range;
		if (model_quarantined(m, *proto, *ext, NULL))
			return true;
	}
	return false;
}

int model_inbound_of(const struct model *m, const struct m_ep *in)
{
	int i, n = 0;

	for (i = 0; i < m->nsess; i++)
		n += m->sess[i].inbound && model_ep_eq(&m->sess[i].in, in);
	return n;
}

static void expect_set(struct expect *e, enum exp_action act, __u32 reasons,
		       const char *why)
{
	e->act = act;
	e->reasons = reasons;
	e->why = why;
}

/* What matches no state: to the stack, unless addressed to a LAN. */
static void expect_unmatched(struct expect *e, const struct view *v,
			     __u32 pass_reasons)
{
	if (is_lan(v->daddr))
		expect_set(e, EXP_DROP, REASON(BPFMASQ_STAT_UNSOLICITED),
			   "unsolicited, to a LAN");
	else
		expect_set(e, EXP_PASS, pass_reasons, "matches no state");
}

/* The remote port of @v's flow, as a session key holds it: 0 for echo. */
static __u16 remote_port(const struct view *v, bool outbound)
{
	if (v->proto == IPPROTO_ICMP)
		return 0;
	return outbound ? v->dport : v->sport;
}

/* A TCP/UDP segment or echo request from inside. */
static void expect_flow_out(struct model *m, const struct view *v,
			    struct expect *e)
{
	int map, range = m->port_max - m->port_min + 1;

	e->in = (struct m_ep){ v->saddr, v->sport, v->proto };
	e->sess = model_find_sess(m, &e->in, v->daddr, remote_port(v, true));
	map = model_find_map(m, &e->in);
	expect_set(e, EXP_TRANSLATE, REASON(BPFMASQ_STAT_TRANSLATED_OUT),
		   "known session");
	e->addr = m->ext_addr;
	e->rewrite_port = true;
	if (e->sess >= 0 && m->sess[e->sess].lent) {
		expect_set(e, EXP_DROP, REASON(BPFMASQ_STAT_PORT_LENT),
			   "its port is lent for this remote");
		return;
	}
	/* A session keeps its port: a shared one is on no mapping's. */
	if (e->sess >= 0) {
		e->port = m->sess[e->sess].ext;
		return;
	}
	if (map >= 0) {
		e->port = m->maps[map].ext;
		e->new_sessions = 1;
		e->why = "new session on a known mapping";
		return;
	}
	e->why = "new mapping";
	e->new_port = true;
	e->new_mappings = e->new_sessions = 1;
	/* The pool holds exactly the ports neither owned nor quarantined. */
	if (model_held(m, v->proto) >= range) {
		/* Random probes may all miss, even with a port to share. */
		e->may_share = true;
		expect_set(e, EXP_DROP, REASON(BPFMASQ_STAT_PORT_POOL_EMPTY),
			   "every port is owned or quarantined, none shared");
	}
}

void model_expect_shared(struct expect *e)
{
	expect_set(e, EXP_TRANSLATE, REASON(BPFMASQ_STAT_TRANSLATED_OUT),
		   "pool dry: a port shared");
	e->shared = true;
	e->new_port = false;
	e->new_mappings = 0;
	e->new_sessions = 1;
}

bool model_sharable(const struct model *m, const struct view *v,
		    const struct expect *e, __u16 ext)
{
	int owner = model_owner(m, v->proto, ext);

	if (owner < 0 || model_ep_eq(&m->maps[owner].in, &e->in))
		return false;
	return model_find_sess(m, &m->maps[owner].in, v->daddr,
			       remote_port(v, true)) < 0;
}

static void expect_out(struct model *m, const struct view *v, struct expect *e)
{
	bool inside = model_is_inside(v->saddr);

	switch (v->cls) {
	case V_LATER_FRAG:
		if (!inside)
			break;
		expect_set(e, EXP_TRANSLATE,
			   REASON(BPFMASQ_STAT_TRANSLATED_OUT),
			   "later fragment from inside");
		e->addr = m->ext_addr;
		return;
	case V_ECHO_REQUEST:
		/* The gateway's own ping is translated like an inside host's. */
		if (!inside && v->saddr != m->ext_addr)
			break;
		expect_flow_out(m, v, e);
		return;
	case V_PORTS:
		if (!inside)
			break;
		expect_flow_out(m, v, e);
		return;
	case V_OTHER:
	case V_ECHO_REPLY:
		if (!inside)
			break;
		expect_set(e, EXP_DROP, REASON(BPFMASQ_STAT_UNSUPPORTED),
			   "untranslatable, from inside");
		return;
	default:
		return;
	}
	expect_set(e, EXP_PASS, REASON(BPFMASQ_STAT_NOT_INSIDE),
		   "not from inside");
}

static int find_frag(const struct model *m, const struct view *v)
{
	int i;

	for (i = 0; i < m->nfrags; i++)
		if (m->frags[i].saddr == v->saddr &&
		    m->frags[i].daddr == v->daddr &&
		    m->frags[i].id == v->ip_id && m->frags[i].proto == v->proto)
			return i;
	return -1;
}

/* A later fragment follows its first fragment for 30 s (ipfrag_time). */
static void expect_frag_in(struct model *m, const struct view *v, uint64_t now,
			   struct expect *e)
{
	int i = find_frag(m, v);
	uint64_t age = i < 0 ? 0 : now - m->frags[i].seen_ns;

	if (i < 0 || age > (BPFMASQ_FRAG_TIMEOUT_S + 1) * NS_PER_S) {
		expect_unmatched(e, v, REASON(BPFMASQ_STAT_FRAGMENT));
		return;
	}
	if (m->frags[i].doubtful ||
	    age > (BPFMASQ_FRAG_TIMEOUT_S - 1) * NS_PER_S) {
		expect_set(e, EXP_ANY, 0, "fragment at its timeout");
		return;
	}
	/* To the gateway itself (its own echo): to its stack, as it is. */
	if (m->frags[i].inside == v->daddr) {
		expect_unmatched(e, v, REASON(BPFMASQ_STAT_FRAGMENT));
		return;
	}
	expect_set(e, EXP_TRANSLATE, REASON(BPFMASQ_STAT_TRANSLATED_IN),
		   "later fragment of a translated datagram");
	e->addr = m->frags[i].inside;
}

/*
 * A first fragment that would be translated, of a datagram whose live
 * entry sends it to another host: dropped, and no state made for it.
 */
static void expect_frag_conflict(const struct model *m, const struct view *v,
				 uint64_t now, struct expect *e)
{
	int i = find_frag(m, v);
	uint64_t age;

	if (!v->first_frag || e->act != EXP_TRANSLATE || i < 0 ||
	    m->frags[i].inside == e->addr)
		return;
	age = now - m->frags[i].seen_ns;
	if (age > (BPFMASQ_FRAG_TIMEOUT_S + 1) * NS_PER_S)
		return;
	if (m->frags[i].doubtful ||
	    age > (BPFMASQ_FRAG_TIMEOUT_S - 1) * NS_PER_S) {
		expect_set(e, EXP_ANY, 0, "first fragment at its timeout");
		return;
	}
	expect_set(e, EXP_DROP, REASON(BPFMASQ_STAT_FRAG_CONFLICT),
		   "first fragment of a datagram that went to another host");
	e->new_sessions = false;
	e->to_borrower = false;
}

/* May a packet from a new remote open a session (EIF filtering)? */
static bool opens_inbound(const struct model *m, const struct view *v)
{
	__u8 f = v->tcp_flags & (PKT_TCP_SYN | PKT_TCP_ACK | PKT_TCP_RST);

	return m->independent && v->cls == V_PORTS &&
	       (v->proto != IPPROTO_TCP || f == PKT_TCP_SYN);
}

/*
 * A reply on a port its owner has lent for this remote (LENT entry @l):
 * the borrower's shared session on that port, or no one's.
 */
static void expect_lent_in(struct model *m, const struct view *v,
			   struct expect *e, const struct m_sess *l)
{
	int b = model_find_sess(m, &l->lent_to, v->saddr,
				remote_port(v, false));

	if (b < 0 || !m->sess[b].shared || m->sess[b].ext != v->dport) {
		e->sess = -1;
		expect_unmatched(e, v, REASON(BPFMASQ_STAT_NOT_OURS));
		e->why = "lent to a flow that has ended";
		return;
	}
	e->in = l->lent_to;
	e->sess = b;
	e->to_borrower = true;
	expect_set(e, EXP_TRANSLATE, REASON(BPFMASQ_STAT_TRANSLATED_IN),
		   "reply on a lent port, to its borrower");
	e->addr = e->in.addr;
	e->port = e->in.port;
	e->rewrite_port = true;
}

static void expect_flow_in(struct model *m, const struct view *v,
			   struct expect *e)
{
	const __u32 miss =
		REASON(BPFMASQ_STAT_NOT_OURS) | REASON(BPFMASQ_STAT_FILTERED);
	int owner = v->daddr == m->ext_addr ? model_owner(m, v->proto, v->dport)
					    : -1;

	if (owner < 0) {
		expect_unmatched(e, v, miss);
		return;
	}
	e->in = m->maps[owner].in;
	e->sess = model_find_sess(m, &e->in, v->saddr, remote_port(v, false));
	if (e->sess >= 0 && m->sess[e->sess].lent) {
		expect_lent_in(m, v, e, &m->sess[e->sess]);
		return;
	}
	/*
	 * The owner's flow with this remote is a shared one, on another
	 * port: the remote never was sent anything from this one, and its
	 * session key is taken, so none may be opened there either.
	 */
	e->cross_port = e->sess >= 0 && m->sess[e->sess].ext != v->dport;
	if (e->cross_port) {
		expect_set(
			e, EXP_PASS, REASON(BPFMASQ_STAT_FILTERED),
			"filtered: its flow with that remote is on another port");
		return;
	}
	if (e->sess < 0 && !opens_inbound(m, v)) {
		expect_set(e, EXP_PASS, miss, "filtered: never sent there");
		return;
	}
	if (e->sess < 0 && model_inbound_of(m, &e->in) >= m->max_inbound) {
		expect_set(e, EXP_DROP, REASON(BPFMASQ_STAT_INBOUND_LIMIT),
			   "as many sessions opened from outside as allowed");
		return;
	}
	expect_set(e, EXP_TRANSLATE, REASON(BPFMASQ_STAT_TRANSLATED_IN),
		   e->sess < 0 ? "opens a session (independent filtering)"
			       : "reply to a session");
	e->new_sessions = e->sess < 0;
	e->addr = e->in.addr;
	e->port = e->in.port;
	e->rewrite_port = true;
}

static void expect_in(struct model *m, const struct view *v, uint64_t now,
		      struct expect *e)
{
	switch (v->cls) {
	case V_LATER_FRAG:
		expect_frag_in(m, v, now, e);
		return;
	case V_PORTS:
	case V_ECHO_REPLY:
		expect_flow_in(m, v, e);
		expect_frag_conflict(m, v, now, e);
		return;
	case V_OTHER:
	case V_ECHO_REQUEST:
		expect_unmatched(e, v, REASON(BPFMASQ_STAT_NOT_OURS));
		return;
	default:
		return;
	}
}

void model_expect(struct model *m, bool outbound, const struct view *v,
		  uint64_t now, struct expect *e)
{
	memset(e, 0, sizeof(*e));
	e->outbound = outbound;
	e->sess = -1;
	switch (v->cls) {
	case V_NON_IPV4:
		expect_set(e, EXP_PASS, REASON(BPFMASQ_STAT_NON_IPV4),
			   "not IPv4");
		return;
	case V_MALFORMED:
		expect_set(e, EXP_DROP, REASON(BPFMASQ_STAT_MALFORMED),
			   "malformed");
		return;
	case V_ICMP_ERROR:
		expect_set(e, EXP_ANY, 0, "ICMP error (not modelled)");
		return;
	default:
		break;
	}
	if (outbound)
		expect_out(m, v, e);
	else
		expect_in(m, v, now, e);
}

static struct m_sess *add_sess(struct model *m, const struct expect *e,
			       const struct view *v, __u16 ext, uint64_t now)
{
	struct m_sess *s = &m->sess[m->nsess++];

	*s = (struct m_sess){
		.in = e->in,
		.raddr = e->outbound ? v->daddr : v->saddr,
		.rport = remote_port(v, e->outbound),
		.ext = ext,
		.inbound = !e->outbound,
		.shared = e->shared,
		.last_ns = now,
	};
	return s;
}

/* The shared session @e made on @ext, and its owner's LENT entry. */
static void add_shared(struct model *m, const struct expect *e,
		       const struct view *v, __u16 ext, uint64_t now)
{
	int owner = model_owner(m, v->proto, ext);
	struct m_sess *l;

	if (owner < 0 || m->nsess + 2 > MODEL_MAX_SESS)
		return;
	add_sess(m, e, v, ext, now);
	l = add_sess(m, e, v, ext, now);
	l->in = m->maps[owner].in;
	l->shared = false;
	l->lent = true;
	l->lent_to = e->in;
}

static void remember_frag(struct model *m, const struct view *v,
			  const struct expect *e, uint64_t now)
{
	int i = find_frag(m, v);

	if (i < 0 && m->nfrags == MODEL_MAX_FRAGS)
		return; /* the model forgets; then it expects nothing */
	/* A live entry keeps its time: it lives as the first one's queue. */
	if (i >= 0 && m->frags[i].inside == e->addr &&
	    now - m->frags[i].seen_ns <= BPFMASQ_FRAG_TIMEOUT_S * NS_PER_S)
		return;
	if (i < 0)
		i = m->nfrags++;
	m->frags[i] = (struct m_frag){ .saddr = v->saddr,
				       .daddr = v->daddr,
				       .inside = e->addr,
				       .id = v->ip_id,
				       .proto = v->proto,
				       .seen_ns = now };
}

void model_commit(struct model *m, const struct view *v, const struct expect *e,
		  __u16 port, uint64_t now)
{
	struct m_sess *s = e->sess >= 0 ? &m->sess[e->sess] : NULL;
	int map;

	if (e->act != EXP_TRANSLATE || !e->rewrite_port)
		return;
	if (e->shared) {
		add_shared(m, e, v, port, now);
		return;
	}
	if (e->new_mappings && m->nmaps < MODEL_MAX_MAPS)
		m->maps[m->nmaps++] =
			(struct m_map){ .in = e->in, .ext = port };
	if (e->new_sessions && m->nsess < MODEL_MAX_SESS) {
		map = model_find_map(m, &e->in);
		add_sess(m, e, v, map >= 0 ? m->maps[map].ext : port, now);
	} else if (s) {
		s->last_ns = now;
		/* The side that did not open it answers. */
		if (e->outbound == s->inbound)
			s->replied = true;
	}
	if (!e->outbound && v->first_frag)
		remember_frag(m, v, e, now);
}

void model_drop_sess(struct model *m, int i)
{
	m->sess[i] = m->sess[--m->nsess];
}

void model_drop_map(struct model *m, int i)
{
	m->maps[i] = m->maps[--m->nmaps];
}

void model_forget_all(struct model *m)
{
	m->nmaps = m->nsess = m->nfrags = 0;
	memset(m->quar, 0, sizeof(m->quar));
	memset(m->nquar, 0, sizeof(m->nquar));
}
