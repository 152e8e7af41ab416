# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
#
# Filtering: nothing reaches an inside host unless it sent something first,
# and, by default (address-and-port-dependent filtering, RFC 4787 REQ-8),
# only from the very endpoint it sent to. With --filtering independent
# ("full cone") anyone may answer on a live mapping. The filtering is done
# where replies are translated, so it runs in both ingress modes (.tc, the
# default on veth, and .xdp, --mode native).

# _filter_args MODE: attach options for a filtering mode.
_filter_args() {
	[[ $1 == independent ]] && echo "--filtering independent"
}

# t_unsolicited MODE: with no state at all, connections and datagrams from
# the server to the gateway's address never reach lan1, which listens on
# those very ports and records anything it gets.
t_unsolicited() {
	local mode=$1 port out
	# shellcheck disable=SC2046
	nat_attach $(_filter_args "$mode") || return 1
	: >"$TOPO_TMP/rec"
	for port in 20080 2222 40000; do
		tcp_recorder "$NS_LAN1" "$port" "$TOPO_TMP/rec" || return 1
		if out=$(tcp_call "$NS_WAN" "$TOPO_WAN_GW" "$port" knock); then
			fail "server -> $TOPO_WAN_GW:$port/tcp connected (got '$out')"
			return 1
		fi
	done
	udp_server "$NS_LAN1" 20053 --log "$TOPO_TMP/rec" || return 1
	timeout 5 ip netns exec "$NS_WAN" python3 "$NETTOOL" udp-client \
		--to "$TOPO_WAN_GW:20053" --send knock --wait 1 >/dev/null
	sleep 0.5
	if [[ -s $TOPO_TMP/rec ]]; then
		fail "unsolicited traffic reached lan1 from: $(tr '\n' ' ' <"$TOPO_TMP/rec")"
		return 1
	fi
	note "nothing reached lan1"
}
net_test unsolicited.tc.dependent in_mode tc t_unsolicited dependent
net_test unsolicited.tc.independent in_mode tc t_unsolicited independent
net_test unsolicited.xdp.dependent in_mode xdp t_unsolicited dependent
net_test unsolicited.fast.dependent in_mode fast t_unsolicited dependent
net_test unsolicited.xdp.independent in_mode xdp t_unsolicited independent
net_test unsolicited.fast.independent in_mode fast t_unsolicited independent

# _unreachable_from_wan ADDR: the server, which routes ADDR to the gateway,
# cannot reach lan1 there by TCP, UDP or ping; lan1 records nothing and
# the drops are counted "unsolicited".
_unreachable_from_wan() {
	local addr=$1 out before after
	: >"$TOPO_TMP/rec"
	tcp_recorder "$NS_LAN1" 2222 "$TOPO_TMP/rec" || return 1
	udp_server "$NS_LAN1" 20053 --log "$TOPO_TMP/rec" || return 1
	before=$(nat_stat unsolicited) || return 1
	if out=$(tcp_call "$NS_WAN" "$addr" 2222 knock); then
		fail "server -> $addr:2222/tcp connected (got '$out')"
		return 1
	fi
	timeout 5 ip netns exec "$NS_WAN" python3 "$NETTOOL" udp-client \
		--to "$addr:20053" --send knock --wait 1 >/dev/null
	if timeout 3 ip netns exec "$NS_WAN" ping -c 1 -W 1 "$addr" >/dev/null; then
		fail "server pinged $addr"
		return 1
	fi
	sleep 0.5
	if [[ -s $TOPO_TMP/rec ]]; then
		fail "traffic reached lan1 at $addr from: $(tr '\n' ' ' <"$TOPO_TMP/rec")"
		return 1
	fi
	after=$(nat_stat unsolicited) || return 1
	((after > before)) ||
		{ fail "unsolicited counter did not move ($before -> $after)"; return 1; }
	note "nothing reached $addr; unsolicited $before -> $after"
}

# t_unsolicited_direct: a server that does route the inside prefix to the
# gateway sends straight to lan1's address: the gateway would forward it,
# so bpfmasq drops it (counted "unsolicited"); lan1 records nothing.
t_unsolicited_direct() {
	nat_attach || return 1
	ip -n "$NS_WAN" route add 10.77.0.0/16 via "$TOPO_WAN_GW" ||
		{ fail "route to the LAN on the server"; return 1; }
	_unreachable_from_wan "$TOPO_LAN1_ADDR"
}
net_test unsolicited_direct.tc in_mode tc t_unsolicited_direct
net_test unsolicited_direct.xdp in_mode xdp t_unsolicited_direct

