# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
#
# Translation state as a whole: flush drops it and the NAT goes on working;
# a full session table fails new flows cleanly, never existing ones.

_entries() { bpftool -j map dump pinned "$(pins_dir)/$1" | pyjson 'len(d)'; }

t_flush() {
	local n m
	nat_attach || return 1
	tcp_server "$NS_WAN" 8080 || return 1
	udp_server "$NS_WAN" 9000 || return 1
	tcp_check "$NS_LAN1" f1 >/dev/null || return 1
	udp_check "$NS_LAN2" 40000 f2 >/dev/null || return 1
	ping_check "$NS_LAN1" 2 || return 1
	n=$(conns_json | pyjson 'len(d)') || return 1
	expect_eq "sessions before flush" "$n" 3 || return 1

	bmq flush "$WAN" || { fail "bpfmasq flush failed"; return 1; }
	n=$(conns_json | pyjson 'len(d)') || return 1
	expect_eq "sessions after flush" "$n" 0 || return 1
	for m in sessions mappings port_owners; do
		n=$(_entries "$m") || return 1
		expect_eq "entries in $m after flush" "$n" 0 || return 1
	done
	expect_eq "status mappings after flush" "$(status_field mappings)" 0 || return 1

	tcp_check "$NS_LAN1" f3 >/dev/null || return 1
	udp_check "$NS_LAN2" 40000 f4 >/dev/null || return 1
	ping_check "$NS_LAN1" 2
}
net_test flush t_flush

# t_table_full: with room for 16 sessions, 24 UDP flows: the first ones
# work, the rest fail (counted as table_full), and the flows that got in
# keep working.
t_table_full() {
	local p ok=0 bad=0 n
	nat_attach --max-sessions 16 || return 1
	udp_server "$NS_WAN" 9000 || return 1
	for ((p = 40001; p <= 40024; p++)); do
		if udp_call "$NS_LAN1" "$p" x 0.5 --first >/dev/null; then
			ok=$((ok + 1))
		else
			bad=$((bad + 1))
		fi
	done
	note "24 flows into 16 sessions: $ok answered, $bad not"
	((ok >= 8 && ok <= 16)) || { fail "$ok flows answered, expected 8 to 16"; return 1; }
	n=$(nat_stat table_full) || return 1
	((n >= 1)) || { fail "stats: table_full is $n"; return 1; }
	n=$(conns_json | pyjson 'len(d)') || return 1
	((n <= 16)) || { fail "conns lists $n sessions with --max-sessions 16"; return 1; }
	# An existing flow is never the one to fail.
	udp_check "$NS_LAN1" 40001 again >/dev/null || return 1
	# New flows fail cleanly, and work again once there is room.
	bmq flush "$WAN" || return 1
	udp_check "$NS_LAN1" 40024 after-flush >/dev/null
}
net_test table_full t_table_full
