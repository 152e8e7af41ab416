#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Small probes for the network tests, where socat's timing is too loose.

  udp-server --port R [--also-from Q] [--log FILE] [--lifetime S]
      Answer every datagram from port R with "reply <peer-ip>:<peer-port> <data>".
      With --also-from Q, first send "stranger" to the same peer from port Q:
      an endpoint the inside host never sent to (filtering tests).
      Each peer seen is appended to FILE. Exits after S seconds.

  udp-client --to IP:PORT [--bind-port P] [--send MSG] [--wait S] [--first]
             [--connect [--recverr]]
      Send MSG from port P (0: any), then print every datagram received within
      S seconds as "from <ip>:<port> <data>" (with --first: stop at the first).
      Exit status 0 if anything was received, 1 if not. With --connect, the
      socket is connected, so an ICMP error about the flow ends it: prints
      "refused" (port unreachable) or "error <reason>", exit status 2. Only
      port and protocol unreachable count as hard errors; --recverr
      (IP_RECVERR) reports the others too (host unreachable: "error No
      route to host").

  tcp-spoof --src IP:PORT --dst IP:PORT --flags R|F|RA|FA --seq N [--ack N]
      Send one TCP segment with those flags and numbers from a raw socket,
      as an off-path host forging its source would.

  tcp-malformed --src IP:PORT --dst IP:PORT
      Send one SYN whose data offset (4 words) is shorter than the TCP
      header itself: malformed, for a NAT to drop rather than to forward.

  udp-frags --src IP:PORT --dst IP:PORT --size N [--mtu M] [--reverse]
      Send one UDP datagram of N bytes ("f" each) from a raw socket, in IP
      fragments of at most M bytes, the last fragment first with
      --reverse (as reordering on the way would deliver them).

  udp-flows --to IP:PORT --count N [--wait S]
      Send one datagram from each of N sockets on ports of the kernel's
      choosing, then print "flow <local-port> <text>" for each first
      answer within S seconds, and "answered <n> of <N>". A flow still
      unanswered after a second sends again (a burst can overflow a busy
      receiver's buffer), from the same socket: the same flow.

  sniff --iface IF --proto N --dport P [--dport P...] [--ready FILE] [--wait S]
      Print "seen <src-ip>:<src-port> <dst-port>" for every IPv4 packet of
      protocol N to one of the ports P that IF receives within S seconds (a
      packet socket: it sees what the stack would drop). FILE is created
      once it listens.

Every loop is bounded in time.
"""
import argparse
import random
import selectors
import socket
import struct
import sys
import time

IP_RECVERR = getattr(socket, "IP_RECVERR", 11)  # <linux/in.h>


def csum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff


def tcp_send(src, dst, flags, seq, ack, win, doff=5):
    """Send one TCP segment (no options) from src to dst ("IP:PORT") from a
    raw socket, its data offset doff words."""
    sip, sport = src.rsplit(":", 1)
    dip, dport = dst.rsplit(":", 1)
    hdr = struct.pack("!HHIIBBHHH", int(sport), int(dport), seq & 0xffffffff,
                      ack & 0xffffffff, doff << 4, flags, win, 0, 0)
    pseudo = struct.pack("!4s4sBBH", socket.inet_aton(sip), socket.inet_aton(dip),
                         0, socket.IPPROTO_TCP, len(hdr))
    hdr = hdr[:16] + struct.pack("!H", csum(pseudo + hdr)) + hdr[18:]
    # IP_HDRINCL on: the source address is ours to forge.
    sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(hdr), 0x4242, 0, 64,
                     socket.IPPROTO_TCP, 0, socket.inet_aton(sip), socket.inet_aton(dip))
    ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
    sock.sendto(ip + hdr, (dip, 0))
    return 0


def tcp_spoof(args):
    bits = {"F": 0x01, "S": 0x02, "R": 0x04, "P": 0x08, "A": 0x10}
    flags = 0
    for c in args.flags:
        flags |= bits[c]
    return tcp_send(args.src, args.dst, flags, args.seq, args.ack, args.win)


def tcp_malformed(args):
    return tcp_send(args.src, args.dst, 0x02, 1, 0, 502, doff=4)


def udp_frags(args):
    sip, sport = args.src.rsplit(":", 1)
    dip, dport = args.dst.rsplit(":", 1)
    src, dst = socket.inet_aton(sip), socket.inet_aton(dip)
    payload = b"f" * args.size
    udp = struct.pack("!HHHH", int(sport), int(dport), 8 + len(payload), 0) + payload
    c = csum(struct.pack("!4s4sBBH", src, dst, 0, socket.IPPROTO_UDP, len(udp)) + udp)
    udp = udp[:6] + struct.pack("!H", c or 0xffff) + udp[8:]
    step = (args.mtu - 20) // 8 * 8
    ident = random.randrange(1, 0x10000)
    frags = []
    for off in range(0, len(udp), step):
        chunk = udp[off:off + step]
        more = 0x2000 if off + step < len(udp) else 0
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(chunk), ident,
                         more | off // 8, 64, socket.IPPROTO_UDP, 0, src, dst)
        frags.append(ip[:10] + struct.pack("!H", csum(ip)) + ip[12:] + chunk)
    if args.reverse:
        frags.reverse()
    sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    for f in frags:
        sock.sendto(f, (dip, 0))
    return 0


def udp_flows(args):
    host, port = args.to.rsplit(":", 1)
    sel = selectors.DefaultSelector()
    for i in range(args.count):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("0.0.0.0", 0))
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ, ("flow-%d\n" % i).encode())
    answered = 0
    now = time.monotonic()
    deadline = now + args.wait
    resend = now
    while answered < args.count:
        now = time.monotonic()
        if now >= deadline:
            break
        if now >= resend:
            for key in list(sel.get_map().values()):
                try:
                    key.fileobj.sendto(key.data, (host, int(port)))
                except BlockingIOError:
                    pass
            resend = now + 1
        for key, _ in sel.select(min(deadline, resend) - now):
            s = key.fileobj
            try:
                data = s.recv(65535)
            except OSError:
                continue
            print("flow %d %s" % (s.getsockname()[1],
                                  data.decode(errors="replace").strip()))
            sel.unregister(s)
            answered += 1
    print("answered %d of %d" % (answered, args.count), flush=True)
    return 0 if answered == args.count else 1


def received(sock, wait):
    """What sock receives within wait seconds, one packet at a time."""
    deadline = time.monotonic() + wait
    left = wait
    while left > 0:
        sock.settimeout(left)
        try:
            yield sock.recv(65535)
        except socket.timeout:
            return
        left = deadline - time.monotonic()


def sniff(args):
    # ETH_P_IP on a SOCK_DGRAM packet socket: frames arrive as IP packets.
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(0x0800))
    sock.bind((args.iface, 0))
    if args.ready:
        open(args.ready, "w").close()
    for pkt in received(sock, args.wait):
        if len(pkt) < 20 or pkt[0] >> 4 != 4 or pkt[9] != args.proto:
            continue
        ihl = (pkt[0] & 15) * 4
        if len(pkt) < ihl + 4:
            continue
        sport, dport = struct.unpack("!HH", pkt[ihl:ihl + 4])
        if dport in args.dport:
            print("seen %s:%d %d" % (socket.inet_ntoa(pkt[12:16]), sport, dport),
                  flush=True)
    return 0


def udp_server(args):
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("0.0.0.0", args.port))
    stranger = None
    if args.also_from:
        stranger = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        stranger.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        stranger.bind(("0.0.0.0", args.also_from))
    deadline = time.monotonic() + args.lifetime
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return 0
        sock.settimeout(left)
        try:
            data, peer = sock.recvfrom(65535)
        except socket.timeout:
            return 0
        text = data.decode(errors="replace").strip()
        if args.log:
            with open(args.log, "a") as f:
                f.write("%s:%d %s\n" % (peer[0], peer[1], text))
        if stranger is not None:
            stranger.sendto(b"stranger\n", peer)
        sock.sendto(("reply %s:%d %s\n" % (peer[0], peer[1], text)).encode(), peer)


def udp_client(args):
    host, port = args.to.rsplit(":", 1)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("0.0.0.0", args.bind_port))
    if args.connect:
        # A connected socket reports an ICMP error about its flow (here:
        # translated back by the NAT) as ECONNREFUSED & co. on recv.
        if args.recverr:
            sock.setsockopt(socket.IPPROTO_IP, IP_RECVERR, 1)
        sock.connect((host, int(port)))
        sock.send((args.send + "\n").encode())
    else:
        sock.sendto((args.send + "\n").encode(), (host, int(port)))
    got = 0
    deadline = time.monotonic() + args.wait
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        sock.settimeout(left)
        try:
            data, peer = sock.recvfrom(65535)
        except socket.timeout:
            break
        except ConnectionRefusedError:
            if args.connect:
                print("refused", flush=True)
                return 2
            # Unconnected sockets do not see ICMP errors; just in case.
            continue
        except OSError as e:
            if args.connect:
                print("error %s" % e.strerror, flush=True)
                return 2
            raise
        got += 1
        print("from %s:%d %s" % (peer[0], peer[1],
                                 data.decode(errors="replace").strip()),
              flush=True)
        if args.first:
            break
    return 0 if got else 1


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("udp-server")
    s.add_argument("--port", type=int, required=True)
    s.add_argument("--also-from", type=int, default=0)
    s.add_argument("--log")
    s.add_argument("--lifetime", type=float, default=120)
    c = sub.add_parser("udp-client")
    c.add_argument("--to", required=True)
    c.add_argument("--bind-port", type=int, default=0)
    c.add_argument("--send", default="ping")
    c.add_argument("--wait", type=float, default=2)
    c.add_argument("--first", action="store_true")
    c.add_argument("--connect", action="store_true")
    c.add_argument("--recverr", action="store_true")
    t = sub.add_parser("tcp-spoof")
    t.add_argument("--src", required=True)
    t.add_argument("--dst", required=True)
    t.add_argument("--flags", required=True)
    t.add_argument("--seq", type=int, required=True)
    t.add_argument("--ack", type=int, default=0)
    t.add_argument("--win", type=int, default=502)
    m = sub.add_parser("tcp-malformed")
    m.add_argument("--src", required=True)
    m.add_argument("--dst", required=True)
    g = sub.add_parser("udp-frags")
    g.add_argument("--src", required=True)
    g.add_argument("--dst", required=True)
    g.add_argument("--size", type=int, required=True)
    g.add_argument("--mtu", type=int, default=1500)
    g.add_argument("--reverse", action="store_true")
    f = sub.add_parser("udp-flows")
    f.add_argument("--to", required=True)
    f.add_argument("--count", type=int, required=True)
    f.add_argument("--wait", type=float, default=5)
    n = sub.add_parser("sniff")
    n.add_argument("--iface", required=True)
    n.add_argument("--proto", type=int, required=True)
    n.add_argument("--dport", type=int, action="append", required=True)
    n.add_argument("--ready")
    n.add_argument("--wait", type=float, default=5)
    args = ap.parse_args()
    if args.cmd == "tcp-spoof":
        return tcp_spoof(args)
    if args.cmd == "tcp-malformed":
        return tcp_malformed(args)
    if args.cmd == "udp-frags":
        return udp_frags(args)
    if args.cmd == "udp-flows":
        return udp_flows(args)
    if args.cmd == "sniff":
        return sniff(args)
    if args.cmd == "udp-server":
        return udp_server(args)
    return udp_client(args)


if __name__ == "__main__":
    sys.exit(main())
