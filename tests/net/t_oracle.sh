# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
#
# nft's masquerade as a differential oracle: each scenario makes the same
# observation twice on one topology, first through the kernel's own
# `nft ... oifname wan0 masquerade` (no bpfmasq attached), then, with the
# ruleset and every conntrack entry gone, through bpfmasq, and compares what
# the peers saw: the source the server sees, whether replies arrive, the
# hops of a traceroute, the path MTU, ICMP errors both ways, fragments, many
# flows, two hosts on one source port. Where bpfmasq differs on purpose
# (endpoint-independent mapping, random pool ports instead of the inside
# port, no malformed packet forwarded untranslated), the scenario names the
# difference with both values and asserts bpfmasq's side.
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
	bpfmasq)
		# ORACLE_RUN: under `bpfmasq run`, as a gateway runs it.
		if [[ -n ${ORACLE_RUN:-} ]]; then
			nat_run_daemon
		else
			nat_attach
		fi
		;;
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

# oracle_counted COUNTER WHAT: bpfmasq's COUNTER (stats, after its run)
# counted WHAT, the packets it treats unlike nft.
oracle_counted() {
	local n
	n=$(nat_stat "$1") || return 1
	note "bpfmasq's $1 counter: $n"
	((n >= 1)) || fail "stats: $1 is $n, expected $2 in it"
}

# yes_no CMD...: "yes" if CMD succeeds, else "no".
yes_no() { if "$@"; then echo yes; else echo no; fi; }

# answered PORT...: none of the ports oracle_udp printed is "none".
answered() { [[ " $* " != *" none "* ]]; }

