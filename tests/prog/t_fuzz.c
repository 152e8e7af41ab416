// SPDX-License-Identifier: GPL-2.0
/*
 * t_fuzz.c - random packets from a small universe of hosts, ports and
 * remotes (so that endpoints collide and mappings are reused), some of
 * them mutated into invalid ones (fuzz_gen.c), with collector passes and
 * flushes
 * between them; each result checked against the reference model
 * (model.c), the maps against the model at checkpoints, and the state
 * checker run at a few. FUZZ_SEED replays a run, FUZZ_ITERS sets its
 * length (make fuzz: a long one). A run whose pool runs dry replays only
 * up to the first port shared: the data path picks that port at random.
 */
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
#include <bpf/bpf.h>

#include "check.h"
#include "fuzz.h"

/* In make test, a few seconds for all; make fuzz sets FUZZ_ITERS. */
#define DEFAULT_ITERS 10000
/*
 * Tables well above what the model holds before it flushes (never under
 * pressure), small enough to be read fast after every invalid packet.
 */
#define TABLE 16384
#define CHECKPOINT_EVERY 256
#define CHECKER_EVERY 4000
#define NS_PER_S 1000000000ull

static const __u8 stat_verdicts[] = {
#define STAT_VERDICT(name, str, verdict) BPFMASQ_VERDICT_##verdict,
	BPFMASQ_STATS(STAT_VERDICT)
#undef STAT_VERDICT
};

/* What one packet did to the counters: its reason, and the events. */
struct outcome {
	int verdict; /* the program's */
	bool pass, drop;
	int reason; /* -1 unless exactly one reason counted it */
	long new_mappings, new_sessions, shared;
	__u16 port; /* for a new mapping or a shared one: the one chosen */
};

static bool read_outcome(struct fuzz *z, bool outbound, struct outcome *o)
{
	uint64_t now[BPFMASQ_STAT_MAX];
	int id, reasons = 0;

	if (!ASSERT_OK(stats_read(&z->fx.maps, now), "reading the counters"))
		return false;
	o->pass = o->verdict == (outbound ? TC_OK : XDP_VERDICT_PASS);
	o->drop = o->verdict == (outbound ? TC_SHOT : XDP_VERDICT_DROP);
	o->reason = -1;
	for (id = 0; id < BPFMASQ_STAT_MAX; id++) {
		if (now[id] != z->stats[id] &&
		    stat_verdicts[id] != BPFMASQ_VERDICT_EVENT) {
			o->reason = now[id] - z->stats[id] == 1 ? id : -1;
			reasons++;
		}
	}
	if (reasons != 1)
		o->reason = -1;
	o->new_mappings = now[BPFMASQ_STAT_NEW_MAPPING] -
			  z->stats[BPFMASQ_STAT_NEW_MAPPING];
	o->new_sessions = now[BPFMASQ_STAT_NEW_SESSION] -
			  z->stats[BPFMASQ_STAT_NEW_SESSION];
	o->shared = now[BPFMASQ_STAT_PORT_SHARED] -
		    z->stats[BPFMASQ_STAT_PORT_SHARED];
	memcpy(z->stats, now, sizeof(now));
	return ASSERT_TRUE(o->reason >= 0, "one reason counted the packet");
}

static __u16 get16(const __u8 *b)
{
	return (__u16)b[0] << 8 | b[1];
}

/* The checksum at @off was updated for @n words going from @old to @new. */
static bool csum_follows(const struct frame *in, const struct frame *out,
			 __u32 off, const __u8 *old, const __u8 *new, int n,
			 const char *what)
{
	long d = (long)get16(in->data + off) - get16(out->data + off);
	int i;

	for (i = 0; i < n; i++)
		d -= (long)get16(new + 2 * i) - get16(old + 2 * i);
	return ASSERT_EQ(((d % 0xffff) + 0xffff) % 0xffff, 0, what);
}

/* assert_csums()'s test, without the failure: did @f verify before? */
static bool csums_ok(struct frame *f)
{
	struct iphdr *iph = frame_ip(f);
	int off;
	__u16 c;

	if (f->len < ETH_HLEN + sizeof(*iph) || iph->ihl < 5 ||
	    f->len < ETH_HLEN + iph->ihl * 4u ||
	    f->len < ETH_HLEN + (__u32)ntohs(iph->tot_len) ||
	    ntohs(iph->check) != ip_csum_compute(iph))
		return false;
	off = l4_csum_offset(iph->protocol);
	if (off < 0 || (ntohs(iph->frag_off) & (PKT_IP_MF | PKT_IP_OFFSET)))
		return true;
	c = get16((__u8 *)frame_l4(f) + off);
	return c == l4_csum_compute(iph->saddr, iph->daddr, iph->protocol,
				    frame_l4(f), frame_l4_len(f));
}

