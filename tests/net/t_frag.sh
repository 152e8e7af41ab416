# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
#
# Fragments in any order (RFC 4787 REQ-14), end to end, under `bpfmasq run`,
# whose hold sends on the fragments that come before their first one. The
# datagrams are fragmented by hand (fragtool.py, a raw socket), so that
# their order is the test's:
#
#  - frag_reverse: UDP datagrams of 3,000 and 8,000 bytes, last fragment
#    first: the server's answers reach lan1 whole, and lan1's reach the
#    server whole from the gateway's address. The counters say that every
#    inbound fragment that came early was held and sent on.
#  - frag_overlap: one more fragment overlapping two others goes where the
#    rest go, to lan1, and no fragment to lan2.
#  - frag_not_crossed: lan1's answer with every fragment sent twice, then a
#    first fragment of the same IP id to lan2's mapping, from the remote
#    lan2 talks to: lan1 gets its datagram; lan2 gets no fragment at all,
#    and the gateway counts the second first fragment as a conflict.

FRAGTOOL=$NET_DIR/fragtool.py
FRAG_SIZES=(3000 8000)

# nat_run_daemon: bpfmasq run on the gateway, in NAT_MODE's ingress mode,
# attached once it returns (its pid in DAEMON_PID).
nat_run_daemon() {
	local -a mode=()
	[[ ${NAT_MODE:-} == xdp ]] && mode=(--mode native)
	_start_daemon "$TOPO_TMP/run.log" --internal "$TOPO_INTERNAL" \
		--gc-interval 1 "${mode[@]}" || return 1
	[[ -z ${NAT_MODE:-} ]] || expect_mode "$(mode_of "$NAT_MODE")"
}

# _frag_held N: expected held fragments of a SIZE-byte datagram sent
# last-first, one per fragment but the first (1,480 bytes of it each).
_frag_held() { echo $(((8 + $1 + 1479) / 1480 - 1)); }

# _frag_in SIZE PORT ORDER [serve args]: the server answers lan1's datagram
# to PORT with SIZE bytes, fragments sent in ORDER: lan1 must get them
# whole.
_frag_in() {
	local size=$1 port=$2 order=$3 out
	shift 3
	TOPO_BG_LOG=$TOPO_TMP/serve.$port topo_bg "$NS_WAN" \
		python3 "$FRAGTOOL" serve "$port" "$size" "$order" "$@"
	wait_until 5 listening "$NS_WAN" udp "$port" ||
		{ fail "the server is not listening on udp $port"; return 1; }
	if ! out=$(nsx "$NS_LAN1" python3 "$FRAGTOOL" call "$TOPO_WAN_ADDR" \
		"$port" "$size" 2>&1); then
		indent_log <<<"$out"
		indent_log <"$TOPO_TMP/serve.$port"
		fail "lan1 did not get the $size-byte datagram sent $order"
		return 1
	fi
	note "in, $order: lan1 got $size bytes whole, sent to $(cat "$TOPO_TMP/serve.$port")"
}

# _frag_out SIZE PORT: lan1 sends SIZE bytes to the server's PORT, last
# fragment first: the server must get them whole, from the gateway.
_frag_out() {
	local size=$1 port=$2 pid from log=$TOPO_TMP/sink.$2
	TOPO_BG_LOG=$log topo_bg "$NS_WAN" python3 "$FRAGTOOL" sink "$port" "$size"
	pid=$TOPO_BG_PID
	wait_until 5 listening "$NS_WAN" udp "$port" ||
		{ fail "the server is not listening on udp $port"; return 1; }
	nsx "$NS_LAN1" python3 "$FRAGTOOL" push "$TOPO_LAN1_ADDR" \
		"$TOPO_WAN_ADDR" "$port" "$size" reverse ||
		{ fail "lan1 could not send its fragments"; return 1; }
	if ! wait "$pid"; then
		indent_log <"$log"
		fail "the server did not get lan1's $size-byte datagram whole"
		return 1
	fi
	from=$(cat "$log")
	[[ $from == "$TOPO_WAN_GW:"* ]] ||
		{ fail "the server saw $from, not the gateway's address"; return 1; }
	note "out, reverse: the server got $size bytes whole from $from"
}

# _frag_sent N: the daemon has sent N held fragments on.
_frag_sent() { [[ $(nat_stat fragments_sent_on) == "$1" ]]; }

# t_frag_reverse OFFLOAD
t_frag_reverse() {
	local offload=$1 size port=9100 held=0
	offload_setup "$offload" || return 1
	nat_run_daemon || return 1
	expect_eq "status: daemon_pid" "$(status_field daemon_pid)" "$DAEMON_PID" ||
		return 1
	for size in "${FRAG_SIZES[@]}"; do
		_frag_in "$size" $((port++)) reverse || return 1
		_frag_out "$size" $((port++)) || return 1
		held=$((held + $(_frag_held "$size")))
	done
	expect_eq "fragments held" "$(nat_stat fragment_held)" "$held" || return 1
	# Sent on as the first fragments came: by now, or within a second.
	wait_until 1 _frag_sent "$held"
	expect_eq "fragments sent on" "$(nat_stat fragments_sent_on)" "$held" || return 1
	expect_eq "fragments the hold lost" \
		"$(($(nat_stat fragments_expired) + $(nat_stat fragments_hold_full)))" 0 ||
		return 1
	no_csum_errors
}

