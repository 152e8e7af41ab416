# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
#
# Port sharing (NAT44-ED, bpf/share.h): once an address's pool has run dry,
# a new flow borrows a port another mapping owns, for its own remote
# endpoint only. One inside host opens more concurrent flows than there are
# ports, and every one of them gets through (and, with --port-sharing off,
# only a pool's worth does); two inside hosts on the same external ports,
# the one's flows on the other's ports, never get each other's replies, the
# owner cannot talk from a port to the remote it is lent for, and once the
# borrowed flows are over, the remote reaches no one through the port and
# the owner may talk to it again.

# The remote endpoints: the server's UDP ports 9001, 9002, ...
SHARE_RPORT0=9001

# _share_server NS SUMMARY PORT...: a UDP echo on each PORT, answering
# every datagram with "reply <peer-ip>:<peer-port> <data>" from the port it
# came to, with a receive buffer large enough for a burst of thousands.
# On SIGTERM (or after 120 s) it writes to SUMMARY how many datagrams came
# from each source address: "datagrams N ADDR=COUNT...".
_share_server() {
	local ns=$1 summary=$2 p
	shift 2
	topo_bg "$ns" timeout 120 python3 -c '
import selectors, signal, socket, sys, time
summary, ports = sys.argv[1], [int(p) for p in sys.argv[2:]]
sel = selectors.DefaultSelector()
for p in ports:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.setsockopt(socket.SOL_SOCKET, getattr(socket, "SO_RCVBUFFORCE", 33), 32 << 20)
    s.bind(("0.0.0.0", p))
    s.setblocking(False)
    sel.register(s, selectors.EVENT_READ)
seen = {}
n = 0
def done(*_):
    with open(summary, "w") as f:
        f.write("datagrams %d %s\n" % (n, " ".join("%s=%d" % kv for kv in sorted(seen.items()))))
    sys.exit(0)
signal.signal(signal.SIGTERM, done)
end = time.monotonic() + 118
while time.monotonic() < end:
    for key, _ in sel.select(0.2):
        s = key.fileobj
        for _ in range(256):
            try:
                data, peer = s.recvfrom(2048)
            except BlockingIOError:
                break
            n += 1
            seen[peer[0]] = seen.get(peer[0], 0) + 1
            s.sendto(b"reply %s:%d %s" % (peer[0].encode(), peer[1], data), peer)
done()
' "$summary" "$@"
	for p in "$@"; do
		wait_until 5 listening "$ns" udp "$p" || { fail "udp server $p did not start"; return 1; }
	done
}

# _share_server_stop PID SUMMARY: end the server, print its summary line.
_share_server_stop() {
	kill -TERM "$1" 2>/dev/null
	wait_until 5 test -s "$2" || { fail "the UDP server wrote no summary"; return 1; }
	cat "$2"
}

# ---- many_flows_one_host / many_flows_no_sharing -----------------------------

# One inside endpoint per source port 1024-65535: 64,512 flows, more than
# the default ranges' ports (1024-32767 and 61000-65535: 36,280).
SHARE_FLOWS_FIRST=1024
SHARE_FLOWS=64512
# Remote endpoints the flows spread over (flow i to port 9001 + i % 4): a
# port can be lent for each remote its owner does not talk to, three here.
# With two, a borrower finds one of the few ports still lendable for its
# remote only after many tries (8 per packet, at random).
SHARE_REMOTES=4
# Rounds of sends: every unanswered flow sends again, up to this many times.
SHARE_PASSES=${SHARE_PASSES:-5}

