# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
#
# lib.sh - helpers shared by the network scenarios (tests/net/t_*.sh).
#
# A scenario is a bash function that returns 0 (pass) or 1 (fail), printing
# why on failure. It runs in a fresh topology (tools/topo.sh) built by
# tests/net/run.sh, which also removes it afterwards, whatever happened. Every
# command that waits for the network is bounded with `timeout`, every loop by
# a count.

NET_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(cd "$NET_DIR/../.." && pwd)
# shellcheck source=SCRIPTDIR/../../tools/topo.sh
source "$REPO_DIR/tools/topo.sh"

NETTOOL=$NET_DIR/nettool.py
WAN=$TOPO_WAN_IF

# Registered scenarios, in order: "name function args...".
NET_TESTS=()
net_test() { NET_TESTS+=("$*"); }
# net_test_alone: the same, for a scenario that must run with no other one
# beside it (tests/net/run.sh runs the others several at a time): one that
# is CPU-bound, or asserts a rate or a time.
declare -A NET_ALONE=()
net_test_alone() {
	# shellcheck disable=SC2034 # read by run.sh
	NET_ALONE[$1]=1
	net_test "$@"
}

# ---- reporting -------------------------------------------------------------

# These write to stderr, so that they show in the log even from inside $(...).
fail() {
	echo "    FAIL: $*" >&2
	return 1
}
note() { echo "    $*" >&2; }
# indent_log: stdin (a command's output, a log file), each line marked '    | '.
indent_log() { sed 's/^/    | /' >&2; }

# expect_eq WHAT ACTUAL EXPECTED
expect_eq() {
	[[ $2 == "$3" ]] && return 0
	fail "$1: got '$2', expected '$3'"
}

# ---- running things --------------------------------------------------------

# nsx NS CMD...: run CMD in NS, bounded (every network wait in the tests
# goes through here or through an explicit `timeout`).
nsx() {
	local ns=$1
	shift
	timeout 30 ip netns exec "$ns" "$@"
}

# bmq ARGS...: the CLI, run inside the gateway namespace (where the WAN
# interface lives), with BPFMASQ_BPFFS pointing at the test's bpffs.
bmq() { timeout 30 ip netns exec "$NS_GW" "$BPFMASQ_BIN" "$@" </dev/null; }

# nat_attach ARGS...: attach to the gateway's WAN with the test's inside
# prefix, echoing the CLI's output on failure.
# With NAT_DEFAULTS=1, no --internal: the default (everything but the
# gateway's own addresses) is used.
# With NAT_MODE set (see in_mode), the ingress mode to attach in, which is
# then checked (status --json and what is actually on the interface).
nat_attach() {
	local out
	local -a internal=(--internal "$TOPO_INTERNAL") mode=()
	[[ ${NAT_DEFAULTS:-0} == 1 ]] && internal=()
	case ${NAT_MODE:-} in
	'' | tc) ;; # the default on veth: TC ingress
	xdp) mode=(--mode native) ;;
	generic) mode=(--mode generic) ;;
	fast)
		mode=(--mode native --fast-path lan1 --fast-path lan2)
		fast_hosts || return 1
		;;
	*)
		fail "nat_attach: NAT_MODE '$NAT_MODE' is not tc, xdp, generic or fast"
		return 1
		;;
	esac
	if ! out=$(bmq attach "$WAN" "${internal[@]}" "${mode[@]}" "$@" 2>&1); then
		indent_log <<<"$out"
		fail "bpfmasq attach $WAN ${internal[*]} ${mode[*]} $*"
		return 1
	fi
	[[ -z ${NAT_MODE:-} ]] || expect_mode "$(mode_of "$NAT_MODE")"
}

# in_mode tc|xdp|generic|fast SCENARIO ARGS...: run SCENARIO with its
# nat_attach in that ingress mode: tc is the default attach (no --mode: TC
# ingress on veth), xdp is --mode native, generic is --mode generic, fast
# is --mode native with the fast path on lan1 and lan2 (fast_hosts).
in_mode() {
	local m=$1
	shift
	NAT_MODE=$m "$@"
}

# fast_hosts: what the fast path needs of the end hosts on veth: checksums
# computed in full (XDP cannot complete one left to offload), and NAPI on
# their veths (GRO), which then take frames redirected by XDP.
fast_hosts() {
	local ns
	topo_offload off || { fail "ethtool -K tx off"; return 1; }
	for ns in "$NS_LAN1" "$NS_LAN2" "$NS_WAN"; do
		ip netns exec "$ns" ethtool -K eth0 gro on >/dev/null ||
			{ fail "ethtool -K eth0 gro on in ${ns##*-}"; return 1; }
	done
}

