/* SPDX-License-Identifier: GPL-2.0 */
/*
 * bpfmasq.h - the one definition of everything the BPF data path and the
 * userspace loader share: map keys and values, the runtime config, the
 * per-CPU counters and their names. Addresses and ports are kept in network
 * byte order (__be32/__be16) everywhere; only port-range bounds and timeouts,
 * which are never put on the wire, are in host order.
 */
#ifndef BPFMASQ_H
#define BPFMASQ_H

#include <linux/types.h>

#define BPFMASQ_PIN_SUBDIR "bpfmasq"

/* Map sizes the loader may change before load (bpf_map__set_max_entries). */
#define BPFMASQ_DEFAULT_MAX_SESSIONS 65536
/*
 * port_owners holds at most one entry per external port of each protocol
 * (owned, quarantined or reserved), whatever the session table's size: a
 * quarantined port needs its entry after its mapping is gone.
 */
#define BPFMASQ_MAX_OWNERS (3 * 65536)
/* One pool per (address, protocol), draining ones included. */
#define BPFMASQ_MAX_POOLS 512
#define BPFMASQ_MAX_INTERNAL 256
/* Destinations never translated (--exclude). */
#define BPFMASQ_MAX_EXCLUDED 64
#define BPFMASQ_MAX_LOCAL_ADDRS 256

/*
 * A free-port queue holds the free ports of its pool, and the ports that
 * forwards took from it while they were queued (each once: the pop that
 * meets one drops it); the first pop is a free port unless it meets such
 * a one. The tries after the first cover those (ports.h).
 */
#define BPFMASQ_POOL_TRIES 4

/*
 * Room at insert time: the collector queues up to this many keys of the
 * oldest sessions that give way (never answered, or closed); a new outbound
 * flow that finds the session table full deletes one of them, trying at
 * most BPFMASQ_EVICT_TRIES keys, instead of waiting for the next pass. One
 * that finds the mappings table full goes on until a victim's mapping went.
 */
#define BPFMASQ_EVICT_QUEUE 4096
#define BPFMASQ_EVICT_TRIES 2

/*
 * When a pool has run dry, a new flow tries this many ports that other
 * mappings own, picked at random, for one that it may share: no session
 * of the owner or of another borrower goes to the flow's remote endpoint
 * from it (share.h).
 */
#define BPFMASQ_SHARE_TRIES 4

/*
 * A new flow that found no port, neither free nor to share, is
 * remembered, per CPU, in one of this many slots (by a hash of its
 * session key): its packets in the next BPFMASQ_SHARE_MISS_MS go no
 * further than its session lookup and this one, so that a flow that
 * cannot be mapped does not pay for the pool and the search on every
 * packet.
 */
#define BPFMASQ_SHARE_MISS_SLOTS 256
#define BPFMASQ_SHARE_MISS_MS 1000

struct bpfmasq_share_miss {
	__u32 hash; /* of the flow's session key */
	__u32 ms; /* boot-time ms (modulo 2^32) of its last search */
};
_Static_assert(sizeof(struct bpfmasq_share_miss) == 8, "share miss layout");

/*
 * Under endpoint-independent filtering, at most this many sessions opened
 * from outside per mapping, by default (--max-inbound).
 */
#define BPFMASQ_DEFAULT_MAX_INBOUND 256

/*
 * A released external port is not handed out again before this many
 * seconds, by default (RFC 6888 REQ-8): late packets of the old flow must
 * not reach the next owner.
 */
#define BPFMASQ_PORT_QUARANTINE_S 120

/*
 * Idle timeouts of sessions, by protocol and TCP state, and the quarantine
 * of released ports: X(name, option, JSON key, default seconds, what it
 * applies to). The option is --timeout-OPTION.
 */
#define BPFMASQ_TIMEOUTS(X)                                                    \
	X(TCP_EST, "tcp-est", "tcp_est", 7440,                                 \
	  "an established TCP session (RFC 5382 REQ-5: at least 2 h 4 min)")   \
	X(TCP_TRANS, "tcp-trans", "tcp_trans", 240,                            \
	  "a TCP session opening, half closed or picked up mid-stream")        \
	X(TCP_CLOSE, "tcp-close", "tcp_close", 10,                             \
	  "a TCP session that has closed (both FINs or a RST seen)")           \
	X(UDP, "udp", "udp", 300,                                              \
	  "a UDP session (RFC 4787 REQ-5: at least 2 min)")                    \
	X(ICMP, "icmp", "icmp", 60,                                            \
	  "an ICMP echo session (RFC 5508 REQ-1: at least 60 s)")              \
	X(QUARANTINE, "quarantine", "quarantine", BPFMASQ_PORT_QUARANTINE_S,   \
	  "a released external port, which is not handed out again "           \
	  "meanwhile (RFC 6888 REQ-8)")

#define BPFMASQ_TIMEOUT_ENUM(name, opt, key, dflt, what) BPFMASQ_TIMEOUT_##name,
enum bpfmasq_timeout {
	BPFMASQ_TIMEOUTS(BPFMASQ_TIMEOUT_ENUM) BPFMASQ_TIMEOUT_MAX
};
#undef BPFMASQ_TIMEOUT_ENUM

/*
 * A mapping with no session is kept at least this long after its last
 * session was started, so the garbage collector never races a flow that is
 * just being set up on it (the data path stamps the mapping, then inserts
 * the session, within microseconds).
 */
#define BPFMASQ_MAPPING_GRACE_S 1

