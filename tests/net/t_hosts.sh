# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
#
# --max-ports-per-host (RFC 6888 REQ-4): lan1 gets three external ports
# and no fourth (its new flows are dropped and counted, stats names it),
# while its flows so far and lan2's go on; a re-attach keeps the limit,
# `none` lifts it. --max-sessions-per-host the same for sessions: a new
# remote of a mapping lan1 has is a session too.

# _udp_from NS PORT: one request to the server from source PORT: replied?
_udp_from() {
	udp_call "$1" "$2" "from-$2" 2 --first | grep -q "reply .* from-$2\$"
}

# hosts.port_limit
t_hosts_port_limit() {
	local p got=() refused
	udp_server "$NS_WAN" 9000 || return 1
	nat_attach --max-ports-per-host 3 || return 1
	expect_eq "status max_ports_per_host" "$(status_field max_ports_per_host)" 3 ||
		return 1
	for p in 7001 7002 7003 7004 7005; do
		_udp_from "$NS_LAN1" "$p" && got+=("$p")
	done
	expect_eq "lan1's flows through" "${got[*]}" "7001 7002 7003" || return 1
	_udp_from "$NS_LAN1" 7001 || { fail "lan1's first flow, again"; return 1; }
	_udp_from "$NS_LAN2" 7004 || { fail "lan2's flow"; return 1; }
	expect_eq "host_port_limit" "$(nat_stat host_port_limit)" 2 || return 1
	refused=$(bmq stats "$WAN" --json |
		pyjson "[(h['host'], h['ports'], h['refused']) for h in d['hosts_limited']]")
	expect_eq "stats: hosts limited" "$refused" "[[\"$TOPO_LAN1_ADDR\", 3, 2]]" ||
		return 1
	note "lan1 got 3 ports and no more; lan2 and lan1's own flows went on"

	nat_attach || return 1
	_udp_from "$NS_LAN1" 7006 && { fail "a re-attach lifted the limit"; return 1; }
	nat_attach --max-ports-per-host none || return 1
	_udp_from "$NS_LAN1" 7007 || { fail "a fourth port once the limit is lifted"; return 1; }
	expect_eq "status max_ports_per_host" "$(status_field max_ports_per_host)" 0
}

net_test hosts.port_limit t_hosts_port_limit
net_test hosts.port_limit.fast in_mode fast t_hosts_port_limit

# hosts.session_limit
t_hosts_session_limit() {
	local got=() refused dst
	udp_server "$NS_WAN" 9000 || return 1
	udp_server "$NS_WAN" 9001 || return 1
	nat_attach --max-sessions-per-host 2 || return 1
	expect_eq "status max_sessions_per_host" "$(status_field max_sessions_per_host)" 2 ||
		return 1
	# Port 7001 to both server ports, then 7002: the third session.
	for dst in 9000 9001; do
		UDP_DST=$dst _udp_from "$NS_LAN1" 7001 && got+=("7001:$dst")
	done
	_udp_from "$NS_LAN1" 7002 && got+=("7002:9000")
	expect_eq "lan1's sessions through" "${got[*]}" "7001:9000 7001:9001" || return 1
	_udp_from "$NS_LAN1" 7003 && { fail "a third session for lan1"; return 1; }
	_udp_from "$NS_LAN1" 7001 || { fail "lan1's first flow, again"; return 1; }
	_udp_from "$NS_LAN2" 7004 || { fail "lan2's flow"; return 1; }
	expect_eq "host_session_limit" "$(nat_stat host_session_limit)" 2 || return 1
	refused=$(bmq stats "$WAN" --json |
		pyjson "[(h['host'], h['sessions'], h['refused']) for h in d['hosts_limited']]")
	expect_eq "stats: hosts limited" "$refused" "[[\"$TOPO_LAN1_ADDR\", 2, 2]]" ||
		return 1
	note "lan1 got 2 sessions and no more; lan2 and lan1's own flows went on"
	nat_attach || return 1
	_udp_from "$NS_LAN1" 7005 && { fail "a re-attach lifted the limit"; return 1; }
	nat_attach --max-sessions-per-host none || return 1
	_udp_from "$NS_LAN1" 7006 || { fail "a third session once the limit is lifted"; return 1; }
	expect_eq "status max_sessions_per_host" "$(status_field max_sessions_per_host)" 0
}
net_test hosts.session_limit t_hosts_session_limit
net_test hosts.session_limit.fast in_mode fast t_hosts_session_limit
