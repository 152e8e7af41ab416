# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
#
# State under churn: two inside hosts on the same source ports while the
# state is flushed and collected under them, with no reply reaching the
# wrong endpoint once the churn stops; a flood of new flows that exhausts
# the pool, after which the existing flows work and, once the collector
# frees room, new ones do again; a minute of short TCP connections from
# four inside addresses that loses none.

# ---- flush_churn -------------------------------------------------------------

CHURN_PORTS=(41000 41001 41002 41003 41004 41005 41006 41007)

# _churn_client NS TAG MODE AMOUNT PORT...: UDP exchanges with the server's
# port 9000 from each PORT (one socket each, bound for the whole run). Each
# datagram is "TAG PORT SEQ T_SENT" (T_SENT: the wall clock, which every
# namespace shares); the server echoes it back after the peer it saw.
# MODE churn: for AMOUNT seconds, each port sends again soon after its
# reply, or after a pause past the 1 s UDP timeout (so its mapping is
# collected), or 0.3 s after an unanswered datagram. MODE rounds: AMOUNT
# exchanges per port, back to back, each waited for up to 1 s. Every
# datagram received is judged by the socket it reached: a reply naming
# another TAG or PORT was delivered to the wrong endpoint; each such one is
# printed as "misdelivered T_RECEIVED ON TAG:PORT GOT PAYLOAD...". The last
# line counts: sent, answered, lost (no reply in time), late (a reply to an
# earlier datagram of the same port), misdelivered, garbled.
_churn_client() {
	local ns=$1 tag=$2
	shift 2
	timeout 90 ip netns exec "$ns" python3 -c '
import random, select, socket, sys, time
tag, dst, mode, amount = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
ports = [int(p) for p in sys.argv[5:]]
dst = (dst.rsplit(":", 1)[0], int(dst.rsplit(":", 1)[1]))
churn = mode == "churn"
wait = 0.3 if churn else 1.0
# Mostly back to back; now and then idle for longer than the UDP timeout
# plus a collector pass or two.
gaps = [0.001] * 150 + [0.05] * 5 + [2.0, 3.0, 3.5]
socks = {}
for p in ports:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", p))
    s.setblocking(False)
    socks[s.fileno()] = (s, p)
by_port = {p: s for s, p in socks.values()}
start = time.time()
hard_end = start + (amount if churn else 30)
todo = dict.fromkeys(ports, 1 << 30 if churn else int(amount))
seq = dict.fromkeys(ports, 0)
due = {p: start + random.random() * 0.05 for p in ports}
pending = {}
n = dict(sent=0, answered=0, lost=0, late=0, misdelivered=0, garbled=0)
drain_end = None
while True:
    now = time.time()
    if drain_end is None:
        for p in ports:
            if p in pending and now - pending[p] > wait:
                n["lost"] += 1
                del pending[p]
                due[p] = now
            if p not in pending and todo[p] > 0 and now >= due[p] and now < hard_end:
                seq[p] += 1
                todo[p] -= 1
                pending[p] = now
                by_port[p].sendto(("%s %d %d %.6f" % (tag, p, seq[p], now)).encode(), dst)
                n["sent"] += 1
        if now >= hard_end or (not pending and not any(todo.values())):
            n["lost"] += len(pending)
            pending.clear()
            drain_end = now + 0.5
    elif now >= drain_end:
        break
    r, _, _ = select.select(list(socks), [], [], 0.005)
    for fd in r:
        s, p = socks[fd]
        while True:
            try:
                data = s.recv(2048)
            except BlockingIOError:
                break
            now = time.time()
            f = data.decode(errors="replace").split()
            if len(f) != 6 or f[0] != "reply":
                n["garbled"] += 1
                print("garbled %.6f on %s:%d got %s" % (now, tag, p, " ".join(f)))
                continue
            if f[2] != tag or f[3] != str(p):
                n["misdelivered"] += 1
                print("misdelivered %.6f on %s:%d got %s" % (now, tag, p, " ".join(f[1:])))
            elif p in pending and f[4] == str(seq[p]):
                n["answered"] += 1
                del pending[p]
                due[p] = now + (random.choice(gaps) if churn else 0)
            else:
                n["late"] += 1
print(" ".join("%s %d" % kv for kv in n.items()))
' "$tag" "$TOPO_WAN_ADDR:9000" "$@"
}