/* IP protocol numbers, as carried in endpoint.proto. */
#define BPFMASQ_PROTO_ICMP 1
#define BPFMASQ_PROTO_TCP 6
#define BPFMASQ_PROTO_UDP 17

/*
 * One transport endpoint. Key of the mapping table (inside endpoint),
 * key of the port-owner table (external endpoint) and value of the
 * port-owner table (inside endpoint). For ICMP echo, port is the query id.
 */
struct bpfmasq_endpoint {
	__be32 addr;
	__be16 port;
	__u8 proto;
	__u8 pad;
};
_Static_assert(sizeof(struct bpfmasq_endpoint) == 8, "endpoint layout");

/*
 * mapping.used_ms once the collector has claimed the mapping for release:
 * the data path no longer starts sessions on it.
 */
#define BPFMASQ_MAPPING_DYING 0xffffffffu

/*
 * Value of the mapping table: endpoint-independent (RFC 4787 REQ-1). The
 * external port always comes from the pool of (ext_addr, protocol).
 */
struct bpfmasq_mapping {
	__be32 ext_addr;
	__be16 ext_port;
	__u8 flags; /* BPFMASQ_MAP_* */
	__u8 pad;
	/*
	 * Boot-time milliseconds (modulo 2^32) when a session last started
	 * on it, or BPFMASQ_MAPPING_DYING. Compare-and-swap only: a session
	 * starts after swapping in its time, the collector releases after
	 * swapping the time it saw for DYING, so one of them loses.
	 */
	__u32 used_ms;
	/* Sessions opened from outside on it (endpoint-independent). */
	__u32 inbound;
};
_Static_assert(sizeof(struct bpfmasq_mapping) == 16, "mapping layout");

/* mapping.flags */
enum {
	/*
	 * The mapping of a forward's inside endpoint, on the forward's port
	 * (state FORWARD): made by the loader or the collector, never by a
	 * flow; released only once its forward is gone and no session is on
	 * it.
	 */
	BPFMASQ_MAP_FORWARD = 1 << 0,
};

/* What an external port is, as its entry in port_owners says. */
enum bpfmasq_port_state {
	BPFMASQ_PORT_FREE = 0, /* no entry: the port is in its pool's queue */
	BPFMASQ_PORT_OWNED = 1, /* a mapping holds it */
	BPFMASQ_PORT_QUARANTINED = 2, /* released; not handed out yet */
	/* A socket of the gateway's own had it when the pool was built. */
	BPFMASQ_PORT_RESERVED = 3,
	/*
	 * A port forward's (bpfmasq forward): names the forward's inside
	 * endpoint, and is in no queue.
	 */
	BPFMASQ_PORT_FORWARD = 4,
	/*
	 * A port forward's, taken while the port was free: it is still in
	 * its pool's queue once. A pop that meets it drops it from the
	 * queue (compare-and-swap to FORWARD).
	 */
	BPFMASQ_PORT_FORWARD_QUEUED = 5,
	/*
	 * Free, and in its pool's queue once, with an entry all the same: a
	 * FORWARD_QUEUED port whose forward went before a pop met it. The
	 * pop that meets it claims it by compare-and-swap; nothing else may
	 * delete it, since that pop could be under way.
	 */
	BPFMASQ_PORT_RETURNED = 6,
};

/* Does a port in @state name the inside endpoint that replies go to? */
static inline int bpfmasq_port_names(__u8 state)
{
	return state == BPFMASQ_PORT_OWNED || state == BPFMASQ_PORT_FORWARD ||
	       state == BPFMASQ_PORT_FORWARD_QUEUED;
}

/*
 * Value of the port-owner table (key: the external endpoint). An owned
 * port names the inside endpoint whose mapping holds it, a forwarded one
 * the forward's inside endpoint; a quarantined one
 * names no one and carries the time it was released; a reserved one names
 * no one.
 */
struct bpfmasq_owner {
	union {
		__be32 addr; /* OWNED, FORWARD*: the inside address */
		__u32 released_s; /* QUARANTINED: boot-time seconds */
	};
	__be16 port; /* OWNED, FORWARD*: the inside port (or echo id); else 0 */
	__u8 proto; /* OWNED, FORWARD*: the inside protocol; else 0 */
	__u8 state; /* enum bpfmasq_port_state */
};
_Static_assert(sizeof(struct bpfmasq_owner) == 8, "owner layout");

/* Key of the session table: one per (inside endpoint, remote endpoint). */
struct bpfmasq_session_key {
	__be32 inside_addr;
	__be32 remote_addr;
	__be16 inside_port;
	__be16 remote_port;
	__u8 proto;
	__u8 pad[3];
};
_Static_assert(sizeof(struct bpfmasq_session_key) == 16, "session key layout");

/*
 * TCP session states; the GC picks the timeout from the state: tcp-est for
 * ESTABLISHED, tcp-close for RST_SEEN and CLOSED, tcp-trans for the rest.
 */
enum bpfmasq_tcp_state {
	BPFMASQ_TCP_NONE = 0, /* not TCP */
	BPFMASQ_TCP_SYN_SENT,
	BPFMASQ_TCP_ESTABLISHED,
	BPFMASQ_TCP_FIN_SEEN,
	BPFMASQ_TCP_RST_SEEN,
	BPFMASQ_TCP_CLOSED, /* a FIN from each side */
	/* Opened by a segment that is no SYN (a flush): no answer yet. */
	BPFMASQ_TCP_PICKED_UP,
	BPFMASQ_TCP_STATE_MAX,
};

