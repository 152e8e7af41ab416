// SPDX-License-Identifier: GPL-2.0
/*
 * model_check.c - the fuzz test's reference model against the maps: they
 * hold exactly what the model holds; after a collector pass, the model
 * follows what it removed, where the model allows that it could.
 */
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>

#include "bpfmasq.h"
#include "harness.h"
#include "model.h"

#define NS_PER_S 1000000000ull

static void ep_fail(const char *what, const struct m_ep *e)
{
	char a[INET_ADDRSTRLEN];

	inet_ntop(AF_INET, &e->addr, a, sizeof(a));
	assert_fail(__FILE__, __LINE__, "%s: proto %u %s:%u", what, e->proto, a,
		    e->port);
}

static void port_fail(const char *what, __u8 proto, __u16 port)
{
	assert_fail(__FILE__, __LINE__, "%s: proto %u external port %u", what,
		    proto, port);
}

static int quarantined(const struct model *m)
{
	return m->nquar[0] + m->nquar[1] + m->nquar[2];
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
			       "mapping's external address") &&
		     ASSERT_EQ(v[i].inbound, model_inbound_of(m, &e),
			       "mapping's sessions opened from outside");
		if (!ok)
			ep_fail("that mapping", &e);
	}
	free(k);
	free(v);
	return ok;
}

/* Entry @o of external port @port: owned as the model says, or in quarantine. */
static bool owner_matches(const struct model *m, __u16 port,
			  const struct bpfmasq_endpoint *ext,
			  const struct bpfmasq_owner *o)
{
	int j = model_owner(m, ext->proto, port);
	__u32 since;

	if (!ASSERT_EQ(ntohl(ext->addr), ntohl(m->ext_addr),
		       "port_owners entry's external address"))
		return false;
	if (o->state == BPFMASQ_PORT_OWNED) {
		if (!ASSERT_TRUE(j >= 0,
				 "an owned port the model's mapping holds"))
			return false;
		return ASSERT_TRUE(o->addr == m->maps[j].in.addr &&
					   ntohs(o->port) ==
						   m->maps[j].in.port &&
					   o->proto == m->maps[j].in.proto,
				   "the owner is the mapping's endpoint");
	}
	if (!ASSERT_EQ(o->state, BPFMASQ_PORT_QUARANTINED,
		       "port_owners entry's state") ||
	    !ASSERT_TRUE(model_quarantined(m, ext->proto, port, &since),
			 "a quarantined port the model has quarantined"))
		return false;
	return ASSERT_EQ(o->released_s, since,
			 "released_s (the collector pass's now)") &&
	       ASSERT_TRUE(!o->port && !o->proto,
			   "a quarantined port names no one");
}

/*
 * port_owners holds the model's owned and quarantined ports, which are
 * distinct: as many entries, each one of them.
 */
static bool owners_match(const struct model *m, struct fixture *fx)
{
	struct bpfmasq_endpoint *k;
	struct bpfmasq_owner *v;
	long n = map_dump(fx->maps.port_owners, (void **)&k, (void **)&v), i;
	bool ok = ASSERT_TRUE(n >= 0, "dump of port_owners");

	if (!ok)
		return false;
	ok = ASSERT_EQ(n, m->nmaps + quarantined(m),
		       "port_owners entries (the model's mappings and "
		       "quarantined ports)");
	for (i = 0; ok && i < n; i++) {
		ok = owner_matches(m, ntohs(k[i].port), &k[i], &v[i]);
		if (!ok)
			port_fail("that port_owners entry", k[i].proto,
				  ntohs(k[i].port));
	}
	free(k);
	free(v);
	return ok;
}

/* The flags that say what a session is: a flow of its own, shared, lent. */
static bool kind_matches(const struct m_sess *p,
			 const struct bpfmasq_session *v)
{
	const struct bpfmasq_endpoint *t = &v->u.lent_to;

	if (!ASSERT_EQ(!!(v->flags & BPFMASQ_SESS_SHARED), p->shared,
		       "session on a shared port") ||
	    !ASSERT_EQ(!!(v->flags & BPFMASQ_SESS_LENT), p->lent, "LENT entry"))
		return false;
	if (!p->lent)
		return true;
	return ASSERT_TRUE(t->addr == p->lent_to.addr &&
				   ntohs(t->port) == p->lent_to.port &&
				   t->proto == p->lent_to.proto,
			   "the LENT entry names its borrower");
}

static bool session_matches(const struct model *m,
			    const struct bpfmasq_session_key *k,
			    const struct bpfmasq_session *v)
{
	struct m_ep e = { k->inside_addr, ntohs(k->inside_port), k->proto };
	int j = model_find_map(m, &e);
	int i = model_find_sess(m, &e, k->remote_addr, ntohs(k->remote_port));
	const struct m_sess *p = i >= 0 ? &m->sess[i] : NULL;

	/* A shared session has a port of another's; the others, their own. */
	if (!p || ntohs(v->ext_port) != p->ext ||
	    (!p->shared && (j < 0 || m->maps[j].ext != p->ext))) {
		ep_fail("a session the model does not have (or on another "
			"port)",
			&e);
		return false;
	}
	if (kind_matches(p, v) &&
	    ASSERT_EQ(!!(v->flags & BPFMASQ_SESS_INBOUND), p->inbound,
		      "session opened from outside") &&
	    (p->lent ||
	     ASSERT_EQ(!!(v->flags & BPFMASQ_SESS_REPLIED), p->replied,
		       "session answered by the side that did not open it")))
		return true;
	ep_fail("that session", &e);
	return false;
}