static bool check_csums(struct frame *in, struct frame *out,
			const struct view *v, const struct expect *e,
			const __u8 *old)
{
	const __u8 *new = out->data + (e->outbound ? 26 : 30);
	__u32 l4 = v->l4_off + l4_csum_offset(v->proto);
	__u32 port = v->l4_off + (v->proto == IPPROTO_ICMP ? 4
				  : e->outbound		   ? 0
							   : 2);
	__u8 o[6], n[6];
	bool icmp = v->proto == IPPROTO_ICMP, ok;

	ok = csum_follows(in, out, ETH_HLEN + 10, old, new, 2, "IP checksum");
	if (!e->rewrite_port)
		return ok;
	memcpy(o, old, 4);
	memcpy(o + 4, in->data + port, 2);
	memcpy(n, new, 4);
	memcpy(n + 4, out->data + port, 2);
	if (v->proto == IPPROTO_UDP && !get16(in->data + l4))
		ok &= ASSERT_EQ(get16(out->data + l4), 0,
				"absent UDP checksum");
	else
		ok &= csum_follows(in, out, l4, icmp ? o + 4 : o,
				   icmp ? n + 4 : n, icmp ? 1 : 3,
				   "L4 checksum");
	if (csums_ok(in))
		ok &= ASSERT_CSUMS(out, "translated");
	return ok;
}

/* @out is @in with the address and port @e says, checksums that follow. */
static bool check_translation(struct fuzz *z, struct frame *in,
			      struct frame *out, const struct view *v,
			      const struct expect *e, struct outcome *o)
{
	__u32 addr = ETH_HLEN + (e->outbound ? 12 : 16), l4;
	__u32 port = v->l4_off + (v->proto == IPPROTO_ICMP ? 4
				  : e->outbound		   ? 0
							   : 2);
	struct frame exp = *in;
	__be16 p;

	memcpy(exp.data + addr, &e->addr, 4);
	memcpy(exp.data + ETH_HLEN + 10, out->data + ETH_HLEN + 10, 2);
	if (e->rewrite_port) {
		o->port = e->new_port || e->shared ? get16(out->data + port)
						   : e->port;
		if (e->shared &&
		    !ASSERT_TRUE(model_sharable(&z->m, v, e, o->port),
				 "the shared port: another's, with no flow to "
				 "the remote"))
			return false;
		if (e->new_port &&
		    (!ASSERT_IN_RANGE(o->port, z->m.port_min, z->m.port_max,
				      "new external port") ||
		     !ASSERT_EQ(model_owner(&z->m, v->proto, o->port), -1,
				"the mapping holding the new port") ||
		     !ASSERT_TRUE(
			     !model_quarantined(&z->m, v->proto, o->port, NULL),
			     "the new port is not in quarantine")))
			return false;
		p = htons(o->port);
		memcpy(exp.data + port, &p, 2);
		l4 = v->l4_off + l4_csum_offset(v->proto);
		memcpy(exp.data + l4, out->data + l4, 2);
	}
	return ASSERT_FRAME_EQ(out, &exp, "translated frame") &&
	       check_csums(in, out, v, e, in->data + addr);
}

/*
 * Entries of a hash map, key by key: with few entries in a big table,
 * cheaper than map_count()'s batches, which lock every bucket.
 */
static long count_keys(int fd)
{
	__u8 key[64], next[64];
	long n = 0;

	if (bpf_map_get_next_key(fd, NULL, next))
		return 0;
	do {
		memcpy(key, next, sizeof(key));
		n++;
	} while (!bpf_map_get_next_key(fd, key, next));
	return n;
}

/* Invalid packets, and those the model does not follow, leave no state. */
static bool check_no_state(struct fuzz *z)
{
	return ASSERT_EQ(count_keys(z->fx.maps.mappings), z->m.nmaps,
			 "mappings entries") &&
	       ASSERT_EQ(count_keys(z->fx.maps.port_owners),
			 z->m.nmaps + z->m.nquar[0] + z->m.nquar[1] +
				 z->m.nquar[2],
			 "port_owners entries (owned and quarantined)") &&
	       ASSERT_EQ(count_keys(z->fx.maps.sessions), z->m.nsess,
			 "sessions entries");
}

