/* SPDX-License-Identifier: GPL-2.0 */
/*
 * policy.h - which sources are inside (translated) and what becomes of an
 * inbound packet that matches no state: the gateway's own stack gets it,
 * unless it is addressed to a LAN behind the gateway.
 */
#ifndef BPFMASQ_POLICY_H
#define BPFMASQ_POLICY_H

#include <stdbool.h>
#include <bpf/bpf_endian.h>

#include "conntrack.h"
#include "ctx.h"
#include "maps.h"
#include "verdict.h"

/*
 * Sources that are never translated, whatever the prefixes: "this host"
 * (0/8: a DHCP client before it has an address), loopback and link-local.
 */
static __always_inline bool is_special_source(__be32 addr)
{
	__u32 a = bpf_ntohl(addr);

	return (a >> 24) == 0 || (a >> 24) == 127 || (a >> 16) == 0xa9fe;
}

static __always_inline bool is_inside(__be32 addr)
{
	struct bpfmasq_lpm_key key = { .prefixlen = 32, .addr = addr };

	if (is_special_source(addr) || bpf_map_lookup_elem(&local_addrs, &addr))
		return false;
	return bpf_map_lookup_elem(&internal_nets, &key) != NULL;
}

/*
 * Is @addr in a prefix that is never translated (--exclude)? Asked only of
 * packets that have no session: a flow to such a place never makes one.
 */
static __always_inline bool is_excluded(__be32 addr)
{
	struct bpfmasq_lpm_key key = { .prefixlen = 32, .addr = addr };

	return bpf_map_lookup_elem(&excluded_nets, &key) != NULL;
}

/*
 * Static NAT: the other address of the static that @addr is the inside
 * (@dir OUT) or outside (@dir IN) address of, or 0. The map is looked at
 * only while it has entries.
 */
static __always_inline __be32 static_peer(const struct bpfmasq_config *cfg,
					  __be32 addr, __u8 dir)
{
	struct bpfmasq_static_key key = { .addr = addr, .dir = dir };
	const struct bpfmasq_static *st;

	if (!cfg || !(cfg->flags & BPFMASQ_CFG_STATICS))
		return 0;
	st = bpf_map_lookup_elem(&statics, &key);
	return st ? st->addr : 0;
}

/*
 * A reply that was translated already: while a re-attach switches modes,
 * XDP and TC ingress are both attached for a moment, and TC sees what XDP
 * translated. It belongs to a session, which a stranger's packet cannot,
 * or is for a static's inside address; and only then: at other times
 * nothing reaches an inside address directly.
 */
static __always_inline bool translated_already(const struct bpfmasq_config *cfg,
					       const struct pkt *p)
{
	struct bpfmasq_session_key key;
	struct bpfmasq_session *s;

	if (!cfg || !(cfg->flags & BPFMASQ_CFG_SWITCHING))
		return false;
	/* To a static's inside address: XDP translated it, with no state. */
	if (static_peer(cfg, p->daddr, BPFMASQ_STATIC_OUT))
		return true;
	if (p->kind != PKT_PORTS && p->kind != PKT_ECHO_REPLY)
		return false;
	session_key_make(&key, p->daddr, p->dport, p->saddr, p->sport,
			 p->proto);
	s = bpf_map_lookup_elem(&sessions, &key);
	/* A LENT entry is no flow of the endpoint it is keyed by. */
	return s && !(s->flags & BPFMASQ_SESS_LENT);
}

/*
 * An inbound packet that matches no state: left to the gateway's stack
 * (@pass_reason), unless it is addressed inside (lan_nets: the connected
 * LANs, the networks routed through them, the --internal prefixes), where
 * the stack would forward it: nothing unsolicited gets in.
 */
static __always_inline __u32 inbound_unmatched(const struct pkt *p,
					       __u32 pass_reason)
{
	struct bpfmasq_lpm_key key = { .prefixlen = 32, .addr = p->daddr };
	const struct bpfmasq_config *cfg = config_get();

	/* The common case, and cheaper than the trie: to the gateway. */
	if (cfg && p->daddr == cfg->ext_addr)
		return pass_reason;
	if (bpf_map_lookup_elem(&lan_nets, &key) &&
	    !bpf_map_lookup_elem(&local_addrs, &p->daddr) &&
	    !translated_already(cfg, p)) {
		/* From a network the inside talks to untranslated. */
		if (is_excluded(p->saddr))
			return BPFMASQ_STAT_EXCLUDED;
		return BPFMASQ_STAT_UNSOLICITED;
	}
	return pass_reason;
}

#endif /* BPFMASQ_POLICY_H */