# mode_of tc|xdp|generic|fast: the mode status reports for it.
mode_of() {
	case $1 in
	xdp | fast) echo native ;;
	*) echo "$1" ;;
	esac
}

# wait_until SECONDS CMD...: poll CMD every 0.1 s until it succeeds.
wait_until() {
	local secs=$1 i
	shift
	for ((i = 0; i < secs * 10; i++)); do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	return 1
}

# listening NS tcp|udp PORT
listening() {
	local flag=t
	[[ $2 == udp ]] && flag=u
	[[ -n $(ip netns exec "$1" ss -Hln$flag "( sport = :$3 )" 2>/dev/null) ]]
}

# ---- JSON ------------------------------------------------------------------

# pyjson EXPR: evaluate a Python expression over the JSON document on stdin
# (bound to d); prints the result (JSON for lists/dicts). Exit 1 on bad JSON.
pyjson() {
	python3 -c '
import json, sys
try:
    d = json.load(sys.stdin)
except ValueError as e:
    print("invalid JSON: %s" % e, file=sys.stderr)
    sys.exit(1)
r = eval(sys.argv[1])
print(json.dumps(r) if isinstance(r, (dict, list)) else r)
' "$1"
}

# conns_json: the gateway's session list (fails if it is not a JSON array).
conns_json() {
	local out
	out=$(bmq conns "$WAN" --json) || return 1
	printf '%s' "$out" | pyjson 'd if isinstance(d, list) else 1/0' >/dev/null 2>&1 ||
		{
			echo "conns --json is not a JSON array: $out" >&2
			return 1
		}
	printf '%s\n' "$out"
}

# nat_stat NAME: one counter from `stats --json`.
nat_stat() { bmq stats "$WAN" --json | pyjson "d['$1']"; }

# status_field NAME: one field of `status IFACE --json`.
status_field() { bmq status "$WAN" --json | pyjson "d['$1']"; }

# ---- servers and clients ---------------------------------------------------

# cmd_refused WHY ARGS...: `bpfmasq ARGS` must fail with one line of output.
cmd_refused() {
	local why=$1 out rc=0
	shift
	out=$(bmq "$@" 2>&1) || rc=$?
	((rc != 0)) || { fail "$* ($why) was taken"; return 1; }
	[[ $(wc -l <<<"$out") == 1 ]] ||
		{ fail "$* ($why): expected one line, got: $out"; return 1; }
	note "$why: exit $rc, '$out'"
}

# tcp_server NS PORT [LOG]: a forking TCP service that greets each client
# with "peer ADDR:PORT" (the source it sees: what the NAT made of the
# client), appends that to LOG, then echoes every line back as "echo LINE".
tcp_server() {
	local ns=$1 port=$2 log=${3:-/dev/null}
	topo_bg "$ns" timeout 300 socat TCP4-LISTEN:"$port",reuseaddr,fork \
		EXEC:"$NET_DIR/tcp_echo.sh $log"
	wait_until 5 listening "$ns" tcp "$port" || fail "tcp server $port did not start"
}

# tcp_recorder NS PORT LOG: accepts connections and records their peers.
tcp_recorder() {
	local ns=$1 port=$2 log=$3
	topo_bg "$ns" timeout 300 socat TCP4-LISTEN:"$port",reuseaddr,fork \
		EXEC:"$NET_DIR/tcp_record.sh $log"
	wait_until 5 listening "$ns" tcp "$port" || fail "tcp recorder $port did not start"
}

# tcp_call NS HOST PORT MSG [SOCAT-OPTS]: connect, send one line, print what
# came back (the greeting and the echo).
tcp_call() {
	local ns=$1 host=$2 port=$3 msg=$4 opts=${5:-}
	printf '%s\n' "$msg" |
		timeout 10 ip netns exec "$ns" socat -t 3 - \
			TCP4:"$host":"$port",connect-timeout=3${opts:+,$opts}
}