# _share_flows NS FIRST COUNT REMOTES PASSES: COUNT concurrent UDP flows from
# one socket each, bound to source ports FIRST to FIRST+COUNT-1, flow i to
# the server's port 9001 + i % REMOTES, with the payload "flow i". Every
# flow sends, 64 at a time; a pass ends when all have answered or no reply
# came for 1 s; flows still unanswered send again in the next pass,
# up to PASSES in all (and 60 s). Each datagram received is judged by the
# socket it reached: the payload must name its flow (else misdelivered),
# it must come from the flow's remote (else wrong_remote), and the peer the
# server saw must be the gateway's address (else wrong_peer). Prints one
# line: flows, answered, the datagrams sent, the judgements, the external
# ports seen (distinct), how many (external port, remote) pairs more than
# one flow was seen on (must be none), ports outside the default ranges,
# the passes run and the seconds taken; then each pass's unanswered count.
_share_flows() {
	timeout 80 ip netns exec "$1" python3 -c '
import json, os, resource, select, socket, sys, time
server, gw, first, count, nrem, passes = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
rport0, tmpdir = int(sys.argv[7]), sys.argv[8]
# One socket a flow, more than a process may open here (the hard limit
# on files is not ours to raise): workers, each with a slice of the flows.
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
per = max(1, hard - 256)
nworkers = -(-count // per)
t0 = time.monotonic()
hard_end = t0 + 60

def worker(lo, hi, out):
    socks = {}
    fd_flow = {}
    for i in range(lo, hi):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("0.0.0.0", first + i))
        s.setblocking(False)
        socks[i] = s
        fd_flow[s.fileno()] = i
    ep = select.epoll(sizehint=hi - lo)
    for s in socks.values():
        ep.register(s.fileno(), select.EPOLLIN)
    answered = set()
    ext = {}
    n = dict(sent=0, misdelivered=0, wrong_remote=0, wrong_peer=0, duplicate=0, garbled=0)
    bad = []
    def drain(timeout):
        for fd, _ in ep.poll(timeout, 4096):
            i = fd_flow[fd]
            s = socks[i]
            while True:
                try:
                    data, src = s.recvfrom(2048)
                except BlockingIOError:
                    break
                f = data.decode(errors="replace").split()
                if len(f) != 4 or f[0] != "reply" or f[2] != "flow":
                    n["garbled"] += 1
                    continue
                peer, k = f[1], f[3]
                if k != str(i):
                    n["misdelivered"] += 1
                    if len(bad) < 5:
                        bad.append("flow %d (port %d) got the reply of flow %s" % (i, first + i, k))
                    continue
                if src != (server, rport0 + i % nrem):
                    n["wrong_remote"] += 1
                    if len(bad) < 5:
                        bad.append("flow %d got its reply from %s:%d" % (i, src[0], src[1]))
                    continue
                pip, pport = peer.rsplit(":", 1)
                if pip != gw:
                    n["wrong_peer"] += 1
                    if len(bad) < 5:
                        bad.append("flow %d: the server saw %s" % (i, peer))
                    continue
                if i in answered:
                    n["duplicate"] += 1
                answered.add(i)
                ext[i] = int(pport)
    todo = list(range(lo, hi))
    left = []
    p = 0
    while todo and p < passes and time.monotonic() < hard_end:
        p += 1
        for j in range(0, len(todo), 64):
            for i in todo[j:j + 64]:
                if i not in answered:
                    try:
                        socks[i].sendto(b"flow %d" % i, (server, rport0 + i % nrem))
                        n["sent"] += 1
                    except BlockingIOError:
                        pass
            drain(0)
        # Until all have answered, or no reply came for a second.
        idle_end = time.monotonic() + 1.0
        while time.monotonic() < min(idle_end, hard_end) and len(answered) < hi - lo:
            had = len(answered)
            drain(0.05)
            if len(answered) > had:
                idle_end = time.monotonic() + 1.0
        todo = [i for i in todo if i not in answered]
        left.append(len(todo))
    with open(out, "w") as f:
        json.dump(dict(n=n, answered=len(answered), ext=ext, left=left, passes=p, bad=bad), f)

kids = []
for w in range(nworkers):
    lo, hi = w * count // nworkers, (w + 1) * count // nworkers
    out = "%s/share-flows.%d" % (tmpdir, w)
    pid = os.fork()
    if pid == 0:
        try:
            worker(lo, hi, out)
            os._exit(0)
        except BaseException as e:
            print("worker %d: %r" % (w, e), file=sys.stderr)
            os._exit(1)
    kids.append((pid, out))
n, answered, ext, left, passes, bad, ok = {}, 0, {}, [], 0, [], True
for pid, out in kids:
    _, st = os.waitpid(pid, 0)
    if st != 0 or not os.path.exists(out):
        ok = False
        continue
    with open(out) as f:
        r = json.load(f)
    os.unlink(out)
    for k, v in r["n"].items():
        n[k] = n.get(k, 0) + v
    answered += r["answered"]
    ext.update((int(i), e) for i, e in r["ext"].items())
    left = [a + b for a, b in zip(left + [0] * 9, r["left"] + [0] * 9)][:max(len(left), len(r["left"]))]
    passes = max(passes, r["passes"])
    bad += r["bad"]
pairs = {}
for i, e in ext.items():
    pairs[(e, i % nrem)] = pairs.get((e, i % nrem), 0) + 1
reused = sum(1 for v in pairs.values() if v > 1)
outside = sum(1 for e in set(ext.values()) if not (1024 <= e <= 32767 or 61000 <= e <= 65535))
for l in bad[:10]:
    print(l)
print("flows %d answered %d %s ext_ports %d pairs_reused %d outside_ranges %d workers %d passes %d secs %.1f" % (
    count, answered, " ".join("%s %d" % kv for kv in n.items()), len(set(ext.values())),
    reused, outside, nworkers, passes, time.monotonic() - t0))
print("unanswered after each pass: %s" % " ".join(map(str, left)))
sys.exit(0 if ok else 1)
' "$TOPO_WAN_ADDR" "$TOPO_WAN_GW" "$2" "$3" "$4" "$5" "$SHARE_RPORT0" "$TOPO_TMP"
}

