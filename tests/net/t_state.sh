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
net_test_alone table_full t_table_full

# _flood_table: 60 new UDP flows from lan1 (never answered), which must
# fill a 32-session table: table_full counts the refused ones.
_flood_table() {
	local n
	nsx "$NS_LAN1" python3 -c '
import socket
for p in range(41000, 41060):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("", p))
    s.sendto(b"x", ("'"$TOPO_WAN_ADDR"'", 9))
    s.close()
' || { fail "the UDP flood"; return 1; }
	n=$(nat_stat table_full) || return 1
	((n >= 1)) || { fail "the flood did not fill the table (table_full $n)"; return 1; }
}

# t_table_pressure: room under pressure. With a 32-session table, lan2
# holds an answered TCP connection; lan1 floods UDP from 60 source ports to
# a port nobody answers on, filling the table. The collector's pass then
# removes the unanswered sessions, oldest first, down to 80%: lan2 opens a
# new connection and its first one keeps working, untouched.
t_table_pressure() {
	local n ev
	nat_attach --max-sessions 32 || return 1
	tcp_server "$NS_WAN" 8080 || return 1
	conn_open "$NS_LAN2" || return 1
	conn_say before || return 1
	_flood_table || return 1
	if tcp_check "$NS_LAN2" full >/dev/null 2>&1; then
		fail "a new connection got into a full table"
		return 1
	fi
	ev=$(bmq gc "$WAN") || { fail "gc"; return 1; }
	note "gc: $ev"
	{ [[ $ev =~ expired,\ ([0-9]+)\ evicted ]] && ((BASH_REMATCH[1] >= 1)); } ||
		{ fail "gc evicted nothing: $ev"; return 1; }
	n=$(conns_json | pyjson 'len(d)') || return 1
	((n <= 26)) || { fail "$n sessions after the pass, expected at most 80% of 32"; return 1; }
	tcp_check "$NS_LAN2" after >/dev/null || { fail "no new connection after the pass"; return 1; }
	conn_say still-here
}
net_test table_pressure t_table_pressure

# t_table_pressure_daemon: the same flood under `bpfmasq run` with a
# 60 s collection interval: the daemon sees the table refuse flows and
# makes room within seconds, not at its next interval; the established
# connection keeps working throughout.
t_table_pressure_daemon() {
	local i ok=0
	_start_daemon "$TOPO_TMP/run.log" --internal "$TOPO_INTERNAL" \
		--max-sessions 32 --gc-interval 60 || return 1
	tcp_server "$NS_WAN" 8080 || return 1
	conn_open "$NS_LAN2" || return 1
	conn_say before || return 1
	_flood_table || return 1
	for ((i = 0; i < 10; i++)); do
		if tcp_check "$NS_LAN2" "try-$i" >/dev/null 2>&1; then
			ok=1
			break
		fi
		sleep 0.5
	done
	((ok)) || { fail "no new connection within 10 tries: $(cat "$TOPO_TMP/run.log")"; return 1; }
	grep -q "a table is full: collecting now" "$TOPO_TMP/run.log" ||
		{ fail "the daemon did not say it collected early: $(cat "$TOPO_TMP/run.log")"; return 1; }
	note "a new connection got in at try $i"
	conn_say still-here
}
net_test table_pressure_daemon t_table_pressure_daemon

# t_inbound_flood: under endpoint-independent filtering, remotes may open
# only --max-inbound sessions on a mapping: a flood of datagrams from 200
# source ports to lan1's mapping opens 8, the rest are dropped and counted,
# and the table keeps room for everyone else (lan2 still connects; lan1's
# own flow still works).
t_inbound_flood() {
	local q n
	nat_attach --filtering independent --max-sessions 64 --max-inbound 8 || return 1
	udp_server "$NS_WAN" 9000 || return 1
	tcp_server "$NS_WAN" 8080 || return 1
	q=$(udp_check "$NS_LAN1" 40000 hold) || return 1
	nsx "$NS_WAN" python3 -c '
import socket, sys
for p in range(10000, 10200):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("", p))
    s.sendto(b"flood", (sys.argv[1], int(sys.argv[2])))
    s.close()
' "$TOPO_WAN_GW" "$q" || { fail "the inbound flood"; return 1; }
	n=$(conns_json | pyjson 'len([c for c in d if c.get("direction") == "in"])') || return 1
	expect_eq "sessions opened from outside on lan1's mapping" "$n" 8 || return 1
	n=$(nat_stat inbound_limit) || return 1
	((n >= 150)) || { fail "inbound_limit is $n, expected most of the 192 left"; return 1; }
	note "8 sessions opened from outside, inbound_limit $n"
	tcp_check "$NS_LAN2" after-flood >/dev/null || return 1
	udp_check "$NS_LAN1" 40000 still >/dev/null
}
net_test inbound_flood.tc in_mode tc t_inbound_flood
net_test inbound_flood.xdp in_mode xdp t_inbound_flood