# _churn_judge FLUSHES OUT...: the misdeliveries in the clients' outputs
# OUT, each held against the flushes' time windows in FLUSHES ("START END"
# per line, taken around the command): one whose datagram was sent before
# a flush ended and whose reply arrived after it began is a reply in
# flight across the flush (allowed: a flush hands every port out again at
# once, as conntrack -F does); any other is a violation. Prints
# "IN_FLUSH OTHER" and every other one.
_churn_judge() {
	python3 -c '
import sys
wins = [tuple(map(float, l.split())) for l in open(sys.argv[1]) if l.strip()]
inflush = other = 0
for path in sys.argv[2:]:
    for l in open(path):
        f = l.split()
        if not f or f[0] != "misdelivered":
            continue
        recv, sent = float(f[1]), float(f[-1])
        if any(sent <= end and recv >= beg for beg, end in wins):
            inflush += 1
        else:
            other += 1
            print("outside any flush: " + l.strip(), file=sys.stderr)
print(inflush, other)
' "$@"
}

# _churn_count OUT NAME: a count from a client's last line.
_churn_count() { tail -n 1 "$1" | sed -n "s/.*\b$2 \([0-9]*\).*/\1/p"; }

# _churn_quarantined: how many ports the collector has released and not
# yet freed.
_churn_quarantined() {
	bpftool -j map dump pinned "$(pins_dir)/port_owners" |
		pyjson 'len([e for e in d if e["formatted"]["value"]["state"] == 2])'
}

# t_flush_churn: lan1 and lan2 exchange UDP with the server from the same
# eight source ports for 20 s while `bpfmasq run` (1 s UDP timeout, 2 s
# quarantine, a pass a second, 64 ports) collects their idle mappings and
# the test flushes the whole state eight times. During the churn, a reply
# to the other host (or another port) is allowed only across a flush;
# after a last flush, a clean round from both hosts on the same ports must
# get every reply, each on the endpoint that asked.
t_flush_churn() {
	local flushes=$TOPO_TMP/flushes out1=$TOPO_TMP/churn.lan1 out2=$TOPO_TMP/churn.lan2
	local p1 p2 i t0 t1 rc=0 judged f n q quar=0
	udp_server "$NS_WAN" 9000 || return 1
	_start_daemon "$TOPO_TMP/run.log" --internal "$TOPO_INTERNAL" \
		--ports 20000-20063 --timeout-udp 1 --timeout-quarantine 2 \
		--gc-interval 1 || return 1
	: >"$flushes"
	_churn_client "$NS_LAN1" lan1 churn 20 "${CHURN_PORTS[@]}" >"$out1" &
	p1=$!
	_churn_client "$NS_LAN2" lan2 churn 20 "${CHURN_PORTS[@]}" >"$out2" &
	p2=$!
	echo "$p1" >>"$TOPO_TMP/pids"
	echo "$p2" >>"$TOPO_TMP/pids"
	for ((i = 0; i < 8; i++)); do
		sleep "$((1 + RANDOM % 2)).$((RANDOM % 10))"
		q=$(_churn_quarantined) && ((quar += q))
		t0=$(date +%s.%N)
		bmq flush "$WAN" || { fail "bpfmasq flush under churn"; rc=1; }
		t1=$(date +%s.%N)
		echo "$t0 $t1" >>"$flushes"
	done
	wait "$p1" || { fail "lan1's churn client failed"; rc=1; }
	wait "$p2" || { fail "lan2's churn client failed"; rc=1; }
	((rc == 0)) || return 1
	note "churn, lan1: $(tail -n 1 "$out1")"
	note "churn, lan2: $(tail -n 1 "$out2")"
	for f in "$out1" "$out2"; do
		n=$(_churn_count "$f" answered)
		((${n:-0} > 0)) || { fail "no reply at all during the churn (${f##*.})"; return 1; }
		expect_eq "garbled replies in $f" "$(_churn_count "$f" garbled)" 0 || return 1
	done
	judged=$(_churn_judge "$flushes" "$out1" "$out2") || return 1
	note "misdelivered during the churn: ${judged% *} across a flush, ${judged#* } outside any"
	expect_eq "replies to the wrong endpoint outside a flush" "${judged#* }" 0 || rc=1
	note "quarantined ports seen before the flushes: $quar in all"
	((quar > 0)) || { fail "the collector released no mapping during the churn"; rc=1; }
	note "counters: flushing $(nat_stat flushing), mapping_released $(nat_stat mapping_released), new_mappings $(nat_stat new_mappings), port_pool_empty $(nat_stat port_pool_empty)"

	# The churn is over: one last flush, a moment to settle, then both
	# hosts again on the same ports, with nothing to excuse.
	bmq flush "$WAN" || { fail "the last flush"; return 1; }
	sleep 1
	_churn_client "$NS_LAN1" lan1 rounds 5 "${CHURN_PORTS[@]}" >"$out1" &
	p1=$!
	_churn_client "$NS_LAN2" lan2 rounds 5 "${CHURN_PORTS[@]}" >"$out2" &
	p2=$!
	echo "$p1" >>"$TOPO_TMP/pids"
	echo "$p2" >>"$TOPO_TMP/pids"
	wait "$p1" || { fail "lan1's clean round failed"; rc=1; }
	wait "$p2" || { fail "lan2's clean round failed"; rc=1; }
	for f in "$out1" "$out2"; do
		note "clean round, ${f##*.}: $(tail -n 1 "$f")"
		grep -v '^sent ' "$f" | indent_log
		expect_eq "clean round, ${f##*.}: answered" "$(_churn_count "$f" answered)" 40 || rc=1
		expect_eq "clean round, ${f##*.}: misdelivered" "$(_churn_count "$f" misdelivered)" 0 || rc=1
		expect_eq "clean round, ${f##*.}: lost, late, garbled" \
			"$(_churn_count "$f" lost) $(_churn_count "$f" late) $(_churn_count "$f" garbled)" "0 0 0" || rc=1
	done
	_stop_daemon "$DAEMON_PID" || rc=1
	((rc == 0)) || indent_log <"$TOPO_TMP/run.log"
	return $rc
}
net_test_alone flush_churn t_flush_churn

