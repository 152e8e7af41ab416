# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
#
# nft's masquerade as a differential oracle: each scenario makes the same
# observation twice on one topology, first through the kernel's own
# `nft ... oifname wan0 masquerade` (no bpfmasq attached), then, with the
# ruleset and every conntrack entry gone, through bpfmasq, and compares what
# the peers saw: the source the server sees, whether replies arrive, two
# hosts on one source port. Where bpfmasq differs on purpose
# (endpoint-independent mapping, random pool ports instead of the inside
# port) the scenario names the difference with both values and asserts
# bpfmasq's side.
#
# An observation is a function that prints "KEY VALUE" lines (notes go to
# stderr) and runs under whichever NAT oracle_run set up; ORACLE_NAT names
# it, for the file names that must not be shared between the two runs.
# bpfmasq stays attached at the end, for the runner's state check. Each
# scenario runs with bpfmasq in both ingress modes: NAME.tc (TC ingress,
# the default on veth) and NAME.xdp (--mode native).

declare -gA ORACLE=()

# oracle_nat_up nft|bpfmasq
oracle_nat_up() {
	case $1 in
	nft)
		command -v nft >/dev/null || { fail "nft is not installed (package nftables)"; return 1; }
		command -v conntrack >/dev/null || { fail "conntrack is not installed (package conntrack)"; return 1; }
		ip netns exec "$NS_GW" nft -f - <<-EOF || { fail "nft masquerade ruleset"; return 1; }
			add table ip oracle
			add chain ip oracle post { type nat hook postrouting priority srcnat; }
			add rule ip oracle post oifname "$WAN" ip saddr $TOPO_INTERNAL masquerade
		EOF
		;;
	bpfmasq) nat_attach ;;
	*)
		fail "oracle_nat_up: nft or bpfmasq"
		return 1
		;;
	esac
}

# oracle_nat_down: remove nft's ruleset and its bindings (they live in the
# conntrack entries, not in the rule), and check that nothing of either is
# left for bpfmasq's run to meet.
oracle_nat_down() {
	local left n
	ip netns exec "$NS_GW" nft flush ruleset || { fail "nft flush ruleset"; return 1; }
	timeout 10 ip netns exec "$NS_GW" conntrack -F >/dev/null 2>&1
	left=$(ip netns exec "$NS_GW" nft list ruleset)
	expect_eq "nft ruleset on the gateway after the flush" "$left" "" || return 1
	n=$(timeout 10 ip netns exec "$NS_GW" conntrack -C 2>/dev/null)
	expect_eq "conntrack entries on the gateway after the flush" "$n" 0
}

# oracle_run OBSERVATION ARGS...: run the observation under nft, then
# under bpfmasq; its lines land in ORACLE[nft:KEY] and ORACLE[bpfmasq:KEY].
# The inside hosts forget what the first run taught them (PMTU
# exceptions) before each run.
oracle_run() {
	local nat out key val ns
	for nat in nft bpfmasq; do
		for ns in "$NS_LAN1" "$NS_LAN2"; do
			ip -n "$ns" route flush cache || return 1
		done
		oracle_nat_up "$nat" || return 1
		out=$(ORACLE_NAT=$nat "$@") || { fail "$1 could not run under $nat"; return 1; }
		if [[ $nat == nft ]]; then
			oracle_nat_down || return 1
		fi
		while read -r key val; do
			[[ -n $key ]] && ORACLE[$nat:$key]=$val
		done <<<"$out"
	done
}

# oracle_same KEY...: each was observed, and the same, under both NATs.
oracle_same() {
	local key a b rc=0
	for key; do
		a=${ORACLE[nft:$key]-} b=${ORACLE[bpfmasq:$key]-}
		if [[ -z $a || -z $b ]]; then
			fail "$key was not observed: nft masquerade '$a', bpfmasq '$b'"
			rc=1
		elif [[ $a == "$b" ]]; then
			note "same     $key: '$a'"
		else
			fail "$key: nft masquerade '$a', bpfmasq '$b'"
			rc=1
		fi
	done
	return $rc
}