/* session.flags */
enum {
	BPFMASQ_SESS_FIN_OUT = 1 << 0, /* FIN seen from the inside host */
	BPFMASQ_SESS_FIN_IN = 1 << 1, /* FIN seen from the remote */
	BPFMASQ_SESS_INBOUND = 1 << 2, /* opened from outside (EIF filtering) */
	BPFMASQ_SESS_REPLIED = 1 << 3, /* the remote has answered */
	/*
	 * On a port that another inside endpoint's mapping owns: its pool
	 * had run dry (share.h). The owner's session key with this remote
	 * holds a LENT entry that names this session's inside endpoint.
	 */
	BPFMASQ_SESS_SHARED = 1 << 4,
	/*
	 * Not a flow: the owner of ext_port has lent it, for this remote
	 * only, to the SHARED session of inside endpoint lent_to. Replies
	 * from the remote go there; the owner itself cannot start a flow
	 * to this remote meanwhile.
	 */
	BPFMASQ_SESS_LENT = 1 << 5,
	/*
	 * Opened from outside through a port forward (INBOUND is set too):
	 * on the forward's port, whatever the inside endpoint's mapping, and
	 * not counted against --max-inbound.
	 */
	BPFMASQ_SESS_FORWARDED = 1 << 6,
	/*
	 * TCP: the last segment was a RST in the receiver's window but not
	 * at its left edge. The end host may have taken it (it had received
	 * more than it acknowledged) or challenged it; until another segment
	 * shows the connection alive, the session gives way under pressure.
	 */
	BPFMASQ_SESS_RST_UNSURE = 1 << 7,
};

/* tcp_peer.flags */
enum {
	/* ack and win are this side's own, from a segment it sent. */
	BPFMASQ_PEER_KNOWN = 1 << 0,
	/*
	 * ack is the one this side must send (the other side's SYN + 1) and
	 * the only sequence number it accepts; it has sent nothing yet.
	 */
	BPFMASQ_PEER_EXPECT = 1 << 1,
	/* Its SYN carried no window scale option: scaling is off. */
	BPFMASQ_PEER_NO_WSCALE = 1 << 2,
};

/* The most a window is scaled by (RFC 7323); also the guess when unknown. */
#define BPFMASQ_WSCALE_MAX 14

/*
 * What one side of a TCP connection has acknowledged and offered: the
 * sequence numbers it accepts from the other side, [ack, ack + (win <<
 * wscale)]. A RST or FIN from the other side moves the session's state only
 * when its sequence number lies in there.
 */
struct bpfmasq_tcp_peer {
	__u32 ack; /* host order: the latest acknowledgment number it sent */
	__u16 win; /* host order: the window field it sent, unscaled */
	__u8 wscale; /* shift of win: from the SYNs, or the maximum if unseen */
	__u8 flags; /* BPFMASQ_PEER_* */
};
_Static_assert(sizeof(struct bpfmasq_tcp_peer) == 8, "tcp peer layout");

/* Value of the session table. */
struct bpfmasq_session {
	__u64 last_ns; /* boot-time ns of the last packet */
	__u64 packets_out;
	__u64 bytes_out;
	__u64 packets_in;
	__u64 bytes_in;
	__be32 ext_addr;
	__be16 ext_port;
	__u8 tcp_state; /* enum bpfmasq_tcp_state */
	__u8 flags;
	/* Named, so that bpftool names it: what the session's kind keeps. */
	union {
		/* TCP only: [0] the inside host, [1] the remote. */
		struct bpfmasq_tcp_peer tcp[2];
		/* LENT: the inside endpoint of the session it is lent to. */
		struct bpfmasq_endpoint lent_to;
	} u;
};
_Static_assert(sizeof(struct bpfmasq_session) == 64, "session layout");

/*
 * May session @s, of protocol @proto, give way when a table is full (RFC
 * 6888 REQ-11)? One that never saw a reply, or a TCP connection closed or
 * reset (or maybe reset: RST_UNSURE); never an answered open one, nor a
 * LENT entry, which goes with the session it is lent to. The data path
 * (room.h) and the collector (gc.c) both ask this.
 */
static inline int bpfmasq_gives_way(__u8 proto, const struct bpfmasq_session *s)
{
	if (s->flags & BPFMASQ_SESS_LENT)
		return 0;
	if (!(s->flags & BPFMASQ_SESS_REPLIED))
		return 1;
	return proto == BPFMASQ_PROTO_TCP &&
	       (s->tcp_state == BPFMASQ_TCP_CLOSED ||
		s->tcp_state == BPFMASQ_TCP_RST_SEEN ||
		(s->flags & BPFMASQ_SESS_RST_UNSURE));
}

/* victim.flags */
enum {
	/*
	 * It was the only session on its mapping, which no session had
	 * started on for the grace period before the collector read the
	 * sessions: if the mapping's used_ms is still map_stamp, the
	 * mapping goes with it, and makes room in the mappings table too.
	 */
	BPFMASQ_VICTIM_LAST = 1 << 0,
};

/* An entry of evict_queue: a session that gives way, queued by the collector. */
struct bpfmasq_victim {
	struct bpfmasq_session_key key;
	__u32 map_stamp; /* its mapping's used_ms when queued */
	__u32 flags; /* BPFMASQ_VICTIM_* */
};
_Static_assert(sizeof(struct bpfmasq_victim) == 24, "victim layout");