# ---- pool_exhaustion_recovery ------------------------------------------------

# _churn_tcp_server NS PORT: tcp_server with a listen backlog of 512 rather
# than socat's 5, which a burst of connections overflows (each overflow a
# SYN dropped and retried a second later, which is not the NAT's doing).
_churn_tcp_server() {
	topo_bg "$1" timeout 300 socat TCP4-LISTEN:"$2",reuseaddr,fork,backlog=512 \
		EXEC:"$NET_DIR/tcp_echo.sh"
	wait_until 5 listening "$1" tcp "$2" || fail "tcp server $2 did not start"
}

# _churn_flood NS FIRST COUNT PROTO: one new flow from each source port FIRST
# to FIRST+COUNT-1: a UDP datagram to the server's port 9000, or a TCP
# connect to its port 8080 (closed at once). Prints how many were answered
# (a reply, or the connection established).
_churn_flood() {
	timeout 60 ip netns exec "$1" python3 -c '
import errno, socket, sys
host, first, count, proto = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
ok = 0
for p in range(first, first + count):
    if proto == "udp":
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("0.0.0.0", p))
        # Connected, with IP_RECVERR: the host unreachable for a flow
        # that found no port ends the wait at once.
        s.setsockopt(socket.IPPROTO_IP, getattr(socket, "IP_RECVERR", 11), 1)
        s.settimeout(0.5)
        s.connect((host, 9000))
        s.send(b"flood %d" % p)
        try:
            ok += s.recv(100).endswith(b" flood %d\n" % p)
        except OSError:
            pass
    else:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("0.0.0.0", p))
        s.settimeout(4)
        try:
            s.connect((host, 8080))
            ok += 1
        except OSError as e:
            # No port: the gateway says host unreachable at once.
            if e.errno != errno.EHOSTUNREACH:
                print("tcp from port %d: %s" % (p, e), file=sys.stderr)
    s.close()
print(ok)
' "$TOPO_WAN_ADDR" "$2" "$3" "$4"
}

