// SPDX-License-Identifier: GPL-2.0
/*
 * scenario.c - shapes shared by the program tests: packet shorthands,
 * send-and-check in each direction, flows, and ICMP errors about them.
 */
#include <bpf/bpf.h>

#include "check.h"
#include "scenario.h"
#include "state.h"

const char query[] = "dns query for example"; /* odd length */
const char answer[] = "dns answer: 192.0.2.80";

struct pkt_spec tcp_spec(__be32 saddr, __u16 sport, __be32 daddr, __u16 dport,
			 __u8 flags)
{
	return (struct pkt_spec){ .saddr = saddr,
				  .daddr = daddr,
				  .sport = sport,
				  .dport = dport,
				  .proto = IPPROTO_TCP,
				  .tcp_flags = flags };
}

struct pkt_spec udp_spec(__be32 saddr, __u16 sport, __be32 daddr, __u16 dport,
			 const char *payload)
{
	return (struct pkt_spec){ .saddr = saddr,
				  .daddr = daddr,
				  .sport = sport,
				  .dport = dport,
				  .proto = IPPROTO_UDP,
				  .payload = payload,
				  .payload_len = strlen(payload) };
}

struct pkt_spec echo_spec(__be32 saddr, __be32 daddr, __u8 type, __u16 id)
{
	return (struct pkt_spec){ .saddr = saddr,
				  .daddr = daddr,
				  .sport = id,
				  .proto = IPPROTO_ICMP,
				  .icmp_type = type,
				  .payload = "ping",
				  .payload_len = 4 };
}

/* Source port, or ICMP echo id, of an unfragmented frame. */
__u16 frame_sport(struct frame *f)
{
	bool icmp = frame_ip(f)->protocol == IPPROTO_ICMP;
	__be16 v;

	memcpy(&v, (__u8 *)frame_l4(f) + (icmp ? 4 : 0), 2);
	return ntohs(v);
}

__u16 frame_dport(struct frame *f)
{
	bool icmp = frame_ip(f)->protocol == IPPROTO_ICMP;
	__be16 v;

	memcpy(&v, (__u8 *)frame_l4(f) + (icmp ? 4 : 2), 2);
	return ntohs(v);
}

/*
 * Send @s out: it must come out as exactly @s from the external address
 * and the port (or id) the program chose, returned in @ext_port, with
 * checksums that verify from scratch.
 */
bool send_out(struct fixture *fx, const struct pkt_spec *s, __u16 *ext_port)
{
	return send_out_as(fx, s, EXT_ADDR, ext_port);
}

bool send_out_as(struct fixture *fx, const struct pkt_spec *s, __be32 ext_addr,
		 __u16 *ext_port)
{
	struct pkt_spec want = *s;
	struct frame in, out, exp;

	frame_build(&in, s);
	if (!ASSERT_EQ(fx_egress(fx, &in, &out), TC_OK, "outbound verdict"))
		return false;
	/* An absent UDP checksum has nothing to verify; the frame does. */
	if (!s->udp_no_csum && !ASSERT_CSUMS(&out, "outbound"))
		return false;
	want.saddr = ext_addr;
	want.sport = frame_sport(&out);
	if (ext_port)
		*ext_port = want.sport;
	frame_build(&exp, &want);
	return ASSERT_FRAME_EQ(&out, &exp, "outbound frame");
}

/* Send @s in: it must come out as @s to the inside endpoint, nothing else. */
bool send_in(struct fixture *fx, const struct pkt_spec *s, __be32 inside_addr,
	     __u16 inside_port)
{
	struct pkt_spec want = *s;
	struct frame in, out, exp;

	frame_build(&in, s);
	if (!ASSERT_EQ(fx_ingress(fx, &in, &out), XDP_VERDICT_PASS,
		       "inbound verdict"))
		return false;
	if (!s->udp_no_csum && !ASSERT_CSUMS(&out, "inbound"))
		return false;
	want.daddr = inside_addr;
	if (s->proto == IPPROTO_ICMP)
		want.sport = inside_port; /* the echo id */
	else
		want.dport = inside_port;
	frame_build(&exp, &want);
	return ASSERT_FRAME_EQ(&out, &exp, "inbound frame");
}

