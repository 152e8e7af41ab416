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
rport0 = int(sys.argv[7])
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
    out = "/tmp/.share-flows.%d.%d" % (os.getpid(), w)
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
' "$TOPO_WAN_ADDR" "$TOPO_WAN_GW" "$2" "$3" "$4" "$5" "$SHARE_RPORT0"
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
#        whose 8 tries found no lendable port, which a later pass retried:
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
net_test many_flows_one_host t_many_flows on
net_test many_flows_no_sharing t_many_flows off
