/* SPDX-License-Identifier: GPL-2.0 */
/*
 * pkt.h - hand-built Ethernet/IPv4 test frames and Internet checksums
 * computed from scratch, independently of the data path's incremental
 * updates, so that a wrong rewrite cannot be checked against itself.
 */
#ifndef PROG_TEST_PKT_H
#define PROG_TEST_PKT_H

#include <stdbool.h>
#include <stddef.h>
#include <linux/types.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/icmp.h>
#include <linux/tcp.h>
#include <linux/udp.h>

/* A constant-expression htonl, usable in static tables. */
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define IP4(a, b, c, d)                                                        \
	((__be32)__builtin_bswap32(((__u32)(a) << 24) | ((b) << 16) |          \
				   ((c) << 8) | (d)))
#else
#define IP4(a, b, c, d)                                                        \
	((__be32)(((__u32)(a) << 24) | ((b) << 16) | ((c) << 8) | (d)))
#endif

#define FRAME_MAX 512

#define PKT_IP_MF 0x2000
#define PKT_IP_DF 0x4000
#define PKT_IP_OFFSET 0x1fff

#define PKT_TCP_FIN 0x01
#define PKT_TCP_SYN 0x02
#define PKT_TCP_RST 0x04
#define PKT_TCP_PSH 0x08
#define PKT_TCP_ACK 0x10

#define PKT_PROTO_GRE 47
#define PKT_PROTO_SCTP 132

/* One frame as fed to or read back from a program. */
struct frame {
	__u8 data[FRAME_MAX];
	__u32 len;
};

/*
 * What to build. Ports and the ICMP id are in host order; for ICMP the id
 * is @sport. Zero fields take the obvious defaults (IHL 5, TTL 64, echo
 * request).
 */
struct pkt_spec {
	__be32 saddr;
	__be32 daddr;
	__u16 sport;
	__u16 dport;
	__u8 proto;
	__u8 tcp_flags;
	__u8 icmp_type;
	__u8 ihl;
	__u16 frag; /* host order: PKT_IP_MF | offset in 8-byte units */
	__u16 ip_id;
	bool udp_no_csum; /* send UDP with a zero (absent) checksum */
	/*
	 * TCP sequence and acknowledgment numbers and window, host order,
	 * when tcp_numbers is set; else fixed ones (ack only with ACK) and
	 * a window of 64240.
	 */
	bool tcp_numbers;
	__u32 tcp_seq;
	__u32 tcp_ack;
	__u16 tcp_win;
	const void *tcp_opts; /* a multiple of 4 bytes, up to 40 */
	__u8 tcp_opts_len;
	__u16 pad_to; /* trailing Ethernet padding up to this frame length */
	const void *payload;
	__u16 payload_len;
};

/* Build the L4 header and payload of @s into @l4, checksummed. */
size_t l4_build(const struct pkt_spec *s, __u8 *l4);
/* Wrap @l4 in Ethernet and IPv4 headers (with @s's addresses and IHL). */
void frame_wrap(struct frame *f, const struct pkt_spec *s, const __u8 *l4,
		size_t l4_len);
/* Both of the above. */
void frame_build(struct frame *f, const struct pkt_spec *s);
/*
 * An ICMP error (RFC 792): destination unreachable, time exceeded or
 * parameter problem, quoting the start of another IP packet.
 */
struct icmp_error_spec {
	__be32 saddr;
	__be32 daddr;
	__u8 type;
	__u8 code;
	/*
	 * The second word of the ICMP header, host order: unused (0), the
	 * next-hop MTU of "fragmentation needed" (RFC 1191), or a parameter
	 * problem's pointer << 24.
	 */
	__u32 rest;
	__u16 quote_len; /* bytes quoted from the IP header on; 0: all */
	__u16 pad_to; /* trailing bytes past the IP packet, as pkt_spec's */
};

/*
 * Build the error @e quoting the IP packet in @quoted (not @f), with its
 * ICMP checksum computed over the whole message, quote included.
 */
void frame_build_icmp_error(struct frame *f, const struct icmp_error_spec *e,
			    const struct frame *quoted);
/* A frame of another EtherType, e.g. IPv6 or ARP. */
void frame_build_ethertype(struct frame *f, __u16 ethertype);

/* Views into a frame; they trust the IHL, the caller checked it. */
struct iphdr *frame_ip(struct frame *f);
void *frame_l4(struct frame *f);
size_t frame_l4_len(struct frame *f);
/* Recompute the IP header checksum after a test mangled the header. */
void frame_fix_ip_csum(struct frame *f);

/* Checksums computed from scratch, host order, ready to be stored. */
__u16 ip_csum_compute(const struct iphdr *iph);
/*
 * The checksum an L4 segment of @len bytes should carry, treating its
 * checksum field as zero. TCP and UDP include the pseudo-header; a UDP
 * result of 0 is sent as 0xffff (RFC 768).
 */
__u16 l4_csum_compute(__be32 saddr, __be32 daddr, __u8 proto, const __u8 *l4,
		      size_t len);
/* Offset of the checksum field in an L4 header of @proto, -1 if none. */
int l4_csum_offset(__u8 proto);

/* The value of the UDP payload word that makes @s's checksum come out 0. */
__u16 udp_word_for_zero_csum(const struct pkt_spec *s);

#endif /* PROG_TEST_PKT_H */