/*
 * The address pool (--address, several or a range): ext_addrs says of
 * every address mappings may be on what it is, keyed by the address;
 * addr_pool (element 0) lists the ACTIVE ones, in the order new hosts
 * are spread over. The loader writes both (attach); the collector
 * deletes a DRAINING address once nothing is left on it. The data path
 * reads them: a host is paired with an ACTIVE address only, and one
 * that addr_pool lists is checked in ext_addrs first (the loader does
 * not write addr_pool atomically). A masquerade that follows the
 * interface's address has neither: config.ext_addr is its one address.
 */
struct bpfmasq_ext_addr {
	__u32 state; /* BPFMASQ_ADDR_* */
	__u32 idle_s; /* DRAINING: boot second it was first seen unused; 0 */
};
_Static_assert(sizeof(struct bpfmasq_ext_addr) == 8, "ext addr layout");

enum {
	BPFMASQ_ADDR_ACTIVE = 1, /* in addr_pool: new hosts may pair with it */
	/* Removed from the pool: what is on it stays until it ends. */
	BPFMASQ_ADDR_DRAINING = 2,
};

/* Addresses in the pool, at most; addresses known, with the draining. */
#define BPFMASQ_MAX_ADDRS 64
#define BPFMASQ_MAX_EXT_ADDRS (2 * BPFMASQ_MAX_ADDRS)
_Static_assert(BPFMASQ_MAX_POOLS >= 3 * BPFMASQ_MAX_EXT_ADDRS, "pools each");

struct bpfmasq_addr_pool {
	__u32 count; /* addrs[0..count) are ACTIVE */
	__u32 pad;
	__be32 addrs[BPFMASQ_MAX_ADDRS];
};
_Static_assert(sizeof(struct bpfmasq_addr_pool) == 264, "addr pool layout");

/* Key of the port-pool map of maps: one free-port queue per pair. */
struct bpfmasq_pool_key {
	__be32 addr;
	__u8 proto;
	__u8 pad[3];
};
_Static_assert(sizeof(struct bpfmasq_pool_key) == 8, "pool key layout");

/*
 * Port forwards (bpfmasq forward): one entry per external port, on
 * whatever address the instance translates to. Written by the CLI alone;
 * the data path reads it when a packet from outside would open a session
 * on a forwarded port, the collector when it installs and releases the
 * ports (state FORWARD) and mappings (BPFMASQ_MAP_FORWARD) behind it.
 */
struct bpfmasq_forward_key {
	__be16 port;
	__u8 proto; /* BPFMASQ_PROTO_TCP or _UDP */
	__u8 pad;
};
_Static_assert(sizeof(struct bpfmasq_forward_key) == 4, "forward key layout");

struct bpfmasq_forward {
	__be32 inside_addr;
	__be16 inside_port;
	__u8 from_len; /* --from: prefix length; 0 with from_addr 0: anyone */
	__u8 pad;
	__be32 from_addr;
};
_Static_assert(sizeof(struct bpfmasq_forward) == 12, "forward layout");

#define BPFMASQ_MAX_FORWARDS 16384

/*
 * Static NAT (bpfmasq static): one inside address is one outside address,
 * for every port and protocol, both ways, with no state: a packet from the
 * inside address that no session knows leaves with the outside address,
 * ports unchanged, and any packet to the outside address reaches the inside
 * one (no filtering: that is what 1:1 means). Two entries a static, one
 * keyed by each of its addresses (dir), each naming the other: the map is a
 * bijection. Written by the CLI alone, under the instance lock, both
 * entries or neither (BPF_NOEXIST, so two statics never overwrite one
 * another); read by the data path when config flag STATICS is set.
 */
enum bpfmasq_static_dir {
	BPFMASQ_STATIC_OUT = 0, /* keyed by the inside address */
	BPFMASQ_STATIC_IN = 1, /* keyed by the outside address */
};

struct bpfmasq_static_key {
	__be32 addr;
	__u8 dir; /* enum bpfmasq_static_dir */
	__u8 pad[3];
};
_Static_assert(sizeof(struct bpfmasq_static_key) == 8, "static key layout");

struct bpfmasq_static {
	__be32 addr; /* the other address of the pair */
	__u32 pad;
};
_Static_assert(sizeof(struct bpfmasq_static) == 8, "static layout");

/* Statics at most (two entries each). */
#define BPFMASQ_MAX_STATICS 4096

/*
 * An inside host (hosts map, keyed by its address): how many external
 * ports its mappings hold (a forward's mapping is not counted), for
 * --max-ports-per-host, and how often a new mapping was refused at the
 * limit. The data path adds a port when it makes a mapping and takes it
 * off when a mapping is released (ports.h); the collector deletes an
 * entry at 0 by swapping in DEAD first, so that a mapping made meanwhile
 * sees it and counts itself in a new entry instead.
 */
struct bpfmasq_host {
	union {
		struct {
			/* its mappings; with BPFMASQ_HOST_DEAD: being deleted */
			__u32 ports;
			/*
			 * The external address all its mappings are on (paired
			 * pooling, RFC 4787 REQ-2): changed only together with
			 * ports, by one compare-and-swap of word, and only while
			 * ports is 0. 0: none yet.
			 */
			__be32 ext_addr;
		};
		__u64 word; /* ports and ext_addr, for that swap */
	};
	/* Its flows' own sessions (not LENT, not opened from outside). */
	__u32 sessions;
	__u32 limited; /* new mappings or sessions refused at a limit */
	__u64 limited_ns; /* boot time of the last one refused; 0: none */
};
_Static_assert(sizeof(struct bpfmasq_host) == 24, "host layout");