/* @in must get @verdict and, when passed, come out byte for byte. */
bool expect_untouched(struct fixture *fx, bool outbound, const struct frame *in,
		      int verdict)
{
	struct frame out;
	int ret = outbound ? fx_egress(fx, in, &out) : fx_ingress(fx, in, &out);
	bool pass = outbound ? verdict == TC_OK : verdict == XDP_VERDICT_PASS;

	if (!ASSERT_EQ(ret, verdict,
		       outbound ? "outbound verdict" : "inbound verdict"))
		return false;
	return !pass || ASSERT_FRAME_EQ(&out, in, "passed frame");
}

bool expect_untouched_spec(struct fixture *fx, bool outbound,
			   const struct pkt_spec *s, int verdict)
{
	struct frame in;

	frame_build(&in, s);
	return expect_untouched(fx, outbound, &in, verdict);
}

void expect_ignored_fresh(const struct fx_opts *opts, bool outbound,
			  const struct frame *f, int verdict,
			  enum bpfmasq_stat stat)
{
	struct fixture fx;

	if (!fx_setup(&fx, opts))
		return;
	expect_untouched(&fx, outbound, f, verdict);
	ASSERT_TABLES(&fx, 0, 0);
	ASSERT_STATS(&fx, { stat, 1 });
	fx_teardown(&fx);
}

void expect_ignored_fresh_spec(const struct fx_opts *opts, bool outbound,
			       const struct pkt_spec *s, int verdict,
			       enum bpfmasq_stat stat)
{
	struct frame f;

	frame_build(&f, s);
	expect_ignored_fresh(opts, outbound, &f, verdict, stat);
}

bool setup_flow(struct fixture *fx, const struct fx_opts *opts,
		const struct pkt_spec *s, __u16 *ext_port)
{
	return fx_setup(fx, opts) && send_out(fx, s, ext_port);
}

void expect_ignored(struct fixture *fx, bool outbound, const struct frame *f,
		    int verdict, enum bpfmasq_stat stat)
{
	expect_untouched(fx, outbound, f, verdict);
	ASSERT_TABLES(fx, 1, 1);
	ASSERT_STATS(fx, STAT(TRANSLATED_OUT, 1), STAT(NEW_MAPPING, 1),
		     STAT(NEW_SESSION, 1), { stat, 1 });
}

void expect_ignored_spec(struct fixture *fx, bool outbound,
			 const struct pkt_spec *s, int verdict,
			 enum bpfmasq_stat stat)
{
	struct frame f;

	frame_build(&f, s);
	expect_ignored(fx, outbound, &f, verdict, stat);
}

struct pkt_spec flow_spec(__u8 proto, bool outbound)
{
	__be32 src = outbound ? HOST1 : REMOTE1;
	__be32 dst = outbound ? REMOTE1 : EXT_ADDR;
	__u16 sport = outbound ? IN_RANGE_PORT : 80;
	__u16 dport = outbound ? 80 : IN_RANGE_PORT;

	switch (proto) {
	case IPPROTO_TCP:
		return tcp_spec(src, sport, dst, dport, PKT_TCP_ACK);
	case IPPROTO_UDP:
		return udp_spec(src, sport, dst, dport, query);
	}
	return echo_spec(src, dst, outbound ? ICMP_ECHO : ICMP_ECHOREPLY,
			 IN_RANGE_PORT);
}

/* An error's quoted IP header, L4 header and L4 length, in @f. */
static struct iphdr *quote_ip(struct frame *f)
{
	return (void *)((__u8 *)frame_l4(f) + sizeof(struct icmphdr));
}

static __u8 *quote_l4(struct frame *f)
{
	return (__u8 *)quote_ip(f) + quote_ip(f)->ihl * 4;
}

static size_t quote_l4_len(struct frame *f)
{
	return frame_l4_len(f) - sizeof(struct icmphdr) - quote_ip(f)->ihl * 4;
}

/* Quoted source (@src) or destination port, or echo id. */
static __u16 quote_port(struct frame *f, bool src)
{
	bool icmp = quote_ip(f)->protocol == IPPROTO_ICMP;
	__be16 v;

	memcpy(&v, quote_l4(f) + (icmp ? 4 : src ? 0 : 2), 2);
	return ntohs(v);
}

