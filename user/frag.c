// SPDX-License-Identifier: GPL-2.0
/*
 * frag.c - early fragments, the daemon's side. The inbound data path hands
 * a later fragment that came before its datagram's first one over whole
 * (BPFMASQ_FRAG_EV_HELD) and drops it; when a first fragment settles where
 * its datagram goes, the CPU that settled it says so
 * (BPFMASQ_FRAG_EV_SETTLED). Records of several CPUs come in any order, so
 * the hold remembers settled datagrams too, for fragments handed over just
 * after the settling. What is sent on leaves through a raw socket as the
 * kernel would have forwarded it: to the inside host, its destination
 * rewritten and its TTL one less; or to the gateway itself, unchanged.
 *
 * The raw socket keeps the IP id (it chooses one only for an id of 0, which
 * a fragmented datagram has once in 65536): so the receiver reassembles the
 * held fragments with the ones the data path translated.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <sys/socket.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "clock.h"
#include "frag.h"
#include "log.h"

/* Settled datagrams remembered, for fragments handed over after it. */
#define SETTLED_MAX 256

struct held {
	struct bpfmasq_frag_key dgram;
	__u16 offset; /* in 8-byte units */
	__u16 len;
	uint64_t at_ns; /* 0: a free slot */
	__u8 data[BPFMASQ_FRAG_HOLD_BYTES];
};

struct settled {
	struct bpfmasq_frag_key dgram;
	__be32 inside;
	uint64_t at_ns; /* 0: a free slot */
};

struct frag_hold {
	frag_send_fn send;
	void *ctx;
	unsigned int n;
	struct frag_counts counts;
	struct settled settled[SETTLED_MAX];
	struct held held[BPFMASQ_MAX_FRAG_HOLD];
};

struct frag_hold *frag_hold_new(frag_send_fn send, void *ctx)
{
	struct frag_hold *h = calloc(1, sizeof(*h));

	if (h) {
		h->send = send;
		h->ctx = ctx;
	}
	return h;
}

void frag_hold_free(struct frag_hold *h)
{
	free(h);
}

static bool dgram_eq(const struct bpfmasq_frag_key *a,
		     const struct bpfmasq_frag_key *b)
{
	return a->saddr == b->saddr && a->daddr == b->daddr && a->id == b->id &&
	       a->proto == b->proto;
}

static bool too_old(uint64_t at_ns, uint64_t now)
{
	return now - at_ns > BPFMASQ_FRAG_HOLD_S * NS_PER_S;
}

static __u16 ip_csum(const __u8 *hdr, size_t len)
{
	uint32_t sum = 0;
	size_t i;

	for (i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)hdr[i] << 8 | hdr[i + 1];
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return htons(~sum & 0xffff);
}

/* Send held packet @data on, to @inside, as its datagram was settled. */
static void send_on(struct frag_hold *h, const struct bpfmasq_frag_key *dgram,
		    const __u8 *data, __u16 len, __be32 inside)
{
	__u8 pkt[BPFMASQ_FRAG_HOLD_BYTES];
	struct iphdr *ip = (struct iphdr *)pkt;
	int err;

	memcpy(pkt, data, len);
	if (inside != dgram->daddr) {
		/* Forwarded: the hop the kernel would have counted. */
		if (ip->ttl <= 1) {
			h->counts.expired++;
			return;
		}
		ip->ttl--;
		ip->daddr = inside;
		ip->check = 0;
		ip->check = ip_csum(pkt, ip->ihl * 4);
	}
	err = h->send(h->ctx, pkt, len, inside);
	if (err) {
		pr_debug("cannot send a held fragment on: %s", strerror(-err));
		return;
	}
	h->counts.sent++;
}

static const struct settled *settled_find(const struct frag_hold *h,
					  const struct bpfmasq_frag_key *dgram,
					  uint64_t now)
{
	size_t i;

	for (i = 0; i < SETTLED_MAX; i++)
		if (h->settled[i].at_ns && !too_old(h->settled[i].at_ns, now) &&
		    dgram_eq(&h->settled[i].dgram, dgram))
			return &h->settled[i];
	return NULL;
}

/* Remember a settling, in a free slot or the oldest one's. */
static void settled_add(struct frag_hold *h,
			const struct bpfmasq_frag_event *ev)
{
	struct settled *s = &h->settled[0];
	size_t i;

	for (i = 0; i < SETTLED_MAX && s->at_ns; i++)
		if (h->settled[i].at_ns < s->at_ns)
			s = &h->settled[i];
	*s = (struct settled){ ev->dgram, ev->inside_addr, ev->at_ns };
}

static void on_held(struct frag_hold *h, const struct bpfmasq_frag_event *ev,
		    const __u8 *data, uint64_t now)
{
	const struct settled *s = settled_find(h, &ev->dgram, now);
	__u16 offset =
		ntohs(((const struct iphdr *)data)->frag_off) & IP_OFFMASK;
	struct held *free_slot = NULL;
	size_t i;

	if (s) {
		send_on(h, &ev->dgram, data, ev->len, s->inside);
		return;
	}
	for (i = 0; i < BPFMASQ_MAX_FRAG_HOLD; i++) {
		struct held *e = &h->held[i];

		if (!e->at_ns) {
			if (!free_slot)
				free_slot = e;
			continue;
		}
		/* A copy: the first one held is what goes on. */
		if (e->offset == offset && dgram_eq(&e->dgram, &ev->dgram)) {
			h->counts.duplicate++;
			return;
		}
	}
	if (!free_slot) {
		h->counts.full++;
		return;
	}
	free_slot->dgram = ev->dgram;
	free_slot->offset = offset;
	free_slot->len = ev->len;
	free_slot->at_ns = ev->at_ns ? ev->at_ns : now;
	memcpy(free_slot->data, data, ev->len);
	h->n++;
}