# t_filter_udp MODE: lan1 sends from port P to server:9000; the server
# answers from 9000 and also sends from 9001 (an endpoint lan1 never
# contacted) to the same external endpoint.
t_filter_udp() {
	local mode=$1 P=20053 out n
	# shellcheck disable=SC2046
	nat_attach $(_filter_args "$mode") || return 1
	udp_server "$NS_WAN" 9000 --also-from 9001 || return 1

	out=$(udp_call "$NS_LAN1" "$P" hello 1.5)
	note "lan1 received: $(tr '\n' '|' <<<"$out")"
	grep -Eqx "from $TOPO_WAN_ADDR:9000 reply $TOPO_WAN_GW:[0-9]+ hello" <<<"$out" ||
		{ fail "no reply from the contacted endpoint $TOPO_WAN_ADDR:9000"; return 1; }
	if [[ $mode == dependent ]]; then
		if grep -q "^from $TOPO_WAN_ADDR:9001" <<<"$out"; then
			fail "a packet from $TOPO_WAN_ADDR:9001, never contacted, reached lan1"
			return 1
		fi
		n=$(nat_stat filtered) || return 1
		((n >= 1)) || { fail "stats: filtered is $n, expected >= 1"; return 1; }
	else
		grep -qx "from $TOPO_WAN_ADDR:9001 stranger" <<<"$out" ||
			{ fail "independent filtering: the packet from :9001 did not reach lan1"; return 1; }
	fi
}
net_test filter_udp.tc.dependent in_mode tc t_filter_udp dependent
net_test filter_udp.tc.independent in_mode tc t_filter_udp independent
net_test filter_udp.xdp.dependent in_mode xdp t_filter_udp dependent
net_test filter_udp.fast.dependent in_mode fast t_filter_udp dependent
net_test filter_udp.xdp.independent in_mode xdp t_filter_udp independent
net_test filter_udp.fast.independent in_mode fast t_filter_udp independent

# t_filter_tcp MODE: lan1 has connected from port 20081 to server:8080, so
# 203.0.113.1:P/tcp is its mapping; then the server connects to that from
# another port. Dependent filtering: refused by the gateway's own
# stack, lan1 never sees it. Independent: lan1 accepts it.
t_filter_tcp() {
	local mode=$1 p out
	# shellcheck disable=SC2046
	nat_attach $(_filter_args "$mode") || return 1
	tcp_server "$NS_WAN" 8080 || return 1
	p=$(tcp_check "$NS_LAN1" open "sourceport=20081,reuseaddr") || return 1
	note "lan1:20081 is $TOPO_WAN_GW:$p"

	: >"$TOPO_TMP/rec"
	tcp_recorder "$NS_LAN1" 20081 "$TOPO_TMP/rec" || return 1
	out=$(tcp_call "$NS_WAN" "$TOPO_WAN_GW" "$p" knock)
	sleep 0.3
	if [[ $mode == dependent ]]; then
		if [[ -s $TOPO_TMP/rec ]]; then
			fail "a connection from the server's port $(cat "$TOPO_TMP/rec") reached lan1"
			return 1
		fi
		note "not let in"
	else
		grep -q "^$TOPO_WAN_ADDR:" "$TOPO_TMP/rec" ||
			{ fail "independent filtering: the connection did not reach lan1"; return 1; }
		note "let in: lan1 saw $(cat "$TOPO_TMP/rec")"
	fi
}
net_test filter_tcp.tc.dependent in_mode tc t_filter_tcp dependent
net_test filter_tcp.tc.independent in_mode tc t_filter_tcp independent
net_test filter_tcp.xdp.dependent in_mode xdp t_filter_tcp dependent
net_test filter_tcp.fast.dependent in_mode fast t_filter_tcp dependent
net_test filter_tcp.xdp.independent in_mode xdp t_filter_tcp independent
net_test filter_tcp.fast.independent in_mode fast t_filter_tcp independent

# t_unsolicited_routed: a network behind lan1, reached through a route on
# the gateway (as behind a tunnel or a downstream router), is inside too:
# the server, which routes it to the gateway, cannot reach it, and the
# drop is counted; the prefix is in lan_nets although it is neither
# connected nor given with --internal (attached without --internal: every
# source is inside, no prefix is given).
t_unsolicited_routed() {
	local far=10.88.0.1
	ip -n "$NS_LAN1" addr add "$far/32" dev lo || { fail "address on lan1"; return 1; }
	ip -n "$NS_GW" route add 10.88.0.0/16 via "$TOPO_LAN1_ADDR" ||
		{ fail "route to 10.88.0.0/16 on the gateway"; return 1; }
	ip -n "$NS_WAN" route add 10.88.0.0/16 via "$TOPO_WAN_GW" ||
		{ fail "route to 10.88.0.0/16 on the server"; return 1; }
	NAT_DEFAULTS=1 nat_attach || return 1
	bpftool map dump pinned "$(pins_dir)/lan_nets" | grep -q '"prefixlen": 16' ||
		{ fail "lan_nets lacks the routed prefix"; return 1; }
	_unreachable_from_wan "$far"
}
net_test unsolicited_routed.tc in_mode tc t_unsolicited_routed
net_test unsolicited_routed.xdp in_mode xdp t_unsolicited_routed