# t_pool_exhaustion_recovery: with a range of 16 ports, lan1 holds a TCP
# connection and a UDP flow; lan2 floods 40 new UDP flows and 40 new TCP
# connections. Each pool runs dry (port_pool_empty), the flows that hold
# ports go on; once their timeouts and the quarantine are over and the
# collector has run, new flows get ports again, the whole range of them.
t_pool_exhaustion_recovery() {
	local held empty0 empty ok n i m u uports=()
	nat_attach --ports 20000-20015 --timeout-udp 2 --timeout-tcp-close 1 \
		--timeout-tcp-trans 2 --timeout-quarantine 3 || return 1
	udp_server "$NS_WAN" 9000 || return 1
	_churn_tcp_server "$NS_WAN" 8080 || return 1
	conn_open "$NS_LAN1" || return 1
	conn_say before || return 1
	held=$(udp_check "$NS_LAN1" 40001 held) || return 1
	note "lan1 holds tcp $CONN_EXT_PORT and udp $held"
	empty0=$(nat_stat port_pool_empty) || return 1

	ok=$(_churn_flood "$NS_LAN2" 42000 40 udp) || { fail "the UDP flood"; return 1; }
	note "UDP flood: $ok of 40 new flows answered"
	((ok == 15)) || { fail "$ok UDP flows got through, expected the 15 ports left"; return 1; }
	ok=$(_churn_flood "$NS_LAN2" 43000 40 tcp) || { fail "the TCP flood"; return 1; }
	note "TCP flood: $ok of 40 new connections established"
	((ok == 15)) || { fail "$ok TCP connections got through, expected the 15 ports left"; return 1; }
	empty=$(nat_stat port_pool_empty) || return 1
	((empty >= empty0 + 50)) || { fail "port_pool_empty went from $empty0 to $empty, expected 50 more"; return 1; }
	note "port_pool_empty $empty0 -> $empty, icmp_unreach_sent $(nat_stat icmp_unreach_sent)"
	if udp_call "$NS_LAN1" 40002 nope 1 --first >/dev/null; then
		fail "a new UDP flow got through an exhausted pool"
		return 1
	fi

	# The flows that hold ports are untouched.
	expect_eq "lan1's UDP port while the pool is empty" "$(udp_check "$NS_LAN1" 40001 still)" "$held" || return 1
	conn_say during || return 1

	# Past the UDP, closed-TCP and opening timeouts: the collector
	# expires the flood's sessions and releases their mappings (a pass may
	# keep a mapping for its grace period: poll), which quarantines their
	# ports: still no room.
	sleep 2.5
	for ((i = 0; i < 10; i++)); do
		bmq gc "$WAN" >/dev/null || { fail "bpfmasq gc"; return 1; }
		m=$(status_field mappings) || return 1
		((m <= 1)) && break
		sleep 0.5
	done
	expect_eq "mappings once the flood has expired" "$m" 1 || return 1
	n=$(_churn_quarantined) || return 1
	note "after gc pass $((i + 1)): $m mapping (the connection), $n ports quarantined"
	((n >= 30)) || { fail "$n ports quarantined, expected the 31 the flood and lan1's UDP flow held"; return 1; }
	if udp_call "$NS_LAN1" 40003 quarantined 1 --first >/dev/null; then
		fail "a new UDP flow got a quarantined port"
		return 1
	fi

	# Past the quarantine: the next pass frees the ports.
	sleep 3.5
	bmq gc "$WAN" >/dev/null || { fail "bpfmasq gc"; return 1; }
	n=$(_churn_quarantined) || return 1
	expect_eq "ports quarantined past the quarantine" "$n" 0 || return 1
	for ((i = 0; i < 16; i++)); do
		u=$(udp_check "$NS_LAN2" $((44000 + i)) "again-$i") ||
			{ fail "new UDP flow $((i + 1)) of 16 got no port after recovery"; return 1; }
		uports+=("$u")
	done
	expect_eq "distinct UDP ports after recovery" \
		"$(printf '%s\n' "${uports[@]}" | sort -u | grep -c '^200[01][0-9]$')" 16 || return 1
	ok=$(_churn_flood "$NS_LAN2" 45000 15 tcp) || { fail "new TCP connections"; return 1; }
	expect_eq "new TCP connections after recovery" "$ok" 15 || return 1
	conn_say after
}
net_test_alone pool_exhaustion_recovery t_pool_exhaustion_recovery

# ---- short_tcp_connections ---------------------------------------------------

# Four inside sources (each host's address and a second one on its
# interface), each opening SHORT_TCP_RATE connections a second for
# SHORT_TCP_SECS. A closed connection holds its external port for the
# close timeout (10 s), a collector pass and the quarantine (120 s): about
# 130 s, so 4 x 40/s holds some 21,000 of the default range's 31,744
# ports at the steady state, and a minute uses 9,600 of them.
SHORT_TCP_RATE=${SHORT_TCP_RATE:-40}
SHORT_TCP_SECS=${SHORT_TCP_SECS:-60}
SHORT_TCP_LAN1_ADDR2=10.77.1.12
SHORT_TCP_LAN2_ADDR2=10.77.2.12