static bool check_outcome(struct fuzz *z, struct frame *in, struct frame *out,
			  const struct view *v, struct expect *e,
			  struct outcome *o)
{
	bool pass;

	if (e->may_share && o->reason == BPFMASQ_STAT_TRANSLATED_OUT)
		model_expect_shared(e);
	pass = e->act == EXP_TRANSLATE || e->act == EXP_PASS;
	if (!ASSERT_EQ(o->shared, e->shared, "flows on a shared port"))
		return false;
	if (e->act == EXP_ANY || e->act == EXP_DROP)
		e->new_mappings = e->new_sessions = 0;
	if (!ASSERT_EQ(o->new_mappings, e->new_mappings, "new mappings") ||
	    !ASSERT_EQ(o->new_sessions, e->new_sessions, "new sessions"))
		return false;
	if (e->act == EXP_ANY)
		return ASSERT_TRUE(o->pass || o->drop, "a verdict") &&
		       check_no_state(z);
	if (e->reasons && !ASSERT_TRUE(e->reasons & REASON(o->reason),
				       "the reason is one the model expects"))
		return false;
	if (!ASSERT_EQ(o->pass, pass, "passed") ||
	    !ASSERT_EQ(o->drop, !pass, "dropped"))
		return false;
	if (v->cls == V_MALFORMED && !check_no_state(z))
		return false;
	if (e->act == EXP_PASS)
		return ASSERT_FRAME_EQ(out, in, "passed frame");
	if (e->act == EXP_TRANSLATE)
		return check_translation(z, in, out, v, e, o);
	return true;
}

static void hexdump(const char *what, const struct frame *f)
{
	__u32 i;

	printf("    %s (%u bytes):", what, f->len);
	for (i = 0; i < f->len && i < 96; i++)
		printf("%s%02x", i % 16 ? " " : "\n      ", f->data[i]);
	printf("\n");
}

static const char *ip_str(__be32 a, char *buf)
{
	return inet_ntop(AF_INET, &a, buf, INET_ADDRSTRLEN);
}

static void dump_case(const struct frame *in, const struct frame *out,
		      const struct view *v, const struct expect *e,
		      const struct outcome *o)
{
	static const char *const acts[] = { "translate", "pass", "drop",
					    "anything" };
	char a[INET_ADDRSTRLEN], b[INET_ADDRSTRLEN];

	printf("    packet: %s, %s proto %u %s:%u > %s:%u tcp flags 0x%02x\n",
	       e->outbound ? "outbound" : "inbound", view_class_name(v->cls),
	       v->proto, ip_str(v->saddr, a), v->sport, ip_str(v->daddr, b),
	       v->dport, v->tcp_flags);
	printf("    expected: %s (%s)", acts[e->act], e->why);
	if (e->act == EXP_TRANSLATE)
		printf(" to %s:%s%u", ip_str(e->addr, a),
		       e->new_port ? "new port, not "
		       : e->shared ? "a shared port, not "
				   : "",
		       e->rewrite_port ? e->port : 0);
	printf("\n    actual: verdict %d, counted %s, %ld new mappings, "
	       "%ld new sessions\n",
	       o->verdict, o->reason >= 0 ? stat_names[o->reason] : "?",
	       o->new_mappings, o->new_sessions);
	hexdump("in", in);
	hexdump("out", out);
}

static bool fuzz_packet(struct fuzz *z)
{
	bool outbound = chance(z, 50);
	struct outcome o = {};
	struct frame in, out;
	struct expect e;
	struct view v;
	uint64_t now;

	fuzz_gen_frame(z, outbound, &in);
	view_parse(&in, &v);
	z->count[outbound][v.cls]++;
	now = now_boot_ns();
	model_expect(&z->m, outbound, &v, now, &e);
	test_ctx("packet %ld", z->n);
	o.verdict = outbound ? fx_egress(&z->fx, &in, &out)
			     : fx_ingress(&z->fx, &in, &out);
	if (!read_outcome(z, outbound, &o) ||
	    !check_outcome(z, &in, &out, &v, &e, &o)) {
		dump_case(&in, &out, &v, &e, &o);
		return false;
	}
	z->translated += e.act == EXP_TRANSLATE;
	z->dropped += o.drop;
	z->pool_empty += o.reason == BPFMASQ_STAT_PORT_POOL_EMPTY;
	z->shared += e.shared;
	z->to_borrower += e.to_borrower;
	z->lent_drops += o.reason == BPFMASQ_STAT_PORT_LENT;
	z->cross_port += e.cross_port;
	z->to_quarantined += !outbound && v.daddr == EXT_ADDR &&
			     (v.cls == V_PORTS || v.cls == V_ECHO_REPLY) &&
			     model_quarantined(&z->m, v.proto, v.dport, NULL);
	model_commit(&z->m, &v, &e, o.port, now);
	return true;
}