#define BPFMASQ_HOST_DEAD 0x80000000u

/* Does a session with @flags count for its inside host (its own flow)? */
static inline int bpfmasq_host_counts(__u8 flags)
{
	return !(flags & (BPFMASQ_SESS_INBOUND | BPFMASQ_SESS_LENT));
}

/*
 * Element 0 of the limits array: what one inside host may hold at most
 * (RFC 6888 REQ-4) beside --max-ports-per-host (a load-time constant).
 * The loader writes it (attach); the data path reads it for each new
 * session.
 */
struct bpfmasq_limits {
	__u32 max_sessions_per_host; /* --max-sessions-per-host; 0: none */
	__u32 pad;
};
_Static_assert(sizeof(struct bpfmasq_limits) == 8, "limits layout");
#define BPFMASQ_MAX_HOSTS 65536

/*
 * Key of the fragment table: an inbound first fragment that was translated
 * leaves its inside address here for the fragments that follow it.
 */
struct bpfmasq_frag_key {
	__be32 saddr;
	__be32 daddr;
	__be16 id;
	__u8 proto;
	__u8 pad;
};
_Static_assert(sizeof(struct bpfmasq_frag_key) == 12, "frag key layout");

/*
 * Value of the fragment table. inside_addr is where the datagram's
 * fragments go: 0 while later fragments that came first are held for the
 * first one, the key's own daddr when the first one went to the gateway's
 * stack (and so do the rest). It changes from 0 once, by compare-and-swap:
 * the CPU that changes it tells the daemon (BPFMASQ_FRAG_EV_SETTLED),
 * which sends the held fragments on.
 */
struct bpfmasq_frag {
	__be32 inside_addr;
	__u32 pad;
	__u64 seen_ns; /* boot-time ns of the first fragment, or first held */
};
_Static_assert(sizeof(struct bpfmasq_frag) == 16, "frag layout");

/*
 * Records of the frag_events ring buffer, from the inbound data path to
 * the daemon, which holds early fragments (RFC 4787 REQ-14): a later
 * fragment from outside that came before its datagram's first one is
 * handed over whole and dropped on its hook; the datagram's settling
 * follows, and the daemon sends what it holds on, translated.
 */
enum {
	BPFMASQ_FRAG_EV_HELD =
		1, /* a fragment to hold, its IP packet in data */
	BPFMASQ_FRAG_EV_SETTLED, /* the datagram's inside_addr is known */
};

struct bpfmasq_frag_event {
	__u32 type; /* BPFMASQ_FRAG_EV_* */
	__u16 len; /* HELD: bytes of data, the IP total length */
	__u16 pad;
	struct bpfmasq_frag_key dgram;
	__be32 inside_addr; /* SETTLED: as in its frags entry */
	__u64 at_ns; /* boot time */
};
_Static_assert(sizeof(struct bpfmasq_frag_event) == 32, "frag event layout");

/* The largest IP packet held: a fragment of an Ethernet MTU. */
#define BPFMASQ_FRAG_HOLD_BYTES 1504

struct bpfmasq_frag_held_event {
	struct bpfmasq_frag_event ev;
	__u8 data[BPFMASQ_FRAG_HOLD_BYTES];
};
_Static_assert(sizeof(struct bpfmasq_frag_held_event) == 1536,
	       "frag held event layout");

/* The ring: room for about forty fragments the daemon has not read yet. */
#define BPFMASQ_FRAG_EVENTS_BYTES (64 * 1024)
/* How long the daemon holds a fragment for its first one, and how many. */
#define BPFMASQ_FRAG_HOLD_S 5
#define BPFMASQ_MAX_FRAG_HOLD 512

/*
 * Element 0 of the daemon map, written by `bpfmasq run` alone, at every
 * tick: the data path holds early fragments only while a daemon is there
 * to send them on, and leaves them to the gateway's stack otherwise.
 */
struct bpfmasq_daemon {
	__u64 alive_ns; /* boot time of its last tick; 0 once it exited */
	__u32 pid;
	__u32 pad;
};
_Static_assert(sizeof(struct bpfmasq_daemon) == 16, "daemon layout");

/* A daemon whose last tick is older than this is gone. */
#define BPFMASQ_DAEMON_ALIVE_S 3

/*
 * How long the fragments of a datagram may follow its first one: the
 * kernel's own reassembly timeout (net.ipv4.ipfrag_time). Past it, an IP id
 * used again by another datagram must not reach the first one's host.
 */
#define BPFMASQ_FRAG_TIMEOUT_S 30

#define BPFMASQ_MAX_FRAGS 8192

/* Key of the inside-prefix LPM trie. */
struct bpfmasq_lpm_key {
	__u32 prefixlen;
	__be32 addr;
};
_Static_assert(sizeof(struct bpfmasq_lpm_key) == 8, "lpm key layout");

enum bpfmasq_filtering {
	/* Address-and-port-dependent (RFC 4787 REQ-8 recommended default). */
	BPFMASQ_FILTER_DEPENDENT = 0,
	/* Endpoint-independent ("full cone"). */
	BPFMASQ_FILTER_INDEPENDENT = 1,
};

/*
 * What the data path reads: element 0 of the config array. The loader
 * writes it (attach, a flush, an address change); every CPU's programs
 * read it.
 */
struct bpfmasq_config {
	__be32 ext_addr; /* 0: no address, new outbound flows are dropped */
	__u8 filtering; /* enum bpfmasq_filtering */
	__u8 flags; /* BPFMASQ_CFG_* */
	__u16 max_inbound; /* per mapping, endpoint-independent filtering */
};
_Static_assert(sizeof(struct bpfmasq_config) == 8, "config layout");

