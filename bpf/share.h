/* SPDX-License-Identifier: GPL-2.0 */
/*
 * share.h - external ports shared when a pool has run dry, as nft's
 * masquerade and VPP's NAT44-ED do: a new flow takes a port that another
 * mapping owns, for its own remote endpoint only. Replies are told apart
 * by their source, so the owner's flows and the borrowed one never meet.
 *
 * The owner's session key with that remote is the lock: the borrower
 * inserts a LENT entry there with BPF_NOEXIST, which fails if the owner
 * (or another borrower) already talks to that remote from the port, and
 * keeps the owner from starting such a flow later. Replies to the port
 * find the entry where the owner's session would be and follow it to the
 * borrower's SHARED session. A shared flow has no mapping of its own: its
 * mapping is endpoint-dependent, the price of getting through at all.
 */
#ifndef BPFMASQ_SHARE_H
#define BPFMASQ_SHARE_H

#include "conntrack.h"
#include "maps.h"
#include "ports.h"
#include "room.h"
#include "verdict.h"

/*
 * The instance's port ranges, which the loader sets before load: share_lo[i]
 * is the first port of range i, share_n[i] its number of ports, share_ports
 * their sum; 0 turns sharing off (--port-sharing off).
 */
const volatile __u16 share_lo[BPFMASQ_MAX_PORT_RANGES];
const volatile __u32 share_n[BPFMASQ_MAX_PORT_RANGES];
const volatile __u32 share_ports;

/* A port of the ranges, at random. */
static __always_inline __be16 share_pick(void)
{
	__u32 r = bpf_get_prandom_u32() % share_ports;

	if (r < share_n[0])
		return bpf_htons(share_lo[0] + r);
	return bpf_htons(share_lo[1] + (r - share_n[0]));
}

/*
 * Claim port @ext of @owner for the flow @key of @inside: the LENT entry,
 * at @lk. 0, -EEXIST when the owner or another borrower talks to this
 * remote from the port, another error when the table is full.
 */
static __always_inline long port_lend(const struct bpfmasq_endpoint *ext,
				      const struct bpfmasq_endpoint *owner,
				      const struct bpfmasq_endpoint *inside,
				      const struct bpfmasq_session_key *key,
				      __u64 now, struct bpfmasq_session_key *lk)
{
	struct bpfmasq_session lent = { .last_ns = now,
					.ext_addr = ext->addr,
					.ext_port = ext->port,
					.flags = BPFMASQ_SESS_LENT };

	lent_key(lk, owner, key);
	lent.u.lent_to = *inside;
	return bpf_map_update_elem(&sessions, lk, &lent, BPF_NOEXIST);
}

/*
 * With its LENT entry claimed, the owner's mapping must be live; it is
 * stamped, so that the collector does not release it meanwhile. Claiming
 * first makes a try that fails change nothing. False (the LENT entry
 * given back) when the mapping is going.
 */
static __always_inline bool lender_holds(const struct bpfmasq_endpoint *ext,
					 const struct bpfmasq_endpoint *owner,
					 const struct bpfmasq_endpoint *inside,
					 const struct bpfmasq_session_key *lk,
					 __u64 now)
{
	struct bpfmasq_mapping *m = bpf_map_lookup_elem(&mappings, owner);

	if (m && m->ext_addr == ext->addr && m->ext_port == ext->port &&
	    mapping_use(owner, m, now) == NAT_CONTINUE)
		return true;
	lent_return(lk, inside);
	return false;
}

/* A hash of a session key, for share_misses. */
static __always_inline __u32 share_hash(const struct bpfmasq_session_key *k)
{
	__u32 h = k->inside_addr * 0x9e3779b1u;

	h ^= k->remote_addr * 0x85ebca6bu;
	h ^= ((__u32)k->inside_port << 16 | k->remote_port) * 0xc2b2ae35u;
	h ^= k->proto;
	return h ^ (h >> 15);
}