# _short_tcp_client NS SRC: sequential short connections from SRC to the
# server's port 8080 at SHORT_TCP_RATE a second for SHORT_TCP_SECS: connect,
# read the greeting (which must name the gateway's address), send a line,
# read its echo, close. A connection that fails at any step (3 s for each)
# is a failure; the first few are printed. The last line: "SRC attempts N
# ok N failed N behind_s S" (behind_s: how far the last connection started
# behind its schedule).
_short_tcp_client() {
	timeout $((SHORT_TCP_SECS + 30)) ip netns exec "$1" python3 -c '
import socket, sys, time
src, host, gw, rate, secs = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4]), float(sys.argv[5])
n = ok = 0
failures = []
behind = 0.0
t0 = time.monotonic()
while True:
    t = t0 + n / rate
    if t >= t0 + secs:
        break
    now = time.monotonic()
    if t > now:
        time.sleep(t - now)
    else:
        behind = now - t
    n += 1
    try:
        s = socket.create_connection((host, 8080), timeout=3, source_address=(src, 0))
        try:
            f = s.makefile("rb")
            greet = f.readline()
            s.sendall(b"c%d\n" % n)
            echo = f.readline()
        finally:
            s.close()
        if not greet.startswith(("peer %s:" % gw).encode()) or echo != b"echo c%d\n" % n:
            raise OSError("greeting %r, echo %r" % (greet, echo))
        ok += 1
    except OSError as e:
        failures.append("%s connection %d at %.1fs: %s" % (src, n, time.monotonic() - t0, e))
for l in failures[:5]:
    print(l)
print("%s attempts %d ok %d failed %d behind_s %.2f" % (src, n, ok, n - ok, behind))
' "$2" "$TOPO_WAN_ADDR" "$TOPO_WAN_GW" "$SHORT_TCP_RATE" "$SHORT_TCP_SECS"
}

# t_short_tcp_connections: a minute of short TCP connections from four
# inside addresses through `bpfmasq run` with the default timeouts and
# range loses none, and every one was translated to the gateway's address.
t_short_tcp_connections() {
	local src ns i out rc=0 total=0 failed=0 n want pids=() srcs
	ip -n "$NS_LAN1" addr add "$SHORT_TCP_LAN1_ADDR2/24" dev eth0 || return 1
	ip -n "$NS_LAN2" addr add "$SHORT_TCP_LAN2_ADDR2/24" dev eth0 || return 1
	srcs=("$NS_LAN1 $TOPO_LAN1_ADDR" "$NS_LAN1 $SHORT_TCP_LAN1_ADDR2"
		"$NS_LAN2 $TOPO_LAN2_ADDR" "$NS_LAN2 $SHORT_TCP_LAN2_ADDR2")
	_churn_tcp_server "$NS_WAN" 8080 || return 1
	_start_daemon "$TOPO_TMP/run.log" --internal "$TOPO_INTERNAL" || return 1
	note "range $(status_field ports); $SHORT_TCP_RATE connections/s from each of 4 sources for ${SHORT_TCP_SECS}s"
	for i in "${!srcs[@]}"; do
		read -r ns src <<<"${srcs[i]}"
		_short_tcp_client "$ns" "$src" >"$TOPO_TMP/short.$i" &
		pids+=($!)
		echo $! >>"$TOPO_TMP/pids"
	done
	for i in "${!pids[@]}"; do
		wait "${pids[i]}" || { fail "client ${srcs[i]#* } did not finish"; rc=1; }
	done
	for i in "${!srcs[@]}"; do
		out=$(<"$TOPO_TMP/short.$i")
		grep -v ' attempts ' <<<"$out" | indent_log
		note "$(tail -n 1 <<<"$out")"
		n=$(tail -n 1 <<<"$out" | sed -n 's/.* attempts \([0-9]*\) ok [0-9]* failed \([0-9]*\) .*/\1 \2/p')
		[[ -n $n ]] || { fail "no summary from ${srcs[i]#* }"; rc=1; continue; }
		((total += ${n% *}, failed += ${n#* }))
	done
	want=$((4 * SHORT_TCP_RATE * SHORT_TCP_SECS))
	note "$total connections in ${SHORT_TCP_SECS}s ($((total / SHORT_TCP_SECS))/s), $failed failed"
	note "counters: new_mappings $(nat_stat new_mappings), port_pool_empty $(nat_stat port_pool_empty), table_full $(nat_stat table_full), mapping_released $(nat_stat mapping_released); $(status_field mappings) mappings, $(_churn_quarantined) ports quarantined"
	expect_eq "failed connections" "$failed" 0 || rc=1
	((total >= want * 9 / 10)) || { fail "only $total of the $want connections scheduled were made"; rc=1; }
	_stop_daemon "$DAEMON_PID" || rc=1
	return $rc
}
net_test_alone short_tcp_connections t_short_tcp_connections