static bool sessions_match(const struct model *m, struct fixture *fx)
{
	struct bpfmasq_session_key *k;
	struct bpfmasq_session *v;
	long n = map_dump(fx->maps.sessions, (void **)&k, (void **)&v), i;
	bool ok = ASSERT_TRUE(n >= 0, "dump of sessions");

	if (!ok)
		return false;
	ok = ASSERT_EQ(n, m->nsess, "sessions entries (the model's)");
	for (i = 0; ok && i < n; i++)
		ok = session_matches(m, &k[i], &v[i]);
	free(k);
	free(v);
	return ok;
}

bool model_matches_maps(const struct model *m, struct fixture *fx)
{
	return mappings_match(m, fx) && owners_match(m, fx) &&
	       sessions_match(m, fx);
}

/* Does the pair of shared session @p and its LENT entry stand whole? */
static bool share_whole(const struct model *m, const struct m_sess *p)
{
	int owner, i;

	if (p->lent) {
		i = model_find_sess(m, &p->lent_to, p->raddr, p->rport);
		return i >= 0 && m->sess[i].shared && m->sess[i].ext == p->ext;
	}
	owner = model_owner(m, p->in.proto, p->ext);
	i = owner < 0 ? -1
		      : model_find_sess(m, &m->maps[owner].in, p->raddr,
					p->rport);
	return i >= 0 && m->sess[i].lent &&
	       model_ep_eq(&m->sess[i].lent_to, &p->in);
}

/*
 * A LENT entry goes with its shared session, in the same pass, and with it
 * only: neither outlives the other.
 */
static bool shares_follow_gc(const struct model *m)
{
	int i;

	for (i = 0; i < m->nsess; i++) {
		const struct m_sess *p = &m->sess[i];

		if ((p->shared || p->lent) && !share_whole(m, p)) {
			ep_fail(p->lent ? "a LENT entry outlived its shared "
					  "session"
					: "a shared session lost its LENT "
					  "entry",
				&p->in);
			return false;
		}
	}
	return true;
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

		/* A LENT entry has no timeout: its shared session's holds. */
		if (!there && !ahead_s && !p->lent &&
		    now - p->last_ns < 9 * NS_PER_S)
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
	return shares_follow_gc(m);
}

/*
 * Does a session hold the mapping of @in: a flow of its own, or a LENT
 * entry of its port? A shared flow of @in's does not: it is on another
 * endpoint's port, which that one's mapping and LENT entry hold, and
 * never uses @in's (the pool ran dry when it was made: keeping a port
 * that nothing sends from would take it from the flows that need one).
 */
static bool in_use(const struct model *m, const struct m_ep *in)
{
	int i;

	for (i = 0; i < m->nsess; i++)
		if (!m->sess[i].shared && model_ep_eq(&m->sess[i].in, in))
			return true;
	return false;
}

/* The mappings the pass at @gc_s released: their ports go to quarantine. */
static bool maps_follow_gc(struct model *m, struct fixture *fx,
			   uint64_t ahead_s, __u32 gc_s)
{
	struct bpfmasq_mapping v;
	int i;

	for (i = m->nmaps - 1; i >= 0; i--) {
		const struct m_ep *in = &m->maps[i].in;
		bool there = !fx_mapping(fx, in->addr, in->port, in->proto, &v);

		if ((!there && in_use(m, in)) ||
		    (there && ahead_s > 604800 && !m->maps[i].lending)) {
			ep_fail(there ? "a mapping outlived every timeout"
				      : "a mapping in use was released",
				in);
			return false;
		}
		if (there)
			continue;
		model_quarantine(m, in->proto, m->maps[i].ext, gc_s);
		model_drop_map(m, i);
	}
	return true;
}

/* A pass at @gc_s frees the ports quarantined long enough before it. */
static void quarantine_follow_gc(struct model *m, __u32 gc_s)
{
	static const __u8 protos[] = { IPPROTO_TCP, IPPROTO_UDP, IPPROTO_ICMP };
	__u32 since;
	int p, port;

	for (p = 0; p < 3; p++)
		for (port = m->port_min; port <= m->port_max; port++)
			if (model_quarantined(m, protos[p], port, &since) &&
			    gc_s >= (uint64_t)since + BPFMASQ_PORT_QUARANTINE_S)
				model_unquarantine(m, protos[p], port);
}

bool model_follow_gc(struct model *m, struct fixture *fx, uint64_t now,
		     uint64_t at)
{
	uint64_t ahead_s = (at - now) / NS_PER_S;
	/* The pass's clock, as it stamps a release: boot-time seconds. */
	__u32 gc_s = at / NS_PER_S;
	int i;

	for (i = 0; i < m->nmaps; i++)
		m->maps[i].lending = false;
	for (i = 0; i < m->nsess; i++) {
		int j = m->sess[i].lent ? model_find_map(m, &m->sess[i].in)
					: -1;

		if (j >= 0)
			m->maps[j].lending = true;
	}
	/* Released in this pass, a port is not freed in it. */
	quarantine_follow_gc(m, gc_s);
	if (!sess_follow_gc(m, fx, now, ahead_s) ||
	    !maps_follow_gc(m, fx, ahead_s, gc_s))
		return false;
	if (ahead_s > BPFMASQ_FRAG_TIMEOUT_S)
		m->nfrags = 0;
	for (i = 0; i < m->nfrags; i++)
		if (now - m->frags[i].seen_ns >
		    (BPFMASQ_FRAG_TIMEOUT_S - 1) * NS_PER_S)
			m->frags[i].doubtful = true;
	return model_matches_maps(m, fx);
}