# oracle_differs KEY WHY EXPECTED: a difference bpfmasq makes on purpose,
# named with both values; bpfmasq's side must be EXPECTED.
oracle_differs() {
	note "differs  $1: nft masquerade '${ORACLE[nft:$1]-}', bpfmasq '${ORACLE[bpfmasq:$1]-}': $2"
	expect_eq "$1 under bpfmasq" "${ORACLE[bpfmasq:$1]-}" "$3"
}

# yes_no CMD...: "yes" if CMD succeeds, else "no".
yes_no() { if "$@"; then echo yes; else echo no; fi; }

# oracle_udp NS BIND_PORT MSG: one datagram to the server's
# ${UDP_DST:-9000}; prints the source the server saw, "ADDR PORT", or
# "none none" when no reply came back.
oracle_udp() {
	local out peer
	out=$(udp_call "$1" "$2" "$3" 3 --first)
	peer=$(sed -n "s/^from ${TOPO_WAN_ADDR//./\\.}:${UDP_DST:-9000} reply \([0-9.]*\):\([0-9]*\) .*/\1 \2/p" <<<"$out")
	echo "${peer:-none none}"
}

# ---- what the server sees, and the replies ---------------------------------

# obs_basic: TCP, UDP and ping from both inside hosts; UDP from an inside
# port outside bpfmasq's range (4000N for lanN, in ip_local_port_range) and
# from one inside it (2000N): a port of each host's own, which nft can keep.
obs_basic() {
	local h ns out bport addr port range
	for h in lan1 lan2; do
		if [[ $h == lan1 ]]; then ns=$NS_LAN1; else ns=$NS_LAN2; fi
		out=$(tcp_call "$ns" "$TOPO_WAN_ADDR" 8080 "tcp-$h")
		echo "tcp.$h.src $(sed -n 's/^peer \(.*\):[0-9]*$/\1/p' <<<"$out")"
		echo "tcp.$h.reply $(yes_no grep -qx "echo tcp-$h" <<<"$out")"
		for range in out in; do
			if [[ $range == out ]]; then bport=4000${h#lan}; else bport=2000${h#lan}; fi
			read -r addr port < <(oracle_udp "$ns" "$bport" "udp-$h")
			echo "udp.$h.$range-range.src $addr"
			echo "udp.$h.$range-range.port_kept $(yes_no [ "$port" = "$bport" ])"
		done
		out=$(nsx "$ns" ping -c 3 -i 0.2 -W 2 -q "$TOPO_WAN_ADDR")
		echo "ping.$h.received $(sed -n 's/.* \([0-9]*\) received.*/\1/p' <<<"$out")"
	done
}

t_oracle_basic() {
	local h range rc=0
	tcp_server "$NS_WAN" 8080 || return 1
	udp_server "$NS_WAN" 9000 || return 1
	oracle_run obs_basic || return 1
	for h in lan1 lan2; do
		oracle_same "tcp.$h.src" "tcp.$h.reply" "ping.$h.received" || rc=1
		for range in out in; do
			oracle_same "udp.$h.$range-range.src" || rc=1
			oracle_differs "udp.$h.$range-range.port_kept" \
				"every external port comes from bpfmasq's pool (RFC 6056); nft keeps a free inside port" no || rc=1
		done
	done
	return $rc
}
net_test oracle_basic.tc in_mode tc t_oracle_basic
net_test oracle_basic.xdp in_mode xdp t_oracle_basic

# ---- two hosts, one source port; mappings ------------------------------------

# obs_same_sport: lan1 and lan2 send UDP from port 40000 to the same server
# port, and open TCP connections from port 40000 to the same server port
# at once.
obs_same_sport() {
	local a1 p1 a2 p2 h ns kept=0 pids=()
	read -r a1 p1 < <(oracle_udp "$NS_LAN1" 40000 same-lan1)
	read -r a2 p2 < <(oracle_udp "$NS_LAN2" 40000 same-lan2)
	echo "udp.src $a1 $a2"
	echo "udp.distinct_ports $(yes_no [ "$p1" != none ] && [ "$p2" != none ] && [ "$p1" != "$p2" ])"
	[[ $p1 == 40000 ]] && kept=$((kept + 1))
	[[ $p2 == 40000 ]] && kept=$((kept + 1))
	echo "udp.hosts_keeping_40000 $kept"
	# Both connections at once; nft's conntrack keeps a closed one's tuple
	# for a while, so they clash there even if they do not overlap.
	for h in lan1 lan2; do
		if [[ $h == lan1 ]]; then ns=$NS_LAN1; else ns=$NS_LAN2; fi
		tcp_call "$ns" "$TOPO_WAN_ADDR" 8080 "tcp-$h" sourceport=40000,reuseaddr \
			>"$TOPO_TMP/same.$ORACLE_NAT.$h" 2>&1 &
		pids+=($!)
	done
	wait "${pids[@]}" # bounded by tcp_call's timeout
	for h in lan1 lan2; do
		echo "tcp.$h.reply $(yes_no grep -qx "echo tcp-$h" "$TOPO_TMP/same.$ORACLE_NAT.$h")"
	done
	p1=$(sed -n 's/^peer //p' "$TOPO_TMP/same.$ORACLE_NAT.lan1")
	p2=$(sed -n 's/^peer //p' "$TOPO_TMP/same.$ORACLE_NAT.lan2")
	p1=${p1:-none:none} p2=${p2:-none:none}
	echo "tcp.src ${p1%:*} ${p2%:*}"
	echo "tcp.distinct_ports $(yes_no [ "$p1" != none:none ] && [ "$p2" != none:none ] && [ "${p1##*:}" != "${p2##*:}" ])"
}

t_oracle_same_sport() {
	tcp_server "$NS_WAN" 8080 || return 1
	udp_server "$NS_WAN" 9000 || return 1
	oracle_run obs_same_sport || return 1
	local rc=0
	oracle_same udp.src udp.distinct_ports tcp.lan1.reply tcp.lan2.reply tcp.src tcp.distinct_ports || rc=1
	oracle_differs udp.hosts_keeping_40000 \
		"nft keeps the first host's port and moves the second; bpfmasq gives both a pool port" 0 || rc=1
	return $rc
}
net_test oracle_same_sport.tc in_mode tc t_oracle_same_sport
net_test oracle_same_sport.xdp in_mode xdp t_oracle_same_sport

# obs_mapping: lan2:40000 talks to the server's 9001, then lan1:40000 to
# 9000 and to 9001. nft keeps port 40000 wherever the resulting tuple is
# unique, so lan1 shares lan2's external port (towards another remote) and
# has to move only towards 9001; bpfmasq gives each inside endpoint one
# external port of its own whatever the destination.
obs_mapping() {
	local a0 p0 a1 p1 a2 p2
	read -r a0 p0 < <(UDP_DST=9001 oracle_udp "$NS_LAN2" 40000 map-lan2)
	read -r a1 p1 < <(oracle_udp "$NS_LAN1" 40000 map-lan1-9000)
	read -r a2 p2 < <(UDP_DST=9001 oracle_udp "$NS_LAN1" 40000 map-lan1-9001)
	note "$ORACLE_NAT: lan2:40000 -> :9001 as $a0:$p0, lan1:40000 -> :9000 as $a1:$p1, -> :9001 as $a2:$p2"
	echo "src $a0 $a1 $a2"
	echo "answered $(yes_no [ "$p0" != none ] && [ "$p1" != none ] && [ "$p2" != none ])"
	echo "lan1.one_port_all_remotes $(yes_no [ "$p1" = "$p2" ])"
	echo "lan1_lan2.share_a_port $(yes_no [ "$p1" = "$p0" ])"
}

t_oracle_mapping() {
	udp_server "$NS_WAN" 9000 || return 1
	udp_server "$NS_WAN" 9001 || return 1
	oracle_run obs_mapping || return 1
	local rc=0
	oracle_same src answered || rc=1
	oracle_differs lan1.one_port_all_remotes \
		"endpoint-independent mapping (RFC 4787 REQ-1): one external port for an inside endpoint whatever the destination" yes || rc=1
	oracle_differs lan1_lan2.share_a_port \
		"bpfmasq shares a port between inside endpoints only when the pool is empty (--port-sharing)" no || rc=1
	return $rc
}
net_test oracle_mapping.tc in_mode tc t_oracle_mapping
net_test oracle_mapping.xdp in_mode xdp t_oracle_mapping