# _share_count LINE NAME: a count from _share_flows's summary line.
_share_count() { sed -n "s/.*\b$2 \([0-9]*\).*/\1/p" <<<"$1"; }

# t_many_flows SHARING: 64,512 concurrent UDP flows from lan1 (source ports
# 1024-65535) to four remote endpoints, with the default ranges and a
# session table with room for every flow and every LENT entry.
#   on:  every flow is answered, on the socket that sent it, from its
#        remote, and the server saw only the gateway's address; the pool's
#        36,280 ports are all taken by new mappings and the other 28,232
#        flows borrowed a port (ports_shared exactly that), never two flows
#        on one (port, remote); port_pool_empty counts only the packets
#        whose tries found no lendable port, which a later pass retried:
#        at most 1% of the flows.
#   off: exactly the pool's 36,280 flows are answered; every other flow's
#        packets were counted port_pool_empty, none shared.
t_many_flows() {
	local sharing=$1 out line seen srv pid ports pool t0 secs rc=0 n want
	local -a rports=()
	for ((n = 0; n < SHARE_REMOTES; n++)); do
		rports+=($((SHARE_RPORT0 + n)))
	done
	nat_attach --port-sharing "$sharing" --max-sessions 131072 || return 1
	ports=$(status_field ports) || return 1
	pool=$(python3 -c '
import sys
print(sum(int(h) - int(l) + 1 for l, h in (r.split("-") for r in sys.argv[1].split(","))))' "$ports") ||
		{ fail "cannot read the ranges from '$ports'"; return 1; }
	expect_eq "ports in the default ranges ($ports)" "$pool" 36280 || return 1
	srv=$TOPO_TMP/server.summary
	_share_server "$NS_WAN" "$srv" "${rports[@]}" || return 1
	pid=$TOPO_BG_PID
	t0=$SECONDS
	out=$(_share_flows "$NS_LAN1" "$SHARE_FLOWS_FIRST" "$SHARE_FLOWS" "$SHARE_REMOTES" "$SHARE_PASSES") ||
		{ indent_log <<<"$out"; fail "the flow generator failed"; return 1; }
	secs=$((SECONDS - t0))
	line=$(grep '^flows ' <<<"$out")
	grep -v '^flows ' <<<"$out" | indent_log
	note "port sharing $sharing, ranges $ports ($pool ports): $line"
	note "counters: new_mappings $(nat_stat new_mappings), ports_shared $(nat_stat ports_shared), port_pool_empty $(nat_stat port_pool_empty), table_full $(nat_stat table_full), port_lent $(nat_stat port_lent); $(status_field sessions) sessions, $(status_field mappings) mappings"
	note "$SHARE_FLOWS flows through the NAT in ${secs}s"
	[[ -n $line ]] || { fail "no summary from the flow generator"; return 1; }
	for n in misdelivered wrong_remote wrong_peer garbled pairs_reused outside_ranges; do
		expect_eq "$n" "$(_share_count "$line" "$n")" 0 || rc=1
	done
	seen=$(_share_server_stop "$pid" "$srv") || return 1
	note "server: $seen"
	[[ $seen =~ ^datagrams\ [0-9]+\ $TOPO_WAN_GW=[0-9]+$ ]] ||
		{ fail "the server saw addresses other than the gateway's $TOPO_WAN_GW: $seen"; rc=1; }
	expect_eq "new mappings" "$(nat_stat new_mappings)" "$pool" || rc=1
	n=$(nat_stat port_pool_empty) || return 1
	if [[ $sharing == on ]]; then
		expect_eq "flows answered" "$(_share_count "$line" answered)" "$SHARE_FLOWS" || rc=1
		expect_eq "ports_shared" "$(nat_stat ports_shared)" $((SHARE_FLOWS - pool)) || rc=1
		expect_eq "external ports used" "$(_share_count "$line" ext_ports)" "$pool" || rc=1
		((n <= SHARE_FLOWS / 100)) ||
			{ fail "port_pool_empty $n: more than 1% of the flows found no port to borrow"; rc=1; }
	else
		expect_eq "flows answered" "$(_share_count "$line" answered)" "$pool" || rc=1
		expect_eq "ports_shared" "$(nat_stat ports_shared)" 0 || rc=1
		want=$((SHARE_FLOWS - pool))
		((n >= want)) || { fail "port_pool_empty $n, expected at least the $want flows left without a port"; rc=1; }
	fi
	return $rc
}
net_test_alone many_flows_one_host t_many_flows on
net_test_alone many_flows_no_sharing t_many_flows off

# ---- shared_replies_not_crossed ----------------------------------------------

# _share_udp NS MODE TAG DST SECS TRIES PORT...: UDP from each source PORT
# (one socket each) to the server's port DST, the payload "TAG PORT N"; the
# server's reply names the peer it saw and the payload. Every datagram
# received that is not the reply to this socket's own (another TAG, another
# PORT, another remote: a crossed reply, or a packet from outside) is
# printed as "unexpected on PORT from ADDR:PORT: DATA".
#   ask:    up to TRIES rounds; each sends from the ports not answered yet
#           and waits up to SECS for their replies. Prints "PORT ok EXT"
#           (EXT: the external port the server saw) or "PORT none".
#   hold:   for SECS, sends from every port every 0.3 s. Prints "PORT
#           answered N sent M".
#   listen: sends nothing, listens for SECS.
# The last line: "unexpected N".
_share_udp() {
	local ns=$1
	shift
	timeout 30 ip netns exec "$ns" python3 -c '
import select, socket, sys, time
server, gw, mode, tag, dst, secs, tries = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]), float(sys.argv[6]), int(sys.argv[7])
ports = [int(p) for p in sys.argv[8:]]
socks = {}
for p in ports:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", p))
    s.setblocking(False)
    socks[s.fileno()] = (s, p)
