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
# shellcheck source=../../tools/topo.sh
source "$REPO_DIR/tools/topo.sh"

NETTOOL=$NET_DIR/nettool.py
WAN=$TOPO_WAN_IF

# Registered scenarios, in order: "name function args...".
NET_TESTS=()
net_test() { NET_TESTS+=("$*"); }

# ---- reporting -------------------------------------------------------------

# Both write to stderr, so that they show in the log even from inside $(...).
fail() {
	echo "    FAIL: $*" >&2
	return 1
}
note() { echo "    $*" >&2; }

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
nat_attach() {
	local out
	local -a internal=(--internal "$TOPO_INTERNAL")
	[[ ${NAT_DEFAULTS:-0} == 1 ]] && internal=()
	if ! out=$(bmq attach "$WAN" "${internal[@]}" "$@" 2>&1); then
		echo "$out" | sed 's/^/    | /' >&2
		fail "bpfmasq attach $WAN $*"
		return 1
	fi
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
			ip netns exec "$ns" nstat -asz 2>/dev/null | grep InCsumErrors | sed 's/^/    | /' >&2
			fail "$n checksum errors in ${ns#"$TOPO_PREFIX"-}"
			rc=1
		fi
	done
	return $rc
}

xdp_attached() { ip -n "$NS_GW" link show dev "$WAN" | grep -qE '\bxdp(generic|drv|offload)?\b|prog/xdp'; }
tc_filters() { tc -n "$NS_GW" filter show dev "$WAN" egress 2>/dev/null; }
pins_dir() { echo "$BPFMASQ_BPFFS/bpfmasq/$WAN"; }

# nothing_attached: no XDP, no egress filter, no pins.
nothing_attached() {
	local rc=0
	xdp_attached && { fail "XDP program still on $WAN: $(ip -n "$NS_GW" link show dev "$WAN" | tr '\n' ' ')"; rc=1; }
	[[ -z $(tc_filters) ]] || { fail "TC egress filter still on $WAN: $(tc_filters | tr '\n' ' ')"; rc=1; }
	[[ ! -e $(pins_dir) ]] || { fail "pin directory $(pins_dir) still exists: $(ls "$(pins_dir)" | tr '\n' ' ')"; rc=1; }
	return $rc
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
		topo_offload on && topo_gw_offload off || { fail "ethtool -K tx (mixed)"; return 1; }
		note "checksum offload on on the end hosts, off on the gateway"
		;;
	*)
		fail "offload_setup: on, off or mixed"
		;;
	esac
}
