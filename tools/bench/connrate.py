#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""New TCP connections, as many as one process makes, for make bench.

  connrate.py serve PORT SECS
      Accept connections on PORT for SECS seconds and close each at once,
      so that the server, not the client, keeps the TIME_WAIT.
  connrate.py connect ADDR PORT SECS
      Connect to ADDR:PORT again and again for SECS seconds, each time
      waiting for the server's close; print "ok N lost M": connections
      made, and those that failed or took longer than a second.
"""
import socket
import sys
import time


def serve(port, secs):
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("0.0.0.0", port))
    srv.listen(4096)
    srv.settimeout(1)
    end = time.monotonic() + secs
    while time.monotonic() < end:
        try:
            conn, _ = srv.accept()
        except socket.timeout:
            continue
        conn.close()


def connect(addr, port, secs):
    ok = lost = 0
    end = time.monotonic() + secs
    while time.monotonic() < end:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.settimeout(1)
        try:
            s.connect((addr, port))
            while s.recv(64):
                pass
            ok += 1
        except OSError:
            lost += 1
        finally:
            s.close()
    print("ok %d lost %d" % (ok, lost))


def main(argv):
    if len(argv) == 4 and argv[1] == "serve":
        serve(int(argv[2]), float(argv[3]))
    elif len(argv) == 5 and argv[1] == "connect":
        connect(argv[2], int(argv[3]), float(argv[4]))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