static void fuzz_init(struct fuzz *z, uint64_t seed, const struct fx_opts *opts)
{
	const char *c;

	z->rng = seed;
	for (c = cur_test; *c; c++)
		z->rng = z->rng * 31 + *c;
	fuzz_gen_init(z);
	model_init(&z->m, EXT_ADDR,
		   opts && opts->port_min ? opts->port_min : PORT_MIN,
		   opts && opts->port_max ? opts->port_max : PORT_MAX,
		   opts && opts->filtering == BPFMASQ_FILTER_INDEPENDENT);
	stats_read(&z->fx.maps, z->stats);
}

static bool fuzz_checkpoint(struct fuzz *z)
{
	test_ctx("checkpoint after packet %ld", z->n);
	return model_matches_maps(&z->m, &z->fx);
}

static const char *fuzz_summary(struct fuzz *z)
{
	long mal = z->count[0][V_MALFORMED] + z->count[1][V_MALFORMED];

	snprintf(z->summary, sizeof(z->summary),
		 "%ld translated, %ld dropped (%ld malformed, %ld for want of "
		 "a port), %ld to quarantined ports; %ld ports quarantined, "
		 "%ld freed; %ld flows on shared ports, %ld replies to their "
		 "borrowers, %ld dropped as lent, %ld kept out of a port not "
		 "their flow's",
		 z->translated, z->dropped, mal, z->pool_empty,
		 z->to_quarantined, z->m.n_released, z->m.n_freed, z->shared,
		 z->to_borrower, z->lent_drops, z->cross_port);
	return z->summary;
}

static uint64_t fuzz_seed(void)
{
	static uint64_t seed;
	const char *env = getenv("FUZZ_SEED");

	if (!seed)
		seed = env ? strtoull(env, NULL, 0)
			   : ((uint64_t)time(NULL) << 20 ^ getpid()) | 1;
	return seed;
}

static long fuzz_iters(double share)
{
	const char *env = getenv("FUZZ_ITERS");
	long n = env ? atol(env) : DEFAULT_ITERS;

	return n * share > 1 ? (long)(n * share) : 1;
}

/* A collector pass at @at (boot-time ns), then the model follows it. */
static bool fuzz_gc_at(struct fuzz *z, uint64_t now, uint64_t at)
{
	struct gc_result res;

	test_ctx("gc pass %llus ahead, after packet %ld",
		 (unsigned long long)((at - now) / NS_PER_S), z->n);
	if (!ASSERT_OK(gc_pass(&z->fx.maps, at, &res), "gc_pass"))
		return false;
	return model_follow_gc(&z->m, &z->fx, now, at);
}

/* A collector pass at @ahead_s from now. */
static bool fuzz_gc(struct fuzz *z, uint64_t ahead_s)
{
	uint64_t now = now_boot_ns();

	return fuzz_gc_at(z, now, now + ahead_s * NS_PER_S);
}

/*
 * A collector pass as the quarantine of a port ends: in the second before
 * it may be freed, or in the one it may.
 */
static bool fuzz_gc_quarantine_end(struct fuzz *z)
{
	uint64_t now = now_boot_ns(), at;
	__u32 since;
	__u16 port;
	__u8 proto;

	if (!model_pick_quarantined(&z->m, fuzz_rand(z), &proto, &port) ||
	    !model_quarantined(&z->m, proto, port, &since))
		return fuzz_gc(z, 0);
	at = ((uint64_t)since + BPFMASQ_PORT_QUARANTINE_S - chance(z, 50)) *
		     NS_PER_S +
	     fuzz_rand(z) % NS_PER_S;
	return fuzz_gc_at(z, now, at > now ? at : now);
}

static bool fuzz_flush(struct fuzz *z)
{
	test_ctx("flush after packet %ld", z->n);
	if (!ASSERT_OK(state_flush(&z->fx.maps), "state_flush"))
		return false;
	model_forget_all(&z->m);
	return fuzz_checkpoint(z);
}