by_port = {p: s for s, p in socks.values()}
ext, answered, sent = {}, dict.fromkeys(ports, 0), dict.fromkeys(ports, 0)
unexpected = 0
def send(p):
    sent[p] += 1
    by_port[p].sendto(("%s %d %d" % (tag, p, sent[p])).encode(), (server, dst))
def drain(until, stop=lambda: False):
    global unexpected
    while True:
        left = until - time.monotonic()
        if left <= 0 or stop():
            return
        r, _, _ = select.select(list(socks), [], [], min(left, 0.05))
        for fd in r:
            s, p = socks[fd]
            while True:
                try:
                    data, src = s.recvfrom(2048)
                except BlockingIOError:
                    break
                f = data.decode(errors="replace").split()
                if (src == (server, dst) and len(f) == 5 and f[0] == "reply" and
                        f[1].startswith(gw + ":") and f[2] == tag and f[3] == str(p)):
                    answered[p] += 1
                    ext[p] = f[1].rsplit(":", 1)[1]
                else:
                    unexpected += 1
                    print("unexpected on %d from %s:%d: %s" % (p, src[0], src[1], " ".join(f)))
if mode == "ask":
    for _ in range(tries):
        todo = [p for p in ports if not answered[p]]
        if not todo:
            break
        for p in todo:
            send(p)
        drain(time.monotonic() + secs, lambda: all(answered[p] for p in todo))
    # Whatever else comes soon after (a crossed reply) is seen too.
    drain(time.monotonic() + 0.2)
    for p in ports:
        print("%d ok %s" % (p, ext[p]) if answered[p] else "%d none" % p)