/* config.flags */
enum {
	/*
	 * A re-attach is swapping the ingress hooks: for a moment both XDP
	 * and TC ingress may see a reply, and TC one that XDP translated.
	 */
	BPFMASQ_CFG_SWITCHING = 1 << 0,
	/*
	 * A flush is emptying the tables: no mapping or session is made
	 * until it is over. Left set by a flush that was killed, the next
	 * collector pass finishes it.
	 */
	BPFMASQ_CFG_FLUSHING = 1 << 1,
	/* Fast-path interfaces are set (fast_ifaces): replies may go there. */
	BPFMASQ_CFG_FAST_PATH = 1 << 2,
	/* The statics map has entries: new flows and stray packets look. */
	BPFMASQ_CFG_STATICS = 1 << 3,
	/*
	 * The addresses are a pool (--address): new hosts are paired with
	 * one of addr_pool, and mappings may be on any of ext_addrs.
	 * ext_addr is the first, the forwards' and hairpin's.
	 */
	BPFMASQ_CFG_POOL = 1 << 4,
};

/*
 * Value of fast_ifaces, keyed by ifindex: the interfaces of the fast path
 * (bpf/fast.h), a LAN one with bpfmasq_lan on its XDP hook, and the WAN.
 */
struct bpfmasq_fast_iface {
	__u8 role; /* BPFMASQ_FAST_* */
	__u8 pad[3];
};
_Static_assert(sizeof(struct bpfmasq_fast_iface) == 4, "fast iface layout");

enum {
	BPFMASQ_FAST_LAN = 1,
	BPFMASQ_FAST_WAN = 2,
};

/* LAN interfaces of the fast path, at most (--fast-path). */
#define BPFMASQ_MAX_FAST_LANS 16

/*
 * Value of hairpin_ifaces, keyed by ifindex: the --hairpin LAN interfaces,
 * with bpfmasq_hairpin on their TC ingress. No program reads it.
 */
struct bpfmasq_hairpin_iface {
	__u8 flags; /* BPFMASQ_HAIRPIN_* */
	__u8 pad[3];
};
_Static_assert(sizeof(struct bpfmasq_hairpin_iface) == 4,
	       "hairpin iface layout");

enum {
	/* The loader created the interface's clsact qdisc: it removes it. */
	BPFMASQ_HAIRPIN_OWN_CLSACT = 1 << 0,
};

/* LAN interfaces that hairpin, at most (--hairpin). */
#define BPFMASQ_MAX_HAIRPIN_LANS 16

/*
 * Version of the pinned layout: every change of a pinned map's key, value
 * or meaning moves it. 1 was the first release's (c5336bd: no instance
 * record, the loader's settings in the config); 2 split the record off the
 * config (fb0b2f2); 3 made every port come from the pool, with owner
 * states and quarantine, and gave sessions their TCP windows (7a22c7f, as
 * of ca0a230); 4 shares ports when a pool runs dry (SHARED and LENT
 * sessions), makes room at insert time (evict_queue) and gives the
 * counters room to grow (be145dc); 5 holds early fragments (frag_events,
 * daemon; a frags entry may wait with inside address 0) and adds
 * excluded_nets and fast_ifaces; 6 forwards ports (forwards, owner
 * states FORWARD, FORWARD_QUEUED and RETURNED, mapping flag FORWARD,
 * session flag FORWARDED) and hairpins (hairpin_ifaces); 7 adds static
 * NAT (statics, config flag STATICS) and per-host port limits (hosts, the
 * record's max_ports_per_host); 8 pools addresses (ext_addrs,
 * addr_pool, config flag POOL, the host's paired ext_addr, room for
 * BPFMASQ_MAX_POOLS pools) and limits the sessions per host (limits, the
 * host's count of sessions). migrate.c tells the pins of each apart and
 * brings them up to this one, a step a layout.
 */
#define BPFMASQ_LAYOUT_VERSION 8
/* The oldest layout attach takes over in place. */
#define BPFMASQ_LAYOUT_OLDEST 1

/*
 * External ports the pools hold: host order, inclusive; lo 0 marks an
 * unused slot. The default is both ranges that ip_local_port_range leaves
 * free, so that the gateway's own connections never pick a NAT port.
 */
struct bpfmasq_port_range {
	__u16 lo;
	__u16 hi;
};
#define BPFMASQ_MAX_PORT_RANGES 2

/* Where replies are translated back. */
enum bpfmasq_ingress {
	BPFMASQ_INGRESS_NATIVE, /* XDP in the driver */
	BPFMASQ_INGRESS_GENERIC, /* XDP on the skb */
	BPFMASQ_INGRESS_TC, /* TC ingress */
	BPFMASQ_INGRESS_MAX,
};

/* instance.flags */
enum {
	/* The loader created the clsact qdisc and removes it on detach. */
	BPFMASQ_INST_OWN_CLSACT = 1 << 0,
	/* ext_addr was given with --address: do not follow the interface. */
	BPFMASQ_INST_FIXED_ADDR = 1 << 1,
	/* --port-sharing off: a flow that finds its pool empty is dropped. */
	BPFMASQ_INST_NO_SHARING = 1 << 2,
};

/*
 * The loader's record of one instance: element 0 of the instance array,
 * which no program reads. Written by attach (and run, when it attaches
 * again), read by every command.
 */