# tcp_check NS MSG [SOCAT-OPTS]: one TCP exchange with the server on
# wan:8080; checks the reply and that the server saw the gateway's address
# (or $EXPECT_SRC). Prints the source port the server saw.
tcp_check() {
	local ns=$1 msg=$2 opts=${3:-} out peer
	out=$(tcp_call "$ns" "$TOPO_WAN_ADDR" 8080 "$msg" "$opts")
	peer=$(sed -n 's/^peer //p' <<<"$out")
	if ! grep -qx "echo $msg" <<<"$out"; then
		fail "no TCP reply from ${ns##*-} (got: '$out')"
		csum_report
		return 1
	fi
	if [[ ${peer%:*} != "${EXPECT_SRC:-$TOPO_WAN_GW}" ]]; then
		fail "server saw $peer, expected ${EXPECT_SRC:-$TOPO_WAN_GW}:*"
		return 1
	fi
	echo "${peer##*:}"
}

# udp_server NS PORT [nettool args]: the Python UDP responder.
udp_server() {
	local ns=$1 port=$2
	shift 2
	topo_bg "$ns" timeout 300 python3 "$NETTOOL" udp-server --port "$port" "$@"
	wait_until 5 listening "$ns" udp "$port" || fail "udp server $port did not start"
}

# udp_call NS BIND_PORT MSG [WAIT] [--first]: send one datagram to the
# server's port ${UDP_DST:-9000} and print what came back ("from ADDR:PORT
# DATA" lines).
udp_call() {
	local ns=$1 bport=$2 msg=$3 wait=${4:-2}
	shift 3
	shift $(($# > 0 ? 1 : 0))
	timeout 15 ip netns exec "$ns" python3 "$NETTOOL" udp-client \
		--to "$TOPO_WAN_ADDR:${UDP_DST:-9000}" --bind-port "$bport" --send "$msg" \
		--wait "$wait" "$@"
}

# udp_check NS BIND_PORT MSG: one UDP request/reply with wan:${UDP_DST:-9000}; checks the
# reply and that the server saw the gateway's address; prints the source
# port the server saw.
udp_check() {
	local ns=$1 bport=$2 msg=$3 out peer
	out=$(udp_call "$ns" "$bport" "$msg" 3 --first)
	peer=$(sed -n "s/^from $TOPO_WAN_ADDR:${UDP_DST:-9000} reply \([^ ]*\) $msg\$/\1/p" <<<"$out")
	if [[ -z $peer ]]; then
		fail "no UDP reply to ${ns##*-}:$bport (got: '$out')"
		csum_report
		return 1
	fi
	if [[ ${peer%:*} != "${EXPECT_SRC:-$TOPO_WAN_GW}" ]]; then
		fail "UDP server saw $peer, expected ${EXPECT_SRC:-$TOPO_WAN_GW}:*"
		return 1
	fi
	echo "${peer##*:}"
}

# ping_check NS [COUNT]: ping the server; it has no route back to the LAN,
# so a reply proves the echo was translated both ways.
ping_check() {
	local ns=$1 count=${2:-3}
	nsx "$ns" ping -c "$count" -i 0.2 -W 2 -q "$TOPO_WAN_ADDR" >/dev/null ||
		{ fail "ping from ${ns##*-} to $TOPO_WAN_ADDR failed"; csum_report; return 1; }
}

# ---- checks on the gateway and the hosts -----------------------------------

# csum_errors NS: the sum of every *InCsumErrors counter in NS (absolute
# values, since the namespace was created; nstat's history file is left
# alone with -a -s).
csum_errors() {
	ip netns exec "$1" nstat -asz 2>/dev/null |
		awk '$1 ~ /InCsumErrors$/ { s += $2 } END { print s + 0 }'
}

# csum_report: say how many bad checksums each end host dropped (on failure,
# this tells a checksum bug from a routing or filtering one).
csum_report() {
	note "checksum errors: lan1 $(csum_errors "$NS_LAN1"), lan2 $(csum_errors "$NS_LAN2"), wan $(csum_errors "$NS_WAN")"
}

# no_csum_errors: the end hosts verified every checksum they received.
no_csum_errors() {
	local ns n rc=0
	for ns in "$NS_LAN1" "$NS_LAN2" "$NS_WAN"; do
		n=$(csum_errors "$ns")
		if [[ $n != 0 ]]; then
			ip netns exec "$ns" nstat -asz 2>/dev/null | grep InCsumErrors | indent_log
			fail "$n checksum errors in ${ns#"$TOPO_PREFIX"-}"
			rc=1
		fi
	done
	return $rc
}

# ---- what is attached to the WAN ---------------------------------------------

# bpfmasq's TC filters (egress always, ingress in tc mode) have handle and
# priority 0x6d61; tc prints the priority in decimal.
BMQ_TC_HANDLE=0x6d61
BMQ_TC_PREF=$((0x6d61))

# xdp_kind [IFACE]: the XDP program on IFACE (default the WAN) in the gateway,
# as the kernel reports it: none, native, generic, offload or multi. Prints
# "unknown" and fails if the link cannot be read, so that a broken query is
# never taken for "nothing attached".
xdp_kind() {
	ip -n "$NS_GW" -d -j link show dev "${1:-$WAN}" 2>/dev/null | python3 -c '
import json, sys
try:
    x = json.load(sys.stdin)[0].get("xdp") or {}
except (ValueError, IndexError):
    sys.exit(1)
# XDP_ATTACHED_*: NONE 0, DRV 1, SKB 2, HW 3, MULTI 4.
print({0: "none", 1: "native", 2: "generic", 3: "offload", 4: "multi"}.get(x.get("mode", 0), "unknown"))
' || {
		echo unknown
		return 1
	}
}
xdp_attached() {
	local k
	k=$(xdp_kind "$@") || return 1
	[[ $k != none ]]
}

# tc_filters HOOK [IFACE]: every filter on the ingress or egress hook.
tc_filters() { tc -n "$NS_GW" filter show dev "${2:-$WAN}" "$1" 2>/dev/null; }
# tc_ours HOOK [IFACE]: bpfmasq's filter lines on that hook (handle 0x6d61 or
# one of its programs; the kernel keeps 15 characters of a program's name,
# so bpfmasq_ingress_tc shows as bpfmasq_ingress).
tc_ours() { tc_filters "$@" | grep -E "handle $BMQ_TC_HANDLE\b|bpfmasq_"; }
# tc_ingress_attached [IFACE]: our reply translator on the TC ingress hook.
tc_ingress_attached() {
	tc_filters ingress "$@" |
		grep -Eq "pref $BMQ_TC_PREF bpf .*handle $BMQ_TC_HANDLE bpfmasq_ingress(_tc)?[:[:space:]]"
}
# tc_egress_attached [IFACE]: our outbound translator on the TC egress hook.
tc_egress_attached() {
	tc_filters egress "$@" |
		grep -Eq "pref $BMQ_TC_PREF bpf .*handle $BMQ_TC_HANDLE bpfmasq_egress[:[:space:]]"
}
# ingress_attached [IFACE]: replies are translated, whatever the mode: XDP
# on the interface or our TC ingress filter.
ingress_attached() { xdp_attached "$@" || tc_ingress_attached "$@"; }
has_clsact() { tc -n "$NS_GW" qdisc show dev "${1:-$WAN}" 2>/dev/null | grep -q '^qdisc clsact '; }

pins_dir() { echo "$BPFMASQ_BPFFS/bpfmasq/${1:-$WAN}"; }

# hooks_report [IFACE]: what is on the interface, for failure messages.
hooks_report() {
	note "xdp: $(xdp_kind "$@"); qdiscs: $(tc -n "$NS_GW" qdisc show dev "${1:-$WAN}" | tr '\n' ' ')"
	note "ingress filters: $(tc_filters ingress "$@" | tr '\n' ' ')"
	note "egress filters: $(tc_filters egress "$@" | tr '\n' ' ')"
}

# expect_mode native|generic|tc [IFACE]: status --json reports that mode,
# and exactly the matching hooks are attached: the TC egress filter, plus
# XDP of that kind and no TC ingress filter (native, generic), or the TC
# ingress filter and no XDP at all (tc).
expect_mode() {
	local want=$1 ifc=${2:-$WAN} got k rc=0
	got=$(bmq status "$ifc" --json | pyjson "d['mode']") || { fail "status $ifc --json has no mode"; return 1; }
	expect_eq "mode in status $ifc --json" "$got" "$want" || rc=1
	k=$(xdp_kind "$ifc")
	tc_egress_attached "$ifc" || { fail "no bpfmasq TC egress filter on $ifc"; rc=1; }
	case $want in
	tc)
		tc_ingress_attached "$ifc" || { fail "mode tc: no bpfmasq TC ingress filter on $ifc"; rc=1; }
		expect_eq "XDP on $ifc in mode tc" "$k" none || rc=1
		;;
	native | generic)
		expect_eq "XDP on $ifc in mode $want" "$k" "$want" || rc=1
		ip -n "$NS_GW" link show dev "$ifc" | grep -q 'prog/xdp id [0-9]* name bpfmasq_ingress\b' ||
			{ fail "the XDP program on $ifc is not bpfmasq_ingress"; rc=1; }
		if tc_ingress_attached "$ifc"; then
			fail "mode $want: a bpfmasq TC ingress filter is on $ifc as well"
			rc=1
		fi
		;;
	*)
		fail "expect_mode: native, generic or tc"
		return 1
		;;
	esac
	((rc == 0)) || hooks_report "$ifc"
	return $rc
}