static void on_settled(struct frag_hold *h, const struct bpfmasq_frag_event *ev)
{
	size_t i;

	settled_add(h, ev);
	for (i = 0; i < BPFMASQ_MAX_FRAG_HOLD && h->n; i++) {
		struct held *e = &h->held[i];

		if (!e->at_ns || !dgram_eq(&e->dgram, &ev->dgram))
			continue;
		send_on(h, &e->dgram, e->data, e->len, ev->inside_addr);
		e->at_ns = 0;
		h->n--;
	}
}

void frag_hold_event(struct frag_hold *h, const void *rec, size_t len,
		     uint64_t now)
{
	const struct bpfmasq_frag_held_event *he = rec;
	const struct bpfmasq_frag_event *ev = rec;

	if (len < sizeof(*ev))
		return;
	if (ev->type == BPFMASQ_FRAG_EV_SETTLED) {
		on_settled(h, ev);
		return;
	}
	if (ev->type != BPFMASQ_FRAG_EV_HELD || len < sizeof(*he) ||
	    ev->len < sizeof(struct iphdr) || ev->len > sizeof(he->data))
		return;
	on_held(h, ev, he->data, now);
}

void frag_hold_expire(struct frag_hold *h, uint64_t now)
{
	size_t i;

	for (i = 0; i < BPFMASQ_MAX_FRAG_HOLD && h->n; i++)
		if (h->held[i].at_ns && too_old(h->held[i].at_ns, now)) {
			h->held[i].at_ns = 0;
			h->n--;
			h->counts.expired++;
		}
	for (i = 0; i < SETTLED_MAX; i++)
		if (h->settled[i].at_ns && too_old(h->settled[i].at_ns, now))
			h->settled[i].at_ns = 0;
}

unsigned int frag_hold_count(const struct frag_hold *h)
{
	return h->n;
}

struct frag_counts frag_hold_take(struct frag_hold *h)
{
	struct frag_counts c = h->counts;

	memset(&h->counts, 0, sizeof(h->counts));
	return c;
}

struct frag_reader {
	struct frag_hold *hold;
	struct ring_buffer *rb;
	int sock;
	uint64_t now; /* of the read under way */
};

static int raw_send(void *ctx, const __u8 *pkt, size_t len, __be32 dst)
{
	const struct frag_reader *r = ctx;
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_addr.s_addr = dst };

	if (sendto(r->sock, pkt, len, 0, (struct sockaddr *)&sa, sizeof(sa)) <
	    0)
		return -errno;
	return 0;
}

static int on_record(void *ctx, void *data, size_t size)
{
	struct frag_reader *r = ctx;

	frag_hold_event(r->hold, data, size, r->now);
	return 0;
}

int frag_reader_open(struct frag_reader **out, const struct masq_maps *m)
{
	struct frag_reader *r = calloc(1, sizeof(*r));
	int err;

	if (!r)
		return -ENOMEM;
	r->sock = socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_RAW);
	if (r->sock < 0) {
		err = -errno;
		pr_err("cannot open a raw socket for early fragments: %s",
		       strerror(errno));
		goto fail;
	}
	r->hold = frag_hold_new(raw_send, r);
	if (!r->hold) {
		err = -ENOMEM;
		goto fail_sock;
	}
	r->rb = ring_buffer__new(m->frag_events, on_record, r, NULL);
	if (!r->rb) {
		err = -errno;
		pr_err("cannot read the frag_events ring: %s", strerror(errno));
		goto fail_hold;
	}
	*out = r;
	return 0;
fail_hold:
	frag_hold_free(r->hold);
fail_sock:
	close(r->sock);
fail:
	free(r);
	return err;
}

int frag_reader_fd(const struct frag_reader *r)
{
	return ring_buffer__epoll_fd(r->rb);
}

void frag_reader_poll(struct frag_reader *r, const struct masq_maps *m)
{
	struct frag_counts c;

	r->now = now_boot_ns();
	ring_buffer__consume(r->rb);
	frag_hold_expire(r->hold, r->now);
	c = frag_hold_take(r->hold);
	if (c.sent)
		stat_add(m, BPFMASQ_STAT_FRAG_SENT, c.sent);
	if (c.duplicate)
		stat_add(m, BPFMASQ_STAT_FRAG_DUPLICATE, c.duplicate);
	if (c.expired)
		stat_add(m, BPFMASQ_STAT_FRAG_EXPIRED, c.expired);
	if (c.full)
		stat_add(m, BPFMASQ_STAT_FRAG_HOLD_FULL, c.full);
}

void frag_reader_close(struct frag_reader *r)
{
	if (!r)
		return;
	ring_buffer__free(r->rb);
	frag_hold_free(r->hold);
	close(r->sock);
	free(r);
}

int daemon_alive_write(const struct masq_maps *m, uint64_t now)
{
	struct bpfmasq_daemon d = { .alive_ns = now, .pid = getpid() };
	__u32 zero = 0;

	if (bpf_map_update_elem(m->daemon, &zero, &d, BPF_ANY))
		return -errno;
	return 0;
}

__u32 daemon_alive_pid(const struct masq_maps *m)
{
	struct bpfmasq_daemon d;
	__u32 zero = 0;

	if (bpf_map_lookup_elem(m->daemon, &zero, &d) || !d.alive_ns ||
	    now_boot_ns() - d.alive_ns > BPFMASQ_DAEMON_ALIVE_S * NS_PER_S)
		return 0;
	return d.pid;
}