/* A quote of @f's IP header and @l4_bytes of what follows; 0: all of @f. */
__u16 quote_len(struct frame *f, __u16 l4_bytes)
{
	return l4_bytes ? frame_ip(f)->ihl * 4 + l4_bytes : 0;
}

/* The frame @s leaves as, translated to EXT_ADDR:@ext_port (an id). */
static void frame_translated(struct frame *f, const struct pkt_spec *s,
			     __u16 ext_port)
{
	struct pkt_spec t = *s;

	t.saddr = EXT_ADDR;
	t.sport = ext_port;
	frame_build(f, &t);
}

/* A router quotes the header as the packet reached it, TTL included. */
void set_ttl(struct frame *f, __u8 ttl)
{
	frame_ip(f)->ttl = ttl;
	frame_fix_ip_csum(f);
}

/* The session of the flow that @s, sent from inside, opened. */
int flow_session(struct fixture *fx, const struct pkt_spec *s,
		 struct bpfmasq_session *sess)
{
	return fx_session(fx, s->saddr, s->sport, s->daddr,
			  s->proto == IPPROTO_ICMP ? 0 : s->dport, s->proto,
			  sess);
}

/*
 * Send @s out as a flow's first packet: @sent gets the frame as it left
 * (for an error to quote), @sess the flow's session as it is now.
 */
bool open_flow(struct fixture *fx, const struct pkt_spec *s, struct frame *sent,
	       __u16 *ext_port, struct bpfmasq_session *sess)
{
	__u16 port;

	if (!send_out(fx, s, &port))
		return false;
	frame_translated(sent, s, port);
	if (ext_port)
		*ext_port = port;
	return ASSERT_OK(flow_session(fx, s, sess), "session lookup");
}

/* Errors neither refresh a session nor count as its traffic (REQ-6). */
void expect_session_unchanged(struct fixture *fx, const struct pkt_spec *s,
			      const struct bpfmasq_session *before)
{
	struct bpfmasq_session now;

	if (!ASSERT_OK(flow_session(fx, s, &now), "session lookup"))
		return;
	ASSERT_EQ(now.last_ns, before->last_ns, "session last_ns");
	ASSERT_EQ(now.packets_out, before->packets_out, "packets_out");
	ASSERT_EQ(now.bytes_out, before->bytes_out, "bytes_out");
	ASSERT_EQ(now.packets_in, before->packets_in, "packets_in");
	ASSERT_EQ(now.bytes_in, before->bytes_in, "bytes_in");
	ASSERT_EQ(now.tcp_state, before->tcp_state, "tcp_state");
	ASSERT_EQ(now.flags, before->flags, "session flags");
}

/*
 * The checksums of the error @out, each on its own so that a failure names
 * it: outer IP header and whole ICMP message, both from scratch; the quoted
 * IP header from scratch; and the quoted L4 checksum, when the quote holds
 * it. The quote may be cut short, so that one cannot be recomputed from it:
 * it must be the checksum @orig (whole, as its sender sent it) carries.
 */
static bool expect_error_csums(struct frame *out, struct frame *orig)
{
	int off = l4_csum_offset(frame_ip(orig)->protocol);
	struct iphdr *qiph = quote_ip(out);
	__be16 got, want;
	bool ok;

	ok = ASSERT_CSUMS(out, "ICMP error");
	ok &= ASSERT_EQ(ntohs(qiph->check), ip_csum_compute(qiph),
			"quoted IP checksum");
	if (off < 0 || quote_l4_len(out) < (size_t)off + 2)
		return ok;
	memcpy(&got, quote_l4(out) + off, 2);
	memcpy(&want, (__u8 *)frame_l4(orig) + off, 2);
	ok &= ASSERT_EQ(ntohs(got), ntohs(want),
			"quoted L4 checksum (as originally sent)");
	return ok;
}

/*
 * Send the error @e, quoting @quoted, through the program of its direction.
 * It must come out as the same error quoting @orig, the packet as its
 * sender sent it: inbound to the inside host that sent @orig, outbound
 * from the external endpoint @orig was sent to.
 */
bool send_error(struct fixture *fx, bool outbound,
		const struct icmp_error_spec *e, const struct frame *quoted,
		struct frame *orig)
{
	struct icmp_error_spec want = *e;
	struct iphdr *oip = frame_ip(orig);
	struct frame in, out, exp;
	int ret;
	bool ok;