# _frag_reasm NS: fragments NS's IP layer has been given to reassemble.
_frag_reasm() {
	ip netns exec "$1" nstat -asz IpReasmReqds 2>/dev/null |
		awk '$1 == "IpReasmReqds" { print $2 + 0 }'
}

t_frag_not_crossed() {
	local log2=$TOPO_TMP/lan2.log ext2 size=8000 dups
	nat_run_daemon || return 1
	# lan2's mapping: a datagram from its port 7777 to the server's 9300.
	TOPO_BG_LOG=$log2 topo_bg "$NS_LAN2" python3 "$FRAGTOOL" listen 7777 6 \
		"$TOPO_WAN_ADDR:9300"
	# shellcheck disable=SC2016 # expanded by pyjson's Python
	wait_until 5 eval 'conns_json | pyjson "[c for c in d if c[\"inside\"] == \"$TOPO_LAN2_ADDR:7777\"][0]"' ||
		{ fail "lan2's flow is not in conns"; return 1; }
	ext2=$(conns_json | pyjson "[c['outside'].split(':')[1] for c in d if c['inside'] == '$TOPO_LAN2_ADDR:7777'][0]") ||
		return 1
	note "lan2's flow leaves from $TOPO_WAN_GW:$ext2"

	_frag_in "$size" 9301 reverse --dup --conflict "$TOPO_WAN_GW:$ext2:9300" ||
		return 1
	expect_eq "first fragments that conflicted" "$(nat_stat fragment_conflict)" 1 ||
		return 1
	dups=$(_frag_held "$size")
	expect_eq "held copies discarded" "$(nat_stat fragments_duplicate)" "$dups" ||
		return 1
	sleep 0.5
	expect_eq "fragments that reached lan2" "$(_frag_reasm "$NS_LAN2")" 0 || return 1
	expect_eq "datagrams lan2 got" "$(wc -l <"$log2")" 0 || return 1
	no_csum_errors
}

# t_frag_overlap: lan1's answer last fragment first, with one more that
# overlaps two of them, held like the rest: every fragment reaches lan1
# (whose reassembly then decides: Linux drops a datagram whose fragments
# overlap), and none lan2, which talks to the same server at the time.
t_frag_overlap() {
	local size=8000 n r0 r1 log1=$TOPO_TMP/lan1.log
	nat_run_daemon || return 1
	TOPO_BG_LOG=$TOPO_TMP/lan2.log topo_bg "$NS_LAN2" python3 "$FRAGTOOL" \
		listen 7777 6 "$TOPO_WAN_ADDR:9300"
	TOPO_BG_LOG=$TOPO_TMP/serve.9302 topo_bg "$NS_WAN" \
		python3 "$FRAGTOOL" serve 9302 "$size" reverse --overlap
	wait_until 5 listening "$NS_WAN" udp 9302 ||
		{ fail "the server is not listening on udp 9302"; return 1; }
	r0=$(_frag_reasm "$NS_LAN1")
	TOPO_BG_LOG=$log1 topo_bg "$NS_LAN1" python3 "$FRAGTOOL" listen 7001 3 \
		"$TOPO_WAN_ADDR:9302"
	# The datagram's fragments and the overlapping one: all to lan1.
	n=$(($(_frag_held "$size") + 2))
	# shellcheck disable=SC2016 # expanded by eval, at each try
	wait_until 5 eval '(( $(_frag_reasm "$NS_LAN1") - r0 >= n ))'
	r1=$(_frag_reasm "$NS_LAN1")
	note "fragments lan1 was given: $((r1 - r0)) of $n; datagrams it took: $(wc -l <"$log1")"
	expect_eq "fragments that reached lan1" "$((r1 - r0))" "$n" || return 1
	expect_eq "fragments held" "$(nat_stat fragment_held)" "$((n - 1))" || return 1
	expect_eq "fragments that reached lan2" "$(_frag_reasm "$NS_LAN2")" 0
}

net_test_alone frag_reverse.tc.offload-off in_mode tc t_frag_reverse off
net_test_alone frag_reverse.tc.offload-on in_mode tc t_frag_reverse on
net_test_alone frag_reverse.xdp.offload-off in_mode xdp t_frag_reverse off
net_test_alone frag_reverse.xdp.offload-on in_mode xdp t_frag_reverse on
net_test_alone frag_not_crossed.tc in_mode tc t_frag_not_crossed
net_test_alone frag_not_crossed.xdp in_mode xdp t_frag_not_crossed
net_test_alone frag_overlap in_mode tc t_frag_overlap
