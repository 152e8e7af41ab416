// SPDX-License-Identifier: GPL-2.0
/*
 * fuzz_gen.c - the fuzz test's packets: drawn from a small universe, some
 * of them replies to what the model knows, some mutated into invalid ones.
 */
#include "fuzz.h"

/* The universe: few enough that endpoints collide and mappings recur. */
static const __be32 hosts[] = { HOST1, HOST2, HOST3 };
static const __be32 not_inside[] = { GW_LAN_ADDR, OUTSIDER, EXT_ADDR };
static const __u16 inside_ports[] = { 40000, 40001, 5555, 33333 };
static const __be32 remotes[] = { REMOTE1, REMOTE2, STRANGER };
static const __u16 remote_ports[] = { 53, 80, 443 };
static const __u8 protos[] = { IPPROTO_TCP, IPPROTO_TCP, IPPROTO_UDP,
			       IPPROTO_UDP, IPPROTO_ICMP };
static const __u8 tcp_flag_sets[] = {
	PKT_TCP_SYN,
	PKT_TCP_SYN | PKT_TCP_ACK,
	PKT_TCP_ACK,
	PKT_TCP_ACK | PKT_TCP_PSH,
	PKT_TCP_FIN | PKT_TCP_ACK,
	PKT_TCP_RST,
	PKT_TCP_RST | PKT_TCP_ACK,
};
static const __be32 frag_dsts[] = { EXT_ADDR, EXT_ADDR, HOST1, OUTSIDER };
/* NOP, window scale 7: a SYN's option. */
static const __u8 wscale_opt[] = { 1, 3, 3, 7 };
static __u8 junk[64];

static void spec_l4(struct fuzz *z, struct pkt_spec *s)
{
	s->payload = junk + fuzz_rand(z) % 32;
	s->payload_len = fuzz_rand(z) % 33;
	if (s->proto == IPPROTO_TCP) {
		s->tcp_flags = chance(z, 10) ? fuzz_rand(z) & 0x3f
					     : PICK(z, tcp_flag_sets);
		s->tcp_numbers = true;
		s->tcp_seq = fuzz_rand(z) << 16 | fuzz_rand(z);
		s->tcp_ack = fuzz_rand(z) << 16 | fuzz_rand(z);
		s->tcp_win = fuzz_rand(z);
		if (chance(z, 30)) {
			s->tcp_opts = wscale_opt;
			s->tcp_opts_len = sizeof(wscale_opt);
		}
	}
	s->udp_no_csum = s->proto == IPPROTO_UDP && chance(z, 10);
	s->ip_id = 1 + fuzz_rand(z) % 3;
	if (chance(z, 5))
		s->frag = PKT_IP_MF; /* a first fragment */
	if (chance(z, 10))
		s->pad_to = 90;
}

/* A LENT entry of the model's, at random: -1 when there is none. */
static int pick_lent(struct fuzz *z)
{
	int j, k = fuzz_rand(z) % (z->m.nsess + 1);

	for (j = 0; j < z->m.nsess; j++)
		if (z->m.sess[(j + k) % z->m.nsess].lent)
			return (j + k) % z->m.nsess;
	return -1;
}

static void gen_out(struct fuzz *z, struct pkt_spec *s)
{
	int l = chance(z, 10) ? pick_lent(z) : -1;

	memset(s, 0, sizeof(*s));
	s->proto = PICK(z, protos);
	s->saddr = chance(z, 95) ? PICK(z, hosts) : PICK(z, not_inside);
	s->sport = PICK(z, inside_ports);
	s->daddr = PICK(z, remotes);
	s->dport = PICK(z, remote_ports);
	if (l >= 0) {
		/* An owner to the remote it has lent its port for. */
		const struct m_sess *p = &z->m.sess[l];

		s->proto = p->in.proto;
		s->saddr = p->in.addr;
		s->sport = p->in.port;
		s->daddr = p->raddr;
		s->dport = p->rport ? p->rport : s->dport;
	}
	if (s->proto == IPPROTO_ICMP)
		s->icmp_type = chance(z, 90)   ? ICMP_ECHO
			       : chance(z, 50) ? ICMP_ECHOREPLY
					       : ICMP_TIMESTAMP;
	spec_l4(z, s);
}

/* A remote endpoint the mapping @i sent to, most of the time. */
static void pick_remote(struct fuzz *z, int i, struct pkt_spec *s)
{
	const struct m_sess *p;
	int j, k = fuzz_rand(z) % (z->m.nsess + 1);

	s->saddr = PICK(z, remotes);
	s->sport = PICK(z, remote_ports);
	if (!chance(z, 70))
		return;
	for (j = 0; j < z->m.nsess; j++) {
		p = &z->m.sess[(j + k) % z->m.nsess];
		if (p->in.addr != z->m.maps[i].in.addr ||
		    p->in.port != z->m.maps[i].in.port ||
		    p->in.proto != z->m.maps[i].in.proto)
			continue;
		s->saddr = p->raddr;
		s->sport = p->rport ? p->rport : s->sport;
		return;
	}
}

