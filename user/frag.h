/* SPDX-License-Identifier: GPL-2.0 */
/*
 * frag.h - the daemon's hold of early fragments (RFC 4787 REQ-14): what
 * the inbound data path hands over in frag_events waits here for its
 * datagram's first fragment, then goes on where that one went.
 */
#ifndef BPFMASQ_USER_FRAG_H
#define BPFMASQ_USER_FRAG_H

#include <stddef.h>
#include <stdint.h>
#include <linux/types.h>

#include "maps.h"

/* Send IP packet @pkt (@len bytes) to @dst; 0 or -errno. */
typedef int (*frag_send_fn)(void *ctx, const __u8 *pkt, size_t len, __be32 dst);

/* What the hold has done since it was last asked (frag_hold_take). */
struct frag_counts {
	uint64_t sent; /* BPFMASQ_STAT_FRAG_SENT */
	uint64_t duplicate; /* BPFMASQ_STAT_FRAG_DUPLICATE */
	uint64_t expired; /* BPFMASQ_STAT_FRAG_EXPIRED */
	uint64_t full; /* BPFMASQ_STAT_FRAG_HOLD_FULL */
};

struct frag_hold;

/* A hold that sends through @send; NULL when out of memory. */
struct frag_hold *frag_hold_new(frag_send_fn send, void *ctx);
void frag_hold_free(struct frag_hold *h);
/* One record of frag_events (@len bytes), read at @now (boot ns). */
void frag_hold_event(struct frag_hold *h, const void *rec, size_t len,
		     uint64_t now);
/* Drop what has waited BPFMASQ_FRAG_HOLD_S by @now. */
void frag_hold_expire(struct frag_hold *h, uint64_t now);
/* Fragments held now. */
unsigned int frag_hold_count(const struct frag_hold *h);
/* The counts since the last call, which are then cleared. */
struct frag_counts frag_hold_take(struct frag_hold *h);

/*
 * The daemon's side: frag_events of @m read into a hold that sends
 * through a raw socket. -errno with a message.
 */
struct frag_reader;
int frag_reader_open(struct frag_reader **out, const struct masq_maps *m);
/* The descriptor to poll for records. */
int frag_reader_fd(const struct frag_reader *r);
/*
 * Read what has come, drop what waited too long, and add the counts to
 * the daemon's rows of the counters map.
 */
void frag_reader_poll(struct frag_reader *r, const struct masq_maps *m);
void frag_reader_close(struct frag_reader *r);

/* The daemon's heartbeat: @now (boot ns), or 0 as it exits. */
int daemon_alive_write(const struct masq_maps *m, uint64_t now);
/*
 * The pid of the daemon whose heartbeat is live, as the data path sees it
 * (then it holds early fragments); 0 if none.
 */
__u32 daemon_alive_pid(const struct masq_maps *m);

#endif /* BPFMASQ_USER_FRAG_H */