# nothing_attached [IFACE]: detach left nothing: no XDP, no bpfmasq filter
# on the ingress or the egress hook, no pins, and no clsact qdisc unless
# there was one before bpfmasq came (FOREIGN_CLSACT=1: the scenario made
# it, and then it must still be there).
nothing_attached() {
	local ifc=${1:-$WAN} rc=0 k
	k=$(xdp_kind "$ifc")
	[[ $k == none ]] || { fail "XDP program ($k) still on $ifc: $(ip -n "$NS_GW" link show dev "$ifc" | tr '\n' ' ')"; rc=1; }
	[[ -z $(tc_ours ingress "$ifc") ]] || { fail "bpfmasq TC ingress filter still on $ifc: $(tc_ours ingress "$ifc" | tr '\n' ' ')"; rc=1; }
	[[ -z $(tc_ours egress "$ifc") ]] || { fail "bpfmasq TC egress filter still on $ifc: $(tc_ours egress "$ifc" | tr '\n' ' ')"; rc=1; }
	if [[ ${FOREIGN_CLSACT:-0} == 1 ]]; then
		has_clsact "$ifc" || { fail "the clsact qdisc bpfmasq did not create is gone from $ifc"; rc=1; }
	else
		! has_clsact "$ifc" || { fail "clsact qdisc still on $ifc: $(tc -n "$NS_GW" qdisc show dev "$ifc" | tr '\n' ' ')"; rc=1; }
	fi
	[[ ! -e $(pins_dir "$ifc") ]] || { fail "pin directory $(pins_dir "$ifc") still exists: $(find "$(pins_dir "$ifc")" -mindepth 1 -printf '%f ')"; rc=1; }
	return $rc
}