/*
 * Did flow @key search in vain within BPFMASQ_SHARE_MISS_MS? Its slot in
 * *@miss either way, NULL if there is none.
 */
static __always_inline bool share_missed(const struct bpfmasq_session_key *key,
					 __u32 hash, __u32 now_ms,
					 struct bpfmasq_share_miss **miss)
{
	__u32 slot = hash % BPFMASQ_SHARE_MISS_SLOTS;

	*miss = bpf_map_lookup_elem(&share_misses, &slot);
	return *miss && (*miss)->hash == hash &&
	       now_ms - (*miss)->ms < BPFMASQ_SHARE_MISS_MS;
}

/*
 * Did the new flow @key of packet @p find no port, neither free nor to
 * share, within BPFMASQ_SHARE_MISS_MS on this CPU, and has its inside
 * endpoint no mapping since? Then its packets go no further than this: a
 * flow that cannot be mapped costs about what an existing one does. It
 * tries the pool again once that time has passed, or sooner when the
 * collector has freed anything (misses_forget()).
 */
static __always_inline bool flow_missed(const struct bpfmasq_session_key *key,
					const struct pkt *p, __u64 now)
{
	struct bpfmasq_share_miss *miss;
	struct bpfmasq_endpoint inside;

	if (!share_missed(key, share_hash(key), now / NS_PER_MS, &miss))
		return false;
	endpoint_make(&inside, p->saddr, p->sport, p->proto);
	return !bpf_map_lookup_elem(&mappings, &inside);
}

/*
 * A new flow whose address @addr has no free port: a session on a port of
 * @addr that another mapping owns, in *@s. NAT_CONTINUE, PORT_POOL_EMPTY
 * when none of the ports tried can be shared, or sharing is off (the flow
 * is remembered, see flow_missed), TABLE_FULL or HOST_SESSION_LIMIT.
 */
static __always_inline __u32
nat_flow_share(__be32 addr, const struct bpfmasq_endpoint *inside,
	       const struct bpfmasq_session_key *key, const struct pkt *p,
	       __u64 now, struct bpfmasq_session **s)
{
	__u32 hash = share_hash(key), now_ms = now / NS_PER_MS;
	struct bpfmasq_endpoint ext, owner;
	struct bpfmasq_share_miss *miss;
	struct bpfmasq_session_key lk;
	bool created = false;
	long err = -EEXIST;
	__u32 reason;
	int i;

	if (share_missed(key, hash, now_ms, &miss))
		return BPFMASQ_STAT_PORT_POOL_EMPTY;
	/* Kept small: the verifier walks it once a try. */
	for (i = 0; share_ports && i < BPFMASQ_SHARE_TRIES; i++) {
		endpoint_make(&ext, addr, share_pick(), inside->proto);
		/* A forward's port is never lent: its owner has no say. */
		if (port_state(&ext, &owner) != BPFMASQ_PORT_OWNED ||
		    (owner.addr == inside->addr && owner.port == inside->port))
			continue;
		err = port_lend(&ext, &owner, inside, key, now, &lk);
		if (err != -EEXIST)
			break;
	}
	if (err == -EEXIST) {
		if (miss) {
			miss->hash = hash;
			miss->ms = now_ms;
		}
		return BPFMASQ_STAT_PORT_POOL_EMPTY;
	}
	if (err)
		return BPFMASQ_STAT_TABLE_FULL;
	/* A mapping released under it: the next packet tries again. */
	if (!lender_holds(&ext, &owner, inside, &lk, now))
		return BPFMASQ_STAT_PORT_POOL_EMPTY;
	reason = session_create_out(key, ext.addr, ext.port, p,
				    BPFMASQ_SESS_SHARED, now, &created, s);
	/* No room, or another CPU made this flow first. */
	if (!created)
		lent_return(&lk, inside);
	if (reason != NAT_CONTINUE)
		return reason;
	if (created)
		stat_inc(BPFMASQ_STAT_PORT_SHARED);
	return NAT_CONTINUE;
}

#endif /* BPFMASQ_SHARE_H */