	frame_build_icmp_error(&in, e, quoted);
	if (outbound)
		want.saddr = oip->daddr;
	else
		want.daddr = oip->saddr;
	frame_build_icmp_error(&exp, &want, orig);
	ret = outbound ? fx_egress(fx, &in, &out) : fx_ingress(fx, &in, &out);
	if (!ASSERT_EQ(ret, outbound ? TC_OK : XDP_VERDICT_PASS,
		       outbound ? "outbound verdict" : "inbound verdict") ||
	    !ASSERT_EQ(out.len, exp.len, "ICMP error frame length"))
		return false;
	if (outbound) {
		ok = ASSERT_EQ(ntohl(frame_ip(&out)->saddr), ntohl(oip->daddr),
			       "outer source");
		ok &= ASSERT_EQ(ntohl(quote_ip(&out)->daddr), ntohl(oip->daddr),
				"quoted destination");
		ok &= ASSERT_EQ(quote_port(&out, false), frame_dport(orig),
				"quoted destination port");
	} else {
		ok = ASSERT_EQ(ntohl(frame_ip(&out)->daddr), ntohl(oip->saddr),
			       "outer destination");
		ok &= ASSERT_EQ(ntohl(quote_ip(&out)->saddr), ntohl(oip->saddr),
				"quoted source");
		ok &= ASSERT_EQ(quote_port(&out, true), frame_sport(orig),
				"quoted source port");
	}
	ok &= expect_error_csums(&out, orig);
	return ASSERT_FRAME_EQ(&out, &exp, "ICMP error frame") && ok;
}

void expect_flow_after_error(struct fixture *fx, const struct pkt_spec *s,
			     const struct bpfmasq_session *before)
{
	expect_session_unchanged(fx, s, before);
	ASSERT_TABLES(fx, 1, 1);
	ASSERT_STATS(fx, STAT(TRANSLATED_OUT, 1), STAT(TRANSLATED_IN, 1),
		     STAT(NEW_MAPPING, 1), STAT(NEW_SESSION, 1));
}

bool share_misses_forget(struct fixture *fx)
{
	return ASSERT_OK(misses_forget(&fx->maps),
			 "forgetting the flows that found no port");
}

/* Elements in a queue map; they are popped and pushed back in order. */
long queue_len(int fd)
{
	__be16 ports[65536];
	long n = 0, i;

	while (n < 65536 &&
	       !bpf_map_lookup_and_delete_elem(fd, NULL, &ports[n]))
		n++;
	for (i = 0; i < n; i++)
		bpf_map_update_elem(fd, NULL, &ports[i], BPF_ANY);
	return n;
}

void expect_check_finds(struct fixture *fx, int kind)
{
	const struct check_opts opts = {};
	struct check_result res;

	if (!ASSERT_OK(check_run(&fx->maps, &opts, &res), "check"))
		return;
	ASSERT_EQ(res.n_violations, 1, "violations");
	if (res.n_violations)
		ASSERT_EQ(res.violations[0].kind, kind, "its kind");
	check_result_free(&res);
}

bool expect_check_clean(struct fixture *fx)
{
	const struct check_opts o = { .pools = true };
	struct check_result res = {};
	bool ok = false;
	long i;

	if (ASSERT_OK(check_run(&fx->maps, &o, &res), "check_run")) {
		for (i = 0; i < res.n_violations; i++)
			printf("  violation %s: %s\n",
			       check_kind_names[res.violations[i].kind],
			       res.violations[i].msg);
		ok = ASSERT_EQ(res.n_violations, 0, "violations");
	}
	check_result_free(&res);
	return ok;
}

bool frag_age(struct fixture *fx, const struct bpfmasq_frag_key *fk,
	      __u64 age_s)
{
	struct bpfmasq_frag f;

	if (!ASSERT_OK(bpf_map_lookup_elem(fx->maps.frags, fk, &f) ? -errno : 0,
		       "frags entry"))
		return false;
	f.seen_ns -= age_s * NS_PER_S;
	return ASSERT_OK(bpf_map_update_elem(fx->maps.frags, fk, &f, BPF_EXIST)
				 ? -errno
				 : 0,
			 "aging the frags entry");
}
