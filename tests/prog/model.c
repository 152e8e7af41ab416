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

static int proto_idx(__u8 proto)
{
	return proto == IPPROTO_TCP ? 0 : proto == IPPROTO_UDP ? 1 : 2;
}

static bool ep_eq(const struct m_ep *a, const struct m_ep *b)
{
	return a->addr == b->addr && a->port == b->port && a->proto == b->proto;
}

int model_find_map(const struct model *m, const struct m_ep *in)
{
	int i;

	for (i = 0; i < m->nmaps; i++)
		if (ep_eq(&m->maps[i].in, in))
			return i;
	return -1;
}

int model_find_sess(const struct model *m, const struct m_ep *in, __be32 raddr,
		    __u16 rport)
{
	int i;

	for (i = 0; i < m->nsess; i++)
		if (ep_eq(&m->sess[i].in, in) && m->sess[i].raddr == raddr &&
		    m->sess[i].rport == rport)
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

static int live_of(const struct model *m, __u8 proto)
{
	int i, n = 0;

	for (i = 0; i < m->nmaps; i++)
		n += m->maps[i].in.proto == proto;
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

/* A TCP/UDP segment or echo request from inside. */
static void expect_flow_out(struct model *m, const struct view *v,
			    struct expect *e)
{
	int map, range = m->port_max - m->port_min + 1;

	e->in = (struct m_ep){ v->saddr, v->sport, v->proto };
	e->sess = model_find_sess(m, &e->in, v->daddr,
				  v->cls == V_ECHO_REQUEST ? 0 : v->dport);
	map = model_find_map(m, &e->in);
	expect_set(e, EXP_TRANSLATE, REASON(BPFMASQ_STAT_TRANSLATED_OUT),
		   "known session");
	e->addr = m->ext_addr;
	e->rewrite_port = true;
	if (map >= 0) {
		e->port = m->maps[map].ext;
		e->new_sessions = e->sess < 0;
		if (e->sess < 0)
			e->why = "new session on a known mapping";
		return;
	}
	e->why = "new mapping";
	e->new_port = true;
	e->new_mappings = e->new_sessions = 1;
	e->may_pool_empty = m->nused[proto_idx(v->proto)] >= range;
	if (live_of(m, v->proto) >= range)
		expect_set(e, EXP_DROP, REASON(BPFMASQ_STAT_PORT_POOL_EMPTY),
			   "every port is held");
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
	case V_PORTS:
	case V_ECHO_REQUEST:
		if (inside)
			expect_flow_out(m, v, e);
		else
			break;
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
	expect_set(e, EXP_TRANSLATE, REASON(BPFMASQ_STAT_TRANSLATED_IN),
		   "later fragment of a translated datagram");
	e->addr = m->frags[i].inside;
}

/* May a packet from a new remote open a session (EIF filtering)? */
static bool opens_inbound(const struct model *m, const struct view *v)
{
	__u8 f = v->tcp_flags & (PKT_TCP_SYN | PKT_TCP_ACK | PKT_TCP_RST);

	return m->independent && v->cls == V_PORTS &&
	       (v->proto != IPPROTO_TCP || f == PKT_TCP_SYN);
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
	e->sess = model_find_sess(m, &e->in, v->saddr,
				  v->cls == V_ECHO_REPLY ? 0 : v->sport);
	if (e->sess < 0 && !opens_inbound(m, v)) {
		expect_set(e, EXP_PASS, miss, "filtered: never sent there");
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

static void add_sess(struct model *m, const struct expect *e,
		     const struct view *v, uint64_t now)
{
	struct m_sess *s = &m->sess[m->nsess++];

	s->in = e->in;
	s->raddr = e->outbound ? v->daddr : v->saddr;
	s->rport = v->proto == IPPROTO_ICMP ? 0
		   : e->outbound	    ? v->dport
					    : v->sport;
	s->last_ns = now;
}

static void remember_frag(struct model *m, const struct view *v,
			  const struct expect *e, uint64_t now)
{
	int i = find_frag(m, v);

	if (i < 0 && m->nfrags == MODEL_MAX_FRAGS)
		return; /* the model forgets; then it expects nothing */
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
	int p = proto_idx(e->in.proto);

	if (e->act != EXP_TRANSLATE || !e->rewrite_port)
		return;
	if (e->new_mappings && m->nmaps < MODEL_MAX_MAPS) {
		m->maps[m->nmaps++] = (struct m_map){ e->in, port };
		if (!(m->used[p][port / 8] & (1 << port % 8)))
			m->nused[p]++;
		m->used[p][port / 8] |= 1 << port % 8;
	}
	if (e->new_sessions && m->nsess < MODEL_MAX_SESS)
		add_sess(m, e, v, now);
	else if (e->sess >= 0)
		m->sess[e->sess].last_ns = now;
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
}

/* --- the model against the maps --- */

static void ep_fail(const char *what, const struct m_ep *e)
{
	char a[INET_ADDRSTRLEN];

	inet_ntop(AF_INET, &e->addr, a, sizeof(a));
	assert_fail(__FILE__, __LINE__, "%s: proto %u %s:%u", what, e->proto, a,
		    e->port);
}

static bool mappings_match(const struct model *m, struct fixture *fx)
{
	struct bpfmasq_endpoint *k;
	struct bpfmasq_mapping *v;
	long n = map_dump(fx->maps.mappings, (void **)&k, (void **)&v), i;
	bool ok = ASSERT_TRUE(n >= 0, "dump of mappings");
	struct m_ep e;
	int j;

	if (!ok)
		return false;
	ok = ASSERT_EQ(n, m->nmaps, "mappings entries (the model's)");
	for (i = 0; ok && i < n; i++) {
		e = (struct m_ep){ k[i].addr, ntohs(k[i].port), k[i].proto };
		j = model_find_map(m, &e);
		if (j < 0) {
			ep_fail("a mapping the model does not have", &e);
			ok = false;
			break;
		}
		ok = ASSERT_EQ(ntohs(v[i].ext_port), m->maps[j].ext,
			       "mapping's external port (the model's)") &&
		     ASSERT_EQ(ntohl(v[i].ext_addr), ntohl(m->ext_addr),
			       "mapping's external address");
		if (!ok)
			ep_fail("that mapping", &e);
	}
	free(k);
	free(v);
	return ok;
}

static bool owners_match(const struct model *m, struct fixture *fx)
{
	struct bpfmasq_endpoint in;
	int i;

	if (!ASSERT_EQ(map_count(fx->maps.port_owners), m->nmaps,
		       "port_owners entries (the model's mappings)"))
		return false;
	for (i = 0; i < m->nmaps; i++) {
		const struct m_map *p = &m->maps[i];

		if (!ASSERT_OK(
			    fx_owner(fx, m->ext_addr, p->ext, p->in.proto, &in),
			    "owner of a mapping's port") ||
		    !ASSERT_TRUE(in.addr == p->in.addr &&
					 ntohs(in.port) == p->in.port,
				 "the owner is the mapping's endpoint")) {
			ep_fail("that mapping", &p->in);
			return false;
		}
	}
	return true;
}

static bool sessions_match(const struct model *m, struct fixture *fx)
{
	struct bpfmasq_session_key *k;
	struct bpfmasq_session *v;
	long n = map_dump(fx->maps.sessions, (void **)&k, (void **)&v), i;
	bool ok = ASSERT_TRUE(n >= 0, "dump of sessions");
	struct m_ep e;
	int j;

	if (!ok)
		return false;
	ok = ASSERT_EQ(n, m->nsess, "sessions entries (the model's)");
	for (i = 0; ok && i < n; i++) {
		e = (struct m_ep){ k[i].inside_addr, ntohs(k[i].inside_port),
				   k[i].proto };
		j = model_find_map(m, &e);
		ok = model_find_sess(m, &e, k[i].remote_addr,
				     ntohs(k[i].remote_port)) >= 0 &&
		     j >= 0 && ntohs(v[i].ext_port) == m->maps[j].ext;
		if (!ok)
			ep_fail("a session the model does not have (or on "
				"another port)",
				&e);
	}
	free(k);
	free(v);
	return ok;
}

bool model_matches_maps(const struct model *m, struct fixture *fx)
{
	return mappings_match(m, fx) && owners_match(m, fx) &&
	       sessions_match(m, fx);
}

static bool sess_follow_gc(struct model *m, struct fixture *fx, uint64_t now,
			   uint64_t ahead_s)
{
	struct bpfmasq_session s;
	int i;

	for (i = m->nsess - 1; i >= 0; i--) {
		const struct m_sess *p = &m->sess[i];
		bool there = !fx_session(fx, p->in.addr, p->in.port, p->raddr,
					 p->rport, p->in.proto, &s);
		const char *bad = NULL;

		if (!there && !ahead_s && now - p->last_ns < 9 * NS_PER_S)
			bad = "a session used in the last 9 s expired";
		if (there && ahead_s > 604800)
			bad = "a session outlived every timeout";
		if (there && ahead_s > 300 && p->in.proto != IPPROTO_TCP)
			bad = "a UDP or echo session outlived its timeout";
		if (bad) {
			ep_fail(bad, &p->in);
			return false;
		}
		if (!there)
			model_drop_sess(m, i);
	}
	return true;
}

static bool in_use(const struct model *m, const struct m_ep *in)
{
	int i;

	for (i = 0; i < m->nsess; i++)
		if (ep_eq(&m->sess[i].in, in))
			return true;
	return false;
}

static bool maps_follow_gc(struct model *m, struct fixture *fx,
			   uint64_t ahead_s)
{
	struct bpfmasq_mapping v;
	int i;

	for (i = m->nmaps - 1; i >= 0; i--) {
		const struct m_ep *in = &m->maps[i].in;
		bool there = !fx_mapping(fx, in->addr, in->port, in->proto, &v);

		if ((!there && in_use(m, in)) || (there && ahead_s > 604800)) {
			ep_fail(there ? "a mapping outlived every timeout"
				      : "a mapping in use was released",
				in);
			return false;
		}
		if (!there)
			model_drop_map(m, i);
	}
	return true;
}

bool model_follow_gc(struct model *m, struct fixture *fx, uint64_t now,
		     uint64_t ahead_s)
{
	int i;

	if (!sess_follow_gc(m, fx, now, ahead_s) ||
	    !maps_follow_gc(m, fx, ahead_s))
		return false;
	if (ahead_s > BPFMASQ_FRAG_TIMEOUT_S)
		m->nfrags = 0;
	for (i = 0; i < m->nfrags; i++)
		if (now - m->frags[i].seen_ns >
		    (BPFMASQ_FRAG_TIMEOUT_S - 1) * NS_PER_S)
			m->frags[i].doubtful = true;
	return model_matches_maps(m, fx);
}
