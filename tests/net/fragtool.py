#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""UDP datagrams sent as IP fragments in an order of the test's choosing,
through a raw socket, and their receipt checked (tests/net/t_frag.sh).

  fragtool.py serve PORT SIZE ORDER [--dup] [--overlap]
                    [--conflict ADDR:PORT:SPORT]
      Wait for one datagram on UDP PORT and answer its sender with a
      SIZE-byte datagram, as fragments sent in ORDER (forward or reverse);
      --dup sends every fragment twice; --overlap first sends a fragment
      of 16 bytes at offset 8, across the first one's end; --conflict then
      sends a first fragment of the same IP id to ADDR:PORT from port
      SPORT. Prints the sender.
  fragtool.py call SERVER PORT SIZE
      Send a datagram to SERVER:PORT from an ephemeral port and wait for
      the answer: it must be SIZE bytes of the pattern. Prints "ok SIZE".
  fragtool.py push SRC SERVER PORT SIZE ORDER
      Send a SIZE-byte datagram from SRC (this host's address) to
      SERVER:PORT as fragments in ORDER.
  fragtool.py sink PORT SIZE
      Wait for one datagram on UDP PORT: it must be SIZE bytes of the
      pattern. Prints the sender.
  fragtool.py listen PORT SECS [SERVER:SPORT]
      Bind UDP PORT (and first send a datagram from it to SERVER:SPORT)
      for SECS seconds; print every datagram's length.

Every wait is bounded (5 s, or SECS); a failure exits non-zero with one line
on stderr.
"""
import os
import random
import select
import socket
import struct
import sys

from nettool import csum

MTU = 1500
WAIT_S = 5


def pattern(size):
    """The payload every datagram carries: known to both ends."""
    return bytes((i * 7 + 3) & 0xFF for i in range(size))


def udp_bytes(src, dst, sport, dport, payload):
    """A UDP header and payload, its checksum over the pseudo-header."""
    length = 8 + len(payload)
    hdr = struct.pack("!HHHH", sport, dport, length, 0)
    pseudo = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack(
        "!BBH", 0, socket.IPPROTO_UDP, length)
    c = csum(pseudo + hdr + payload) or 0xFFFF
    return struct.pack("!HHHH", sport, dport, length, c) + payload


def ip_fragment(src, dst, ident, off, more, data):
    """One fragment: @data at byte offset @off (a multiple of 8)."""
    flags = (0x2000 if more else 0) | (off // 8)
    hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(data), ident,
                      flags, 64, socket.IPPROTO_UDP, 0,
                      socket.inet_aton(src), socket.inet_aton(dst))
    hdr = hdr[:10] + struct.pack("!H", csum(hdr)) + hdr[12:]
    return hdr + data


def fragments(src, dst, ident, l4):
    step = (MTU - 20) // 8 * 8
    offs = list(range(0, len(l4), step))
    return [ip_fragment(src, dst, ident, o, o + step < len(l4),
                        l4[o:o + step]) for o in offs]


def send_fragments(frags, dst, order, dup):
    raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    if order == "reverse":
        frags = frags[::-1]
    for f in frags:
        for _ in range(2 if dup else 1):
            raw.sendto(f, (dst, 0))
    raw.close()


def ip_id():
    return random.randint(1, 0xFFFF)


def own_addr(peer):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.connect(peer)
    addr = s.getsockname()[0]
    s.close()
    return addr


def recv_one(sock, secs=WAIT_S):
    r, _, _ = select.select([sock], [], [], secs)
    if not r:
        sys.exit("fragtool: nothing received in %d s" % secs)
    return sock.recvfrom(65535)


def expect_pattern(data, size):
    if len(data) != size:
        sys.exit("fragtool: %d bytes received, %d expected" %
                 (len(data), size))
    if data != pattern(size):
        sys.exit("fragtool: the payload is not the pattern")


def udp_socket(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("0.0.0.0", port))
    return s


def serve(port, size, order, dup=False, conflict=None, overlap=False):
    sock = udp_socket(port)
    _, peer = recv_one(sock, 10)
    src = own_addr(peer)
    ident = ip_id()
    l4 = udp_bytes(src, peer[0], port, peer[1], pattern(size))
    frags = fragments(src, peer[0], ident, l4)
    if overlap:
        step = (MTU - 20) // 8 * 8
        extra = ip_fragment(src, peer[0], ident, step - 8, True,
                            l4[step - 8:step + 8])
        frags = frags + [extra] if order == "reverse" else [extra] + frags
    send_fragments(frags, peer[0], order, dup)
    if conflict:
        addr, cport, sport = conflict.split(":")
        other = udp_bytes(src, addr, int(sport), int(cport), pattern(size))
        first = fragments(src, addr, ident, other)[0]
        send_fragments([first], addr, "forward", False)
    print("%s:%d" % peer)


def call(server, port, size):
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.sendto(b"hello", (server, port))
    data, _ = recv_one(sock)
    expect_pattern(data, size)
    print("ok %d" % size)


def push(src, server, port, size, order):
    l4 = udp_bytes(src, server, 40000 + os.getpid() % 20000, port,
                   pattern(size))
    send_fragments(fragments(src, server, ip_id(), l4), server, order, False)


def sink(port, size):
    sock = udp_socket(port)
    data, peer = recv_one(sock, 10)
    expect_pattern(data, size)
    print("%s:%d" % peer)


def listen(port, secs, to=None):
    sock = udp_socket(port)
    if to:
        addr, sport = to.split(":")
        sock.sendto(b"hello", (addr, int(sport)))
    while True:
        r, _, _ = select.select([sock], [], [], secs)
        if not r:
            return
        data, _ = sock.recvfrom(65535)
        print(len(data))


def main(argv):
    if len(argv) < 2:
        sys.exit(__doc__)
    cmd, args = argv[1], argv[2:]
    if cmd == "serve" and len(args) >= 3:
        conflict = None
        if "--conflict" in args:
            conflict = args[args.index("--conflict") + 1]
        serve(int(args[0]), int(args[1]), args[2], "--dup" in args,
              conflict, "--overlap" in args)
    elif cmd == "call" and len(args) == 3:
        call(args[0], int(args[1]), int(args[2]))
    elif cmd == "push" and len(args) == 5:
        push(args[0], args[1], int(args[2]), int(args[3]), args[4])
    elif cmd == "sink" and len(args) == 2:
        sink(int(args[0]), int(args[1]))
    elif cmd == "listen" and len(args) in (2, 3):
        listen(int(args[0]), int(args[1]), args[2] if args[2:] else None)
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