elif mode == "hold":
    end = time.monotonic() + secs
    while time.monotonic() < end:
        for p in ports:
            send(p)
        drain(min(end, time.monotonic() + 0.3))
    drain(time.monotonic() + 0.3)
    for p in ports:
        print("%d answered %d sent %d" % (p, answered[p], sent[p]))
else:
    drain(time.monotonic() + secs)
print("unexpected %d" % unexpected)
' "$TOPO_WAN_ADDR" "$TOPO_WAN_GW" "$@"
}

# _share_ok OUT PORT...: each PORT answered in _share_udp ask's OUT, and
# nothing unexpected came; prints their external ports, one a line.
_share_ok() {
	local out=$1 p e rc=0
	shift
	grep '^unexpected on' <<<"$out" | indent_log
	expect_eq "datagrams that reached the wrong socket" "$(sed -n 's/^unexpected \([0-9]*\)$/\1/p' <<<"$out")" 0 || rc=1
	for p in "$@"; do
		e=$(sed -n "s/^$p ok \([0-9]*\)$/\1/p" <<<"$out")
		[[ -n $e ]] || { fail "no reply on :$p"; rc=1; continue; }
		echo "$e"
	done
	return $rc
}

# _share_late NS SRC_PORT DST_PORT: a datagram from the server's SRC_PORT
# to the gateway's DST_PORT, as a remote's late reply would be.
_share_late() {
	nsx "$1" python3 -c '
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", int(sys.argv[2])))
s.sendto(b"late", (sys.argv[1], int(sys.argv[3])))
' "$TOPO_WAN_GW" "$2" "$3"
}

SHARE_A_PORTS=(5001 5002 5003 5004)
SHARE_B_PORTS=(6001 6002 6003 6004)