static void gen_in(struct fuzz *z, struct pkt_spec *s)
{
	int i = z->m.nmaps ? (int)(fuzz_rand(z) % z->m.nmaps) : -1;
	int l = chance(z, 15) ? pick_lent(z) : -1;

	memset(s, 0, sizeof(*s));
	if (l >= 0) {
		/* From the remote a port is lent for: to its borrower. */
		s->proto = z->m.sess[l].in.proto;
		s->daddr = EXT_ADDR;
		s->dport = z->m.sess[l].ext;
		s->saddr = z->m.sess[l].raddr;
		s->sport = z->m.sess[l].rport ? z->m.sess[l].rport
					      : PICK(z, remote_ports);
	} else if (chance(z, 10) &&
		   model_pick_quarantined(&z->m, fuzz_rand(z), &s->proto,
					  &s->dport)) {
		/* To a quarantined port: late packets of a released flow. */
		s->daddr = EXT_ADDR;
		s->saddr = PICK(z, remotes);
		s->sport = PICK(z, remote_ports);
	} else if (i >= 0 && chance(z, 75)) {
		s->proto = z->m.maps[i].in.proto;
		s->daddr = EXT_ADDR;
		s->dport = z->m.maps[i].ext;
		pick_remote(z, i, s);
	} else {
		/* Unsolicited: to the gateway, a LAN host or elsewhere. */
		s->proto = PICK(z, protos);
		s->daddr = PICK(z, frag_dsts);
		s->saddr = PICK(z, remotes);
		s->sport = PICK(z, remote_ports);
		s->dport = z->m.port_min + fuzz_rand(z) % 16;
	}
	if (s->proto == IPPROTO_ICMP) {
		/* The echo id is in sport. */
		s->icmp_type = chance(z, 90) ? ICMP_ECHOREPLY : ICMP_ECHO;
		s->sport = s->dport;
	}
	spec_l4(z, s);
}

/* A later fragment: the offset is set after the L4 header was built. */
static void make_later_fragment(struct fuzz *z, struct frame *f)
{
	__u16 frag = (1 + fuzz_rand(z) % 100) | (chance(z, 50) ? PKT_IP_MF : 0);

	frame_ip(f)->frag_off = htons(frag);
	frame_fix_ip_csum(f);
}

/*
 * Break the frame's headers, mostly in ways that make it invalid. A TC
 * program cannot be given less than an IP header (BPF_PROG_TEST_RUN
 * refuses it), only XDP can: @min_len.
 */
static void mutate(struct fuzz *z, struct frame *f, __u32 min_len)
{
	__u8 *ip = f->data + ETH_HLEN;
	__u32 hdrs = f->len - ETH_HLEN < 60 ? f->len - ETH_HLEN : 60;

	if (!hdrs)
		return;
	switch (fuzz_rand(z) % 7) {
	case 0: /* truncated */
		if (f->len > min_len)
			f->len = min_len + fuzz_rand(z) % (f->len - min_len);
		break;
	case 1: /* bad IHL */
		ip[0] = (ip[0] & 0xf0) | (fuzz_rand(z) & 15);
		break;
	case 2: /* bad version */
		ip[0] = (fuzz_rand(z) & 0xf0) | (ip[0] & 15);
		break;
	case 3: /* bad total length */
		frame_ip(f)->tot_len =
			htons(chance(z, 50) ? ntohs(frame_ip(f)->tot_len) +
						      fuzz_rand(z) % 9 - 4
					    : fuzz_rand(z));
		break;
	case 4: /* fragment flags and offset */
		frame_ip(f)->frag_off = htons(fuzz_rand(z));
		break;
	case 5: /* the L4 length fields: UDP length, TCP data offset */
		ip[ip[0] % 16 * 4 + (chance(z, 50) ? 4 : 12)] = fuzz_rand(z);
		break;
	default: /* any header byte */
		ip[fuzz_rand(z) % hdrs] = fuzz_rand(z);
	}
	if (chance(z, 50) && (ip[0] & 15) >= 5)
		frame_fix_ip_csum(f);
}

void fuzz_gen_frame(struct fuzz *z, bool outbound, struct frame *f)
{
	__u32 min_len = outbound || z->fx.ingress_tc ? ETH_HLEN + 20 : ETH_HLEN;
	struct pkt_spec s;

	if (outbound)
		gen_out(z, &s);
	else
		gen_in(z, &s);
	frame_build(f, &s);
	if (chance(z, 5))
		make_later_fragment(z, f);
	if (chance(z, 1)) {
		frame_build_ethertype(f,
				      chance(z, 50) ? ETH_P_IPV6 : ETH_P_ARP);
		return; /* a TC program cannot be given less than its header */
	}
	if (chance(z, 20))
		mutate(z, f, min_len);
	if (chance(z, 3))
		mutate(z, f, min_len);
}

void fuzz_gen_init(struct fuzz *z)
{
	size_t i;

	for (i = 0; i < sizeof(junk); i++)
		junk[i] = fuzz_rand(z);
}