struct bpfmasq_instance {
	__u32 layout_version; /* BPFMASQ_LAYOUT_VERSION */
	__u32 ifindex; /* of the WAN interface when attached */
	__u32 max_sessions; /* size of the sessions, mappings, owners maps */
	__u8 ingress; /* enum bpfmasq_ingress */
	__u8 flags; /* BPFMASQ_INST_* */
	__u16 max_ports_per_host; /* --max-ports-per-host; 0: no limit */
	__u32 timeouts[BPFMASQ_TIMEOUT_MAX]; /* seconds */
	struct bpfmasq_port_range ports[BPFMASQ_MAX_PORT_RANGES];
};
_Static_assert(sizeof(struct bpfmasq_instance) == 48, "instance layout");

/* What a hook does with a packet, as the reasons table below says. */
enum bpfmasq_verdict {
	BPFMASQ_VERDICT_PASS, /* on its way: translated, or left untouched */
	BPFMASQ_VERDICT_DROP,
	BPFMASQ_VERDICT_EVENT, /* not a verdict: an event counted on top */
};

/*
 * Per-CPU counters, summed by the CLI: X(name, counter name, verdict).
 * Every packet either program sees ends under exactly one reason (a row
 * whose verdict is PASS or DROP): the NAT code returns it, the entry point
 * counts it once and takes its hook's verdict from this row. EVENT rows
 * (new mappings and sessions, TCP RSTs and FINs outside the window and RSTs
 * in it but not at its edge, which are still translated, ICMP errors sent
 * or held back for a flow that found no port, flows on a shared port) are
 * counted on top. A fragment held for its first one is dropped on its hook;
 * the daemon sends it on later (fragments_sent_on; fragments_duplicate for
 * a second copy, discarded; fragments_expired when its first one never
 * came, fragments_hold_full when the daemon had no room: rows only the
 * daemon counts, in CPU 0's slot). A new reason is one row, added at the
 * end: a counter's index never changes, so the pinned counters of an older
 * layout keep their meaning.
 */
#define BPFMASQ_STATS(X)                                                       \
	X(TRANSLATED_OUT, "translated_out", PASS)                              \
	X(TRANSLATED_IN, "translated_in", PASS)                                \
	X(NEW_MAPPING, "new_mappings", EVENT)                                  \
	X(NEW_SESSION, "new_sessions", EVENT)                                  \
	X(TCP_OUT_OF_WINDOW, "tcp_out_of_window", EVENT)                       \
	X(PORT_POOL_EMPTY, "port_pool_empty", DROP)                            \
	X(TABLE_FULL, "table_full", DROP)                                      \
	X(INBOUND_LIMIT, "inbound_limit", DROP)                                \
	X(MAPPING_RELEASED, "mapping_released", DROP)                          \
	X(FLUSHING, "flushing", DROP)                                          \
	X(MALFORMED, "malformed", DROP)                                        \
	X(NOT_OURS, "not_ours", PASS)                                          \
	X(UNSOLICITED, "unsolicited", DROP)                                    \
	X(FILTERED, "filtered", PASS)                                          \
	X(NOT_INSIDE, "not_inside", PASS)                                      \
	X(NO_ADDRESS, "no_address", DROP)                                      \
	X(UNSUPPORTED, "unsupported", DROP)                                    \
	X(FRAGMENT, "fragment_unmatched", PASS)                                \
	X(NON_IPV4, "non_ipv4", PASS)                                          \
	X(REWRITE_FAILED, "rewrite_failed", DROP)                              \
	X(ICMP_UNREACH_SENT, "icmp_unreach_sent", EVENT)                       \
	X(ICMP_UNREACH_LIMITED, "icmp_unreach_limited", EVENT)                 \
	X(PORT_SHARED, "ports_shared", EVENT)                                  \
	X(PORT_LENT, "port_lent", DROP)                                        \
	X(EVICTED, "sessions_evicted", EVENT)                                  \
	X(FRAG_HELD, "fragment_held", DROP)                                    \
	X(FRAG_NOT_HELD, "fragment_not_held", DROP)                            \
	X(FRAG_CONFLICT, "fragment_conflict", DROP)                            \
	X(FRAG_SENT, "fragments_sent_on", EVENT)                               \
	X(FRAG_DUPLICATE, "fragments_duplicate", EVENT)                        \
	X(FRAG_EXPIRED, "fragments_expired", EVENT)                            \
	X(FRAG_HOLD_FULL, "fragments_hold_full", EVENT)                        \
	X(EXCLUDED, "excluded", PASS)                                          \
	X(FAST_OUT, "fast_path_out", EVENT)                                    \
	X(FAST_IN, "fast_path_in", EVENT)                                      \
	X(FAST_NO_NEIGH, "fast_path_no_neigh", EVENT)                          \
	X(FAST_TTL, "fast_path_ttl", EVENT)                                    \
	X(FAST_TOO_BIG, "fast_path_too_big", EVENT)                            \
	X(FAST_IP_OPTIONS, "fast_path_ip_options", EVENT)                      \
	X(FAST_FRAGMENT, "fast_path_fragment", EVENT)                          \
	X(FORWARD_OPEN, "forwarded_sessions", EVENT)                           \
	X(HAIRPINNED, "hairpinned", PASS)                                      \
	X(HAIRPIN_REFUSED, "hairpin_refused", DROP)                            \
	X(STATIC_OUT, "static_out", EVENT)                                     \
	X(STATIC_IN, "static_in", EVENT)                                       \
	X(HOST_PORT_LIMIT, "host_port_limit", DROP)                            \
	X(HOST_SESSION_LIMIT, "host_session_limit", DROP)                      \
	X(TCP_RST_INEXACT, "tcp_rst_inexact", EVENT)