# t_shared_replies_not_crossed: four external ports, 20000-20003. lan1 (A)
# takes all four with flows to R1 (the server's port 9001); lan2 (B) then
# borrows each of them for a flow to R2 (port 9002), and one for R3 (9003);
# a fifth flow to R2 finds no port left to borrow for R2. With both remotes
# answering at once, every reply reaches the host that asked. The owner of
# a lent port cannot talk from it to R2 (port_lent), its flows to R1 go on.
# Once B's flows have expired and been collected, R2's late reply to the
# port reaches neither host, and the owner may talk to R2 from it.
t_shared_replies_not_crossed() {
	local out outa outb e e2 r3 p q rc=0 pa pb n lent0 empty0 sessions filtered0
	local -a a_ext b_ext
	local -A owner_of=()
	nat_attach --ports 20000-20003 --timeout-udp 3 || return 1
	_share_server "$NS_WAN" "$TOPO_TMP/server.summary" 9001 9002 9003 || return 1

	# A owns every port.
	out=$(_share_udp "$NS_LAN1" ask A 9001 2 3 "${SHARE_A_PORTS[@]}")
	mapfile -t a_ext < <(_share_ok "$out" "${SHARE_A_PORTS[@]}")
	expect_eq "A's external ports" "$(printf '%s\n' "${a_ext[@]}" | sort | tr '\n' ' ')" "20000 20001 20002 20003 " ||
		{ indent_log <<<"$out"; return 1; }
	for p in "${!SHARE_A_PORTS[@]}"; do
		owner_of[${a_ext[p]}]=${SHARE_A_PORTS[p]}
	done
	note "A: ${SHARE_A_PORTS[*]} -> ${a_ext[*]} (to R1, :9001)"

	# B borrows them, for R2 only; each port once.
	empty0=$(nat_stat port_pool_empty) || return 1
	out=$(_share_udp "$NS_LAN2" ask B 9002 1.2 8 "${SHARE_B_PORTS[@]}")
	mapfile -t b_ext < <(_share_ok "$out" "${SHARE_B_PORTS[@]}")
	expect_eq "B's external ports for R2" "$(printf '%s\n' "${b_ext[@]}" | sort | tr '\n' ' ')" "20000 20001 20002 20003 " ||
		{ indent_log <<<"$out"; return 1; }
	note "B: ${SHARE_B_PORTS[*]} -> ${b_ext[*]} (to R2, :9002), $(nat_stat port_pool_empty) port_pool_empty (packets whose tries found no port to borrow)"
	expect_eq "ports_shared" "$(nat_stat ports_shared)" 4 || rc=1
	expect_eq "mappings (B's flows have none)" "$(status_field mappings)" 4 || rc=1
	empty0=$(nat_stat port_pool_empty) || return 1
	out=$(_share_udp "$NS_LAN2" ask B 9002 0.5 2 6005)
	[[ $out == *"6005 none"* ]] || { indent_log <<<"$out"; fail "a fifth flow to R2 got a port: every port is lent for R2 already"; rc=1; }
	n=$(nat_stat port_pool_empty) || return 1
	((n >= empty0 + 2)) || { fail "port_pool_empty $empty0 -> $n for two packets with no port to borrow"; rc=1; }
	out=$(_share_udp "$NS_LAN2" ask B 9003 1.2 6 6005)
	r3=$(_share_ok "$out" 6005) || { indent_log <<<"$out"; return 1; }
	note "B: 6005 -> $r3 (to R3, :9003); a fifth to R2 found none: port_pool_empty $empty0 -> $n"

	# Both remotes answer at once, on the same external ports.
	_share_udp "$NS_LAN1" ask A 9001 1 3 "${SHARE_A_PORTS[@]}" >"$TOPO_TMP/a.out" &
	pa=$!
	_share_udp "$NS_LAN2" ask B 9002 1 3 "${SHARE_B_PORTS[@]}" >"$TOPO_TMP/b.out" &
	pb=$!
	echo "$pa" >>"$TOPO_TMP/pids"
	echo "$pb" >>"$TOPO_TMP/pids"
	wait "$pa"
	wait "$pb"
	outa=$(<"$TOPO_TMP/a.out")
	outb=$(<"$TOPO_TMP/b.out")
	expect_eq "A's ports, with B on them" "$(_share_ok "$outa" "${SHARE_A_PORTS[@]}" | tr '\n' ' ')" "${a_ext[*]} " || rc=1
	expect_eq "B's ports, with A on them" "$(_share_ok "$outb" "${SHARE_B_PORTS[@]}" | tr '\n' ' ')" "${b_ext[*]} " || rc=1
	((rc == 0)) || return 1
	note "A and B at once: every reply on the socket that asked"

	# The owner of the port lent to B:6001 cannot use it for R2 ...
	e=${b_ext[0]}
	q=${owner_of[$e]}
	lent0=$(nat_stat port_lent) || return 1
	out=$(_share_udp "$NS_LAN1" ask A 9002 0.5 2 "$q")
	[[ $out == *"$q none"* ]] || { indent_log <<<"$out"; fail "A:$q reached R2 from $e, lent to B:6001 for R2"; rc=1; }
	n=$(nat_stat port_lent) || return 1
	((n >= lent0 + 2)) || { fail "port_lent $lent0 -> $n for A:$q's two packets to R2"; rc=1; }
	note "A:$q (owner of $e) to R2: dropped, port_lent $lent0 -> $n"
	# ... and every one of its flows to R1 goes on.
	out=$(_share_udp "$NS_LAN1" ask A 9001 1 3 "${SHARE_A_PORTS[@]}")
	expect_eq "A's ports after the refusal" "$(_share_ok "$out" "${SHARE_A_PORTS[@]}" | tr '\n' ' ')" "${a_ext[*]} " || rc=1
	out=$(_share_udp "$NS_LAN2" ask B 9002 1.2 6 6001)
	expect_eq "B:6001's port after the refusal" "$(_share_ok "$out" 6001)" "$e" || rc=1
	((rc == 0)) || return 1

	# B goes quiet; A holds its flows to R1. Past the UDP timeout, the
	# collector removes B's sessions and with them the LENT entries (and,
	# a pass later, any left alone).
	_share_udp "$NS_LAN1" hold A 9001 9 1 "${SHARE_A_PORTS[@]}" >"$TOPO_TMP/hold.out" &
	pa=$!
	echo "$pa" >>"$TOPO_TMP/pids"
	sleep 3.5
	note "gc: $(bmq gc "$WAN"); then $(status_field sessions) sessions"
	sleep 1.2
	note "gc: $(bmq gc "$WAN")"
	sessions=$(status_field sessions) || return 1
	note "after the collector: $sessions sessions, $(status_field mappings) mappings"
	expect_eq "sessions left (A's four to R1)" "$sessions" 4 || { conns_json | indent_log; rc=1; }
	# R2's late reply to the port B had, and R3's to the one it had.
	_share_udp "$NS_LAN2" listen B 9002 1.5 1 "${SHARE_B_PORTS[@]}" 6005 >"$TOPO_TMP/listen.out" &
	pb=$!
	echo "$pb" >>"$TOPO_TMP/pids"
	sleep 0.3
	n=$(nat_stat port_lent)
	filtered0=$(nat_stat filtered) || return 1
	_share_late "$NS_WAN" 9002 "$e" || { fail "the late datagram from R2"; rc=1; }
	_share_late "$NS_WAN" 9003 "$r3" || { fail "the late datagram from R3"; rc=1; }
	kill -0 "$pa" 2>/dev/null || { fail "A's sockets were closed before the late datagrams came"; rc=1; }
	wait "$pb"
	wait "$pa"
	e2=$(nat_stat filtered) || return 1
	((e2 >= filtered0 + 2)) || { fail "filtered $filtered0 -> $e2: the two late datagrams were not dropped at the gateway"; rc=1; }
	out=$(<"$TOPO_TMP/listen.out")
	grep '^unexpected on' <<<"$out" | indent_log
	expect_eq "late replies that reached B" "${out##*unexpected }" 0 || rc=1
	out=$(<"$TOPO_TMP/hold.out")
	grep -v '^unexpected' <<<"$out" | indent_log
	grep '^unexpected on' <<<"$out" | indent_log
	expect_eq "late replies (or others) that reached A" "${out##*unexpected }" 0 || rc=1
	for p in "${SHARE_A_PORTS[@]}"; do
		grep -Eq "^$p answered [1-9]" <<<"$out" || { fail "A:$p's flow to R1 went quiet while held"; rc=1; }
	done
	note "counters after the late replies: $(bmq stats "$WAN" --json | pyjson '" ".join("%s %s" % kv for kv in sorted(d.items()) if kv[1] and kv[0] not in ("translated_out", "translated_in"))')"

	# The port is A:$q's alone again: it talks to R2 from it.
	out=$(_share_udp "$NS_LAN1" ask A 9002 1 3 "$q")
	expect_eq "A:$q to R2 once B's flow is gone" "$(_share_ok "$out" "$q")" "$e" || { indent_log <<<"$out"; rc=1; }
	note "A:$q to R2 from $e: answered; port_lent $(nat_stat port_lent) (was $n)"
	return $rc
}
net_test_alone shared_replies_not_crossed t_shared_replies_not_crossed