# two_ports P1 P2, same_port P1 P2: both flows were answered, the server
# saw them from two ports, from one.
two_ports() { answered "$1" "$2" && [[ $1 != "$2" ]]; }
same_port() { answered "$1" "$2" && [[ $1 == "$2" ]]; }

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
# port, open TCP connections from port 40000 to the same server port at
# once, and ping at once with the same echo identifier.
obs_same_sport() {
	local a1 p1 a2 p2 h ns kept=0 pids=()
	read -r a1 p1 < <(oracle_udp "$NS_LAN1" 40000 same-lan1)
	read -r a2 p2 < <(oracle_udp "$NS_LAN2" 40000 same-lan2)
	echo "udp.src $a1 $a2"
	echo "udp.distinct_ports $(yes_no two_ports "$p1" "$p2")"
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
	echo "tcp.distinct_ports $(yes_no two_ports "${p1##*:}" "${p2##*:}")"
	# And ping, both hosts at once with one echo identifier. lan2 starts
	# 0.3 s after lan1, so that the two first echoes do not meet in one
	# instant in nft's conntrack, where one of two new entries given the
	# same translation loses the insert and its packet is dropped; and
	# with -w each ping sends until it has its 5 replies, so that one
	# echo lost on a busy machine does not count as the NAT's.
	pids=()
	for h in lan1 lan2; do
		if [[ $h == lan1 ]]; then ns=$NS_LAN1; else ns=$NS_LAN2; fi
		[[ $h == lan2 ]] && sleep 0.3
		timeout 15 ip netns exec "$ns" ping -e 4242 -c 5 -i 0.2 -w 10 -q "$TOPO_WAN_ADDR" \
			>"$TOPO_TMP/ping.$ORACLE_NAT.$h" 2>&1 &
		pids+=($!)
	done
	wait "${pids[@]}" # bounded by their timeout 15
	for h in lan1 lan2; do
		echo "ping.$h.received $(sed -n 's/.* \([0-9]*\) received.*/\1/p' "$TOPO_TMP/ping.$ORACLE_NAT.$h")"
	done
}

t_oracle_same_sport() {
	tcp_server "$NS_WAN" 8080 || return 1
	udp_server "$NS_WAN" 9000 || return 1
	oracle_run obs_same_sport || return 1
	local rc=0
	oracle_same udp.src udp.distinct_ports tcp.lan1.reply tcp.lan2.reply tcp.src tcp.distinct_ports \
		ping.lan1.received ping.lan2.received || rc=1
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
	echo "answered $(yes_no answered "$p0" "$p1" "$p2")"
	echo "lan1.one_port_all_remotes $(yes_no same_port "$p1" "$p2")"
	echo "lan1_lan2.share_a_port $(yes_no same_port "$p1" "$p0")"
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

# ---- ICMP errors -------------------------------------------------------------

# obs_icmp: inbound, the server's port unreachable for lan1's and lan2's
# datagrams to a closed port; outbound, lan1's port unreachable for a
# datagram the server sent to lan1's mapping after lan1 closed its socket,
# as the server captures it (_ICMP_OUT_PY, t_pmtu.sh: run.sh sources every
# t_*.sh into one shell).
obs_icmp() {
	local go=$TOPO_TMP/icmp-go.$ORACLE_NAT res=$TOPO_TMP/icmp-out.$ORACLE_NAT n0 pid out ext js q
	n0=$(ip netns exec "$NS_LAN1" nstat -asz IcmpInDestUnreachs | awk '$1 == "IcmpInDestUnreachs" { print $2 }')
	echo "in.lan1.out-range $(UDP_DST=9999 udp_call "$NS_LAN1" 40003 closed 3 --connect)"
	echo "in.lan2.in-range $(UDP_DST=9999 udp_call "$NS_LAN2" 20003 closed 3 --connect)"
	echo "in.lan1.unreachables $(($(ip netns exec "$NS_LAN1" nstat -asz IcmpInDestUnreachs | awk '$1 == "IcmpInDestUnreachs" { print $2 }') - n0))"

	# shellcheck disable=SC2154 # _ICMP_OUT_PY is t_pmtu.sh's
	TOPO_BG_LOG=$res topo_bg "$NS_WAN" timeout 20 python3 -c "$_ICMP_OUT_PY" 9100 "$go" 5
	pid=$TOPO_BG_PID
	wait_until 5 listening "$NS_WAN" udp 9100 || { fail "the server on 9100 did not start"; return 1; }
	out=$(UDP_DST=9100 udp_call "$NS_LAN1" 40004 hello 3 --first)
	ext=$(sed -n "s/^from .* reply .*:\([0-9]*\)\$/\1/p" <<<"$out")
	touch "$go"
	wait "$pid" # bounded by its timeout 20
	js=$(tail -n 1 "$res")
	note "$ORACLE_NAT: the server captured $(pyjson '{k: v for k, v in d.items() if k != "hex"}' <<<"$js")"
	pyjson "'\\n'.join('out.%s %s' % (k, d.get(k)) for k in
		('src', 'dst', 'type', 'code', 'q_src', 'q_dst', 'q_proto', 'q_sport',
		 'ip_csum_ok', 'icmp_csum_ok', 'q_ip_csum_ok', 'q_udp_csum_ok'))" <<<"$js"
	q=$(pyjson "d.get('q_dport')" <<<"$js")
	echo "out.q_dport_is_the_port_the_server_saw $(yes_no [ "${ext:-none}" = "$q" ])"
	echo "out.lan1_address_in_packet $(pyjson "'hex' in d and bytes.fromhex(d['hex']).find(bytes([${TOPO_LAN1_ADDR//./, }])) >= 0" <<<"$js")"
}

t_oracle_icmp() {
	offload_setup off || return 1
	oracle_run obs_icmp || return 1
	oracle_same in.lan1.out-range in.lan2.in-range in.lan1.unreachables \
		out.src out.dst out.type out.code out.q_src out.q_dst out.q_proto out.q_sport \
		out.ip_csum_ok out.icmp_csum_ok out.q_ip_csum_ok out.q_udp_csum_ok \
		out.q_dport_is_the_port_the_server_saw out.lan1_address_in_packet
}
net_test oracle_icmp.tc in_mode tc t_oracle_icmp
net_test oracle_icmp.xdp in_mode xdp t_oracle_icmp

# ---- the path: time exceeded, fragmentation needed -------------------------

# obs_path: lan1 towards far, behind the server over a 1280-byte link:
# ping -M do (fragmentation needed from the server, the PMTU lan1 learns
# from it), tracepath (both again, found by itself) and traceroute in its
# three modes (time exceeded from the server, far's answers), and a TCP
# upload that meets the narrow link with full-size segments.
obs_path() {
	local out mode
	# shellcheck disable=SC1010 # "do" is ping's argument
	out=$(nsx "$NS_LAN1" ping -M do -s 1400 -c 1 -W 2 "$TOPO_FAR_ADDR" 2>&1)
	echo "ping.reported_mtu $(grep -Eo 'mtu ?= ?[0-9]+' <<<"$out" | grep -Eo '[0-9]+$' | head -n 1)"
	echo "ping.route_mtu $(_pmtu_route_mtu "$NS_LAN1")"
	ip -n "$NS_LAN1" route flush cache || return 1
	out=$(timeout 15 ip netns exec "$NS_LAN1" tracepath -n -m 5 "$TOPO_FAR_ADDR" 2>&1)
	echo "tracepath.resume $(sed -n 's/^ *Resume: //p' <<<"$out")"
	echo "tracepath.route_mtu $(_pmtu_route_mtu "$NS_LAN1")"
	local -A opts=([udp]="" [icmp]="-I" [tcp]="-T -p 8080")
	for mode in udp icmp tcp; do
		# shellcheck disable=SC2086 # the options are words
		out=$(nsx "$NS_LAN1" traceroute -n -q 1 -w 1 -m 5 ${opts[$mode]} "$TOPO_FAR_ADDR" 2>&1)
		echo "traceroute.$mode $(_trace_hops <<<"$out" | paste -sd, -)"
	done
	# TCP has to discover the PMTU from the translated errors: far
	# advertises the MSS of a 1500-byte path (t_oracle_path).
	ip -n "$NS_LAN1" route flush cache || return 1
	echo "tcp_upload.intact $(yes_no tcp_upload "$NS_FAR" "$TOPO_FAR_ADDR" 5002 "$TOPO_TMP/oracle-data" 30)"
	echo "tcp_upload.route_mtu $(_pmtu_route_mtu "$NS_LAN1")"
}

t_oracle_path() {
	local ns
	topo_far_create || { fail "could not build the far link"; return 1; }
	# Every hop's ICMP errors go to one address (the gateway's, or lan1's
	# from the gateway itself): without this, nft's run would spend the
	# per-destination rate limit that bpfmasq's run needs.
	for ns in "$NS_GW" "$NS_WAN" "$NS_FAR"; do
		ip netns exec "$ns" sysctl -qw net.ipv4.icmp_ratelimit=0 >/dev/null || return 1
	done
	tcp_server "$NS_FAR" 8080 || return 1
	ip -n "$NS_FAR" route change default via "$TOPO_FAR_ROUTER" advmss 1460 || return 1
	head -c 2M /dev/urandom >"$TOPO_TMP/oracle-data" || return 1
	oracle_run obs_path || return 1
	oracle_same ping.reported_mtu ping.route_mtu tracepath.resume tracepath.route_mtu \
		traceroute.udp traceroute.icmp traceroute.tcp tcp_upload.intact tcp_upload.route_mtu
}
net_test oracle_path.tc in_mode tc t_oracle_path
net_test oracle_path.xdp in_mode xdp t_oracle_path

# ---- fragments ----------------------------------------------------------------

# obs_fragments: datagrams and echo requests larger than the MTU from lan1,
# and the replies as large, cross as IPv4 fragments both ways; a datagram
# to lan1's mapping whose fragments arrive in order, and last first.
obs_fragments() {
	local size big out
	for size in 4000 8000 30000; do
		big=$(head -c "$size" /dev/zero | tr '\0' 'x')
		out=$(udp_call "$NS_LAN1" 40005 "$big" 3 --first)
		echo "udp.$size.src $(sed -n 's/^from .* reply \([0-9.]*\):[0-9]* .*/\1/p' <<<"$out")"
		echo "udp.$size.intact_reply $(yes_no [ "${out##* }" = "$big" ])"
		out=$(nsx "$NS_LAN1" ping -s "$size" -c 2 -i 0.2 -W 2 -q "$TOPO_WAN_ADDR")
		echo "ping.$size.received $(sed -n 's/.* \([0-9]*\) received.*/\1/p' <<<"$out")"
	done
	oracle_frags | sed 's/^/frags./'
}

# oracle_frags: lan1 keeps a socket open for 3 s after the server
# answered it; the server sends two datagrams to the mapping from a raw
# socket, in fragments: 3000 bytes in order, then 3001 bytes last fragment
# first. Prints "in-order.delivered yes|no" and "reversed.delivered
# yes|no": whether lan1 got each whole.
oracle_frags() {
	local log=$TOPO_TMP/frags.$ORACLE_NAT pid peer
	TOPO_BG_LOG=$log topo_bg "$NS_LAN1" timeout 10 python3 "$NETTOOL" udp-client \
		--to "$TOPO_WAN_ADDR:9000" --bind-port 40008 --send frags --wait 3
	pid=$TOPO_BG_PID
	wait_until 3 grep -q " reply " "$log"
	peer=$(sed -n 's/^from .* reply \([0-9.]*:[0-9]*\) .*/\1/p' "$log")
	if [[ -n $peer ]]; then
		nsx "$NS_WAN" python3 "$NETTOOL" udp-frags --src "$TOPO_WAN_ADDR:9000" --dst "$peer" --size 3000
		nsx "$NS_WAN" python3 "$NETTOOL" udp-frags --src "$TOPO_WAN_ADDR:9000" --dst "$peer" --size 3001 --reverse
	fi
	wait "$pid" # bounded by its timeout 10
	echo "in-order.delivered $(yes_no grep -Eq "^from ${TOPO_WAN_ADDR//./\\.}:9000 f{3000}\$" "$log")"
	echo "reversed.delivered $(yes_no grep -Eq "^from ${TOPO_WAN_ADDR//./\\.}:9000 f{3001}\$" "$log")"
}

t_oracle_fragments() {
	local size rc=0
	udp_server "$NS_WAN" 9000 || return 1
	ORACLE_RUN=1 oracle_run obs_fragments || return 1
	for size in 4000 8000 30000; do
		oracle_same "udp.$size.src" "udp.$size.intact_reply" "ping.$size.received" || rc=1
	done
	# nft reassembles before it translates; bpfmasq's run holds the
	# fragments that come before their first one.
	oracle_same frags.in-order.delivered frags.reversed.delivered || rc=1
	oracle_counted fragment_held "the reversed datagram's later fragments" || rc=1
	return $rc
}
net_test_alone oracle_fragments.tc in_mode tc t_oracle_fragments
net_test_alone oracle_fragments.xdp in_mode xdp t_oracle_fragments

# ---- many flows ----------------------------------------------------------------

ORACLE_FLOWS=300

# obs_flows: ORACLE_FLOWS UDP flows from lan1, from ports the kernel picks
# (in ip_local_port_range), each answered by the server with the source it
# saw.
obs_flows() {
	local out lo hi
	out=$(timeout 20 ip netns exec "$NS_LAN1" python3 "$NETTOOL" udp-flows \
		--to "$TOPO_WAN_ADDR:9000" --count "$ORACLE_FLOWS" --wait 8)
	read -r lo hi < <(ip netns exec "$NS_GW" sysctl -n net.ipv4.ip_local_port_range)
	grep '^answered ' <<<"$out"
	# "flow LOCAL-PORT reply ADDR:PORT flow-N"
	awk -v lo="$lo" -v hi="$hi" '$1 == "flow" {
		split($4, e, ":"); addr[e[1]]; port[e[2]]; n++
		if (e[2] == $2) kept++
		if (e[2] < lo || e[2] > hi) outside++
	} END {
		for (a in addr) src = src (src == "" ? "" : ",") a
		for (p in port) distinct++
		printf "src %s\ndistinct_ports %d\nports_kept %d\noutside_local_range %d\n", src, distinct, kept, outside
	}' <<<"$out"
}

t_oracle_flows() {
	udp_server "$NS_WAN" 9000 || return 1
	oracle_run obs_flows || return 1
	local rc=0
	oracle_same answered src distinct_ports || rc=1
	oracle_differs ports_kept \
		"bpfmasq draws every port from its pool (RFC 6056), nft keeps the inside port" 0 || rc=1
	oracle_differs outside_local_range \
		"bpfmasq's pool leaves out ip_local_port_range, where the gateway's own sockets live" "$ORACLE_FLOWS" || rc=1
	return $rc
}
net_test oracle_flows.tc in_mode tc t_oracle_flows
net_test oracle_flows.xdp in_mode xdp t_oracle_flows

# ---- malformed packets -------------------------------------------------------

# obs_malformed: lan1 sends a SYN to the server's 8081 whose data offset
# is shorter than a TCP header, and a well-formed SYN to 8082 (so that
# "nothing arrived" means something); the server's packet socket records
# what reaches it.
obs_malformed() {
	local ready=$TOPO_TMP/sniff-ready.$ORACLE_NAT log=$TOPO_TMP/sniff.$ORACLE_NAT pid seen
	TOPO_BG_LOG=$log topo_bg "$NS_WAN" timeout 10 python3 "$NETTOOL" sniff --iface eth0 \
		--proto 6 --dport 8081 --dport 8082 --ready "$ready" --wait 3
	pid=$TOPO_BG_PID
	wait_until 5 test -e "$ready" || { fail "the server's packet socket did not start"; return 1; }
	nsx "$NS_LAN1" python3 "$NETTOOL" tcp-malformed \
		--src "$TOPO_LAN1_ADDR:40006" --dst "$TOPO_WAN_ADDR:8081" || return 1
	nsx "$NS_LAN1" python3 "$NETTOOL" tcp-spoof --flags S --seq 1 \
		--src "$TOPO_LAN1_ADDR:40007" --dst "$TOPO_WAN_ADDR:8082" || return 1
	wait "$pid" # bounded by its timeout 10
	seen=$(awk '$1 == "seen" && $3 == 8081 { print $2 }' "$log" | paste -sd, -)
	echo "malformed.seen_by_server ${seen:-nothing}"
	seen=$(awk '$1 == "seen" && $3 == 8082 { sub(/:.*/, "", $2); print $2 }' "$log" | paste -sd, -)
	echo "wellformed.src ${seen:-nothing}"
}

t_oracle_malformed() {
	local rc=0
	oracle_run obs_malformed || return 1
	oracle_same wellformed.src || rc=1
	oracle_differs malformed.seen_by_server \
		"conntrack finds the segment invalid and leaves it untranslated, so nft forwards it with the inside address; bpfmasq drops it" nothing || rc=1
	oracle_counted malformed "the dropped segment" || rc=1
	return $rc
}
net_test oracle_malformed.tc in_mode tc t_oracle_malformed
net_test oracle_malformed.xdp in_mode xdp t_oracle_malformed