/*
 * The ICMP host unreachable sent for a flow that found no port (unreach.h):
 * a token bucket per CPU, credit in nanoseconds of the rate's period.
 */
#define BPFMASQ_UNREACH_RATE 100 /* errors per second, per CPU */
#define BPFMASQ_UNREACH_BURST 100

struct bpfmasq_unreach_bucket {
	__u64 last_ns; /* monotonic ns of the last update */
	__u64 credit_ns; /* up to BURST periods; a period buys one error */
};
_Static_assert(sizeof(struct bpfmasq_unreach_bucket) == 16, "bucket layout");

#define BPFMASQ_STAT_ENUM(name, str, verdict) BPFMASQ_STAT_##name,
enum bpfmasq_stat { BPFMASQ_STATS(BPFMASQ_STAT_ENUM) BPFMASQ_STAT_MAX };
#undef BPFMASQ_STAT_ENUM

/*
 * Entries of the counter map: room for rows to come, so that a new row
 * does not change the pinned map (layout 3 had exactly its 22 rows).
 */
#define BPFMASQ_STAT_SLOTS 64
_Static_assert(BPFMASQ_STAT_MAX <= BPFMASQ_STAT_SLOTS, "counter slots");

/*
 * The collector's atomic steps: the daemon runs the control program
 * (bpf/ctl.bpf.c) with BPF_PROG_TEST_RUN and one of these, so that a check
 * and the change it allows happen in one run, which nothing can interrupt,
 * with the same compare-and-swap rules as the data path.
 */
enum bpfmasq_ctl_op {
	/* Delete session @session if its last_ns is still @stamp. */
	BPFMASQ_CTL_SESSION_EXPIRE,
	/*
	 * Release the mapping of inside endpoint @ep if its used_ms is
	 * still @stamp (or DYING): its port goes to quarantine.
	 */
	BPFMASQ_CTL_MAPPING_RELEASE,
	/*
	 * Free external port @ep if it is quarantined since @stamp: back to
	 * its pool.
	 */
	BPFMASQ_CTL_PORT_FREE,
	/* Quarantine port @ep if its owner still lacks the mapping. */
	BPFMASQ_CTL_OWNER_REPAIR,
	/*
	 * Free port @ep if it is still reserved: the gateway's socket that
	 * had it is gone.
	 */
	BPFMASQ_CTL_PORT_UNRESERVE,
	/*
	 * Take port @ep for the forward that names it (forwards): a free
	 * port, a RETURNED one, or one quarantined since @stamp >> 1 whose
	 * quarantine the caller found over; bit 0 of @stamp says the port is
	 * in a pool's range (so a free one is in its queue: FORWARD_QUEUED).
	 * Then the inside endpoint gets the forward's mapping if it has
	 * none. -EBUSY when the port is held otherwise.
	 */
	BPFMASQ_CTL_FORWARD_TAKE,
	/*
	 * Let forward port @ep go if no forward names its owner any more
	 * and no mapping is on it: FORWARD to quarantine (in range, bit 0 of
	 * @stamp) or deleted, FORWARD_QUEUED to RETURNED.
	 */
	BPFMASQ_CTL_FORWARD_DROP,
	/*
	 * Delete the entry of inside host @ep.addr if it counts no port:
	 * swapped to DEAD first. -EBUSY when it counts one.
	 */
	BPFMASQ_CTL_HOST_DROP,
	/*
	 * BPFMASQ_CTL_SESSION_EXPIRE for each of the first n entries of the
	 * program's batch (struct bpfmasq_ctl_batch, its .bss), each result
	 * in its entry: one run for many, each still atomic on its own.
	 */
	BPFMASQ_CTL_SESSION_EXPIRE_BATCH,
	BPFMASQ_CTL_OP_MAX,
};

struct bpfmasq_ctl_args {
	__u32 op; /* enum bpfmasq_ctl_op */
	__s32 ret; /* out: 0 done, -ENOENT gone, -EBUSY changed meanwhile */
	__u64 stamp;
	__u64 now_ns; /* the collector's clock (boot time) */
	union {
		struct bpfmasq_session_key session;
		struct bpfmasq_endpoint ep;
	};
};
_Static_assert(sizeof(struct bpfmasq_ctl_args) == 40, "ctl args layout");

/* One session expiry of a batch: delete @session if its last_ns is @stamp. */
struct bpfmasq_ctl_expire {
	struct bpfmasq_session_key session;
	__u64 stamp;
	__s32 ret; /* out, as bpfmasq_ctl_args.ret */
	__u32 pad;
};
_Static_assert(sizeof(struct bpfmasq_ctl_expire) == 32, "ctl expire layout");

/*
 * Expiries per run of BPFMASQ_CTL_SESSION_EXPIRE_BATCH: a million expired
 * sessions take 500 runs, not a million.
 */
#define BPFMASQ_CTL_BATCH 2048

/* The control program's .bss: the collector writes it, runs, reads it. */
struct bpfmasq_ctl_batch {
	__u32 n;
	__u32 pad;
	struct bpfmasq_ctl_expire e[BPFMASQ_CTL_BATCH];
};
_Static_assert(sizeof(struct bpfmasq_ctl_batch) == 8 + 32 * BPFMASQ_CTL_BATCH,
	       "ctl batch layout");

#endif /* BPFMASQ_H */