/* The state checker finds nothing. */
static bool fuzz_check(struct fuzz *z)
{
	const struct check_opts o = { .pools = true };
	struct check_result res = {};
	bool ok;
	long i;

	test_ctx("state check after packet %ld", z->n);
	ok = ASSERT_OK(check_run(&z->fx.maps, &o, &res), "check_run");
	for (i = 0; i < res.n_violations; i++)
		assert_fail(__FILE__, __LINE__, "violation: %s: %s",
			    check_kind_names[res.violations[i].kind],
			    res.violations[i].msg);
	ok = ok && ASSERT_EQ(res.n_violations, 0, "violations");
	ok = ok && ASSERT_EQ(res.n_stale, 0, "stale sessions");
	check_result_free(&res);
	return ok;
}

/* Between packets: now and then a collector pass, seldom a flush. */
static bool fuzz_between(struct fuzz *z)
{
	__u32 r = fuzz_rand(z) % 4000;
	bool full = z->m.nmaps > MODEL_MAX_MAPS / 2 ||
		    z->m.nsess > MODEL_MAX_SESS / 2;

	if (full || r == 0)
		return fuzz_flush(z);
	if (r < 2)
		return fuzz_gc(z, 30 * 86400); /* past every timeout */
	if (r < 4)
		return fuzz_gc(z, 400); /* past UDP, ICMP, TCP transitory */
	if (r < 6)
		return fuzz_gc_quarantine_end(z);
	if (r < 14)
		return fuzz_gc(z, 0);
	if (z->n % CHECKER_EVERY == 0 && !fuzz_check(z))
		return false;
	return z->n % CHECKPOINT_EVERY || fuzz_checkpoint(z);
}

/*
 * A run of a dry pool must have gone down the paths of sharing: flows on a
 * shared port, and replies that reached their borrowers.
 */
static bool fuzz_shared_enough(struct fuzz *z)
{
	test_ctx("the whole run");
	return ASSERT_TRUE(z->shared > 0, "a flow on a shared port") &&
	       ASSERT_TRUE(z->to_borrower > 0, "a reply to a borrower");
}

/* @sharing: the pool runs dry, and ports must have been shared. */
static void fuzz_run(const struct fx_opts *opts, double share, bool sharing)
{
	struct fuzz *z = calloc(1, sizeof(*z));
	long iters = fuzz_iters(share);
	uint64_t seed = fuzz_seed();
	struct timespec t0, t1;

	if (!z || !fx_setup(&z->fx, opts))
		goto out;
	fuzz_init(z, seed, opts);
	printf("  %s: seed 0x%llx, %ld packets (FUZZ_SEED, FUZZ_ITERS)\n",
	       cur_test, (unsigned long long)seed, iters);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (z->n = 1; z->n <= iters; z->n++)
		if (!fuzz_packet(z) || !fuzz_between(z))
			goto out;
	if (fuzz_checkpoint(z) && fuzz_check(z) && fuzz_gc(z, 30 * 86400) &&
	    fuzz_check(z) && (!sharing || fuzz_shared_enough(z))) {
		clock_gettime(CLOCK_MONOTONIC, &t1);
		printf("  %s: %ld packets in %.2f s: %s\n", cur_test, iters,
		       t1.tv_sec - t0.tv_sec + (t1.tv_nsec - t0.tv_nsec) / 1e9,
		       fuzz_summary(z));
	}
out:
	if (z)
		fx_teardown(&z->fx);
	free(z);
}

/* Address-and-port-dependent filtering, the default; a roomy range. */
PROG_TEST(fuzz, TEST_REPLIES)
{
	const struct fx_opts o = { .max_sessions = TABLE, .max_owners = TABLE };

	fuzz_run(&o, 1, false);
}

/* Endpoint-independent filtering: new remotes open sessions inbound. */
PROG_TEST(fuzz_independent, TEST_REPLIES)
{
	const struct fx_opts o = { .filtering = BPFMASQ_FILTER_INDEPENDENT,
				   .max_sessions = TABLE,
				   .max_owners = TABLE };

	fuzz_run(&o, 0.5, false);
}

/*
 * Eight ports for twelve endpoints per protocol: the pool runs dry, and
 * new flows share the ports of others.
 */
PROG_TEST(fuzz_small_pool, TEST_REPLIES)
{
	const struct fx_opts o = { .port_min = 40000,
				   .port_max = 40007,
				   .max_sessions = TABLE,
				   .max_owners = TABLE };

	fuzz_run(&o, 0.5, true);
}