# ---- the state checker ---------------------------------------------------

# check_attached: `bpfmasq check IFACE --pools` on every instance still
# pinned when a scenario ends (most detach; the scenario has stopped
# sending, so the pools can be read). Fails on any violation, printing the
# checker's report; pins the checker cannot read at all (another layout,
# left so on purpose) are only noted.
# _fast_note IFACE: what took the fast path, if IFACE has one.
_fast_note() {
	local n
	n=$(bmq stats "$1" --json | pyjson "'%d out, %d in' % (d['fast_path_out'], d['fast_path_in'])" 2>/dev/null) || return 0
	[[ $(bmq status "$1" --json | pyjson "len(d['fast_path'])" 2>/dev/null) == 0 ]] ||
		note "fast path $1: $n"
}

check_attached() {
	local dir ifc out rc=0
	[[ -n ${BPFMASQ_BPFFS:-} && -d $BPFMASQ_BPFFS/bpfmasq ]] || return 0
	for dir in "$BPFMASQ_BPFFS"/bpfmasq/*/; do
		[[ -e ${dir}config ]] || continue
		ifc=$(basename "$dir")
		if out=$(bmq check "$ifc" --pools 2>&1); then
			note "check $ifc: $(tail -n 1 <<<"$out")"
			_fast_note "$ifc"
		elif grep -q '^violation: ' <<<"$out"; then
			indent_log <<<"$out"
			fail "bpfmasq check $ifc --pools: the state left by the scenario is inconsistent"
			rc=1
		else
			note "check $ifc could not read the state: $out"
		fi
	done
	return $rc
}

# ---- a long-lived TCP connection -------------------------------------------

# conn_open NS: one TCP connection from NS to the server's wan:8080 (a
# tcp_server), kept open: socat as a coprocess (CONN), its stdio our pipe.
# Reads the greeting; leaves the port the server saw in CONN_EXT_PORT.
conn_open() {
	local greet
	coproc CONN { exec timeout 120 ip netns exec "$1" socat - TCP4:"$TOPO_WAN_ADDR":8080,connect-timeout=3; }
	echo "$CONN_PID" >>"$TOPO_TMP/pids"
	read -r -t 5 greet <&"${CONN[0]}" || { fail "no greeting on the long-lived connection"; return 1; }
	CONN_EXT_PORT=${greet##*:}
	expect_eq "source the server saw" "${greet% *}:${greet##* }" "peer:${EXPECT_SRC:-$TOPO_WAN_GW}:$CONN_EXT_PORT"
}

# conn_say MSG: send MSG on the long-lived connection, expect "echo MSG"
# back within 5 s.
conn_say() {
	local line
	printf '%s\n' "$1" >&"${CONN[1]}" || { fail "cannot write '$1' to the connection"; return 1; }
	read -r -t 5 line <&"${CONN[0]}" || { fail "no answer to '$1' on the long-lived connection"; return 1; }
	expect_eq "answer on the long-lived connection" "$line" "echo $1"
}

# conn_port: the external port of lan1's TCP session to server:8080.
conn_port() {
	conns_json | pyjson "[c['outside'].split(':')[1] for c in d if c['proto'] == 'tcp' and c['inside'].startswith('$TOPO_LAN1_ADDR:') and c['remote'] == '$TOPO_WAN_ADDR:8080'][0]"
}

# offload_setup on|off|mixed: TX checksum offload on the end hosts; "mixed"
# is on for the end hosts and off on the gateway, which then completes the
# senders' partial checksums in software after translation, for the
# receivers to verify (see topo_gw_offload).
offload_setup() {
	case $1 in
	on | off)
		topo_offload "$1" || { fail "ethtool -K tx $1"; return 1; }
		note "checksum offload $1 on the end hosts"
		;;
	mixed)
		{ topo_offload on && topo_gw_offload off; } || { fail "ethtool -K tx (mixed)"; return 1; }
		note "checksum offload on on the end hosts, off on the gateway"
		;;
	*)
		fail "offload_setup: on, off or mixed"
		;;
	esac
}

# file_sha FILE: its sha256.
file_sha() { sha256sum "$1" | cut -d' ' -f1; }

# tcp_download NS ADDR PORT FILE SECS: a server in NS sends FILE; lan1
# fetches it from ADDR:PORT; it must arrive intact within SECS.
tcp_download() {
	local ns=$1 addr=$2 port=$3 data=$4 secs=$5 out=$TOPO_TMP/down.$3 t0
	topo_bg "$ns" timeout "$secs" socat -u FILE:"$data" TCP4-LISTEN:"$port",reuseaddr
	wait_until 5 listening "$ns" tcp "$port" ||
		{ fail "download server on $addr did not start"; return 1; }
	t0=$SECONDS
	timeout "$secs" ip netns exec "$NS_LAN1" socat -u \
		TCP4:"$addr":"$port",connect-timeout=3 CREATE:"$out" ||
		{ fail "download from $addr failed or timed out"; csum_report; return 1; }
	expect_eq "sha256 of what lan1 downloaded from $addr" \
		"$(file_sha "$out")" "$(file_sha "$data")" || return 1
	note "download from $addr: $(($(stat -c %s "$data") >> 20)) MB intact in $((SECONDS - t0))s"
}

# tcp_upload NS ADDR PORT FILE SECS: lan1 sends FILE to a server in NS at
# ADDR:PORT, which stores it; it must arrive intact within SECS.
tcp_upload() {
	local ns=$1 addr=$2 port=$3 data=$4 secs=$5 out=$TOPO_TMP/up.$3 pid t0
	topo_bg "$ns" timeout "$secs" socat -u TCP4-LISTEN:"$port",reuseaddr CREATE:"$out"
	pid=$TOPO_BG_PID
	wait_until 5 listening "$ns" tcp "$port" ||
		{ fail "upload server on $addr did not start"; return 1; }
	t0=$SECONDS
	timeout "$secs" ip netns exec "$NS_LAN1" socat -u \
		FILE:"$data" TCP4:"$addr":"$port",connect-timeout=3 ||
		{ fail "upload to $addr failed or timed out"; csum_report; return 1; }
	wait "$pid" # bounded by its timeout; the server exits at EOF
	expect_eq "sha256 of what lan1 uploaded to $addr" \
		"$(file_sha "$out")" "$(file_sha "$data")" || return 1
	note "upload to $addr: $(($(stat -c %s "$data") >> 20)) MB intact in $((SECONDS - t0))s"
}
