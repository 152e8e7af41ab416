# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
#
# Static NAT (bpfmasq static): lan1 is STATIC_OUTSIDE, an address of the
# gateway's WAN besides the masquerade's. The server reaches lan1's
# services at that address, unsolicited, by TCP, UDP and ping, and they
# see the server's own address; lan1's own connections leave with that
# address and their own ports, with no session in the table; lan2 is
# masqueraded as ever beside it. Statics stay through a re-attach and a
# flush, go with del, and what cannot be had is refused with one line
# and exit 1.

STATIC_OUTSIDE=203.0.113.50

# _static_setup: the outside address on the WAN (so that the gateway
# answers ARP for it), the NAT attached, lan1 made static.
_static_setup() {
	ip -n "$NS_GW" addr add "$STATIC_OUTSIDE/32" dev "$WAN" ||
		{ fail "address $STATIC_OUTSIDE on $WAN"; return 1; }
	nat_attach || return 1
	bmq static add "$WAN" "$TOPO_LAN1_ADDR" "$STATIC_OUTSIDE" >/dev/null ||
		{ fail "static add $TOPO_LAN1_ADDR $STATIC_OUTSIDE"; return 1; }
}

# _static_in PORT MSG: the server connects to lan1's PORT at the outside
# address; the service must see the server's own address.
_static_in() {
	local out peer
	out=$(tcp_call "$NS_WAN" "$STATIC_OUTSIDE" "$1" "$2")
	peer=$(sed -n 's/^peer //p' <<<"$out")
	grep -qx "echo $2" <<<"$out" ||
		{ fail "no answer from $STATIC_OUTSIDE:$1 (got: '$out')"; csum_report; return 1; }
	[[ ${peer%:*} == "$TOPO_WAN_ADDR" ]] ||
		{ fail "the service saw $peer, expected $TOPO_WAN_ADDR:*"; return 1; }
}

# _lan1_sessions: rows of conns whose inside address is lan1's.
_lan1_sessions() {
	conns_json | pyjson "len([c for c in d if c['inside'].startswith('$TOPO_LAN1_ADDR:')])"
}

# static.both_ways [OFFLOAD]: in unsolicited and out, every protocol, no
# state; checksum offload on the end hosts on (the default) or off (the
# fast path's own setup turns it off).
t_static_both_ways() {
	local port in0 out0 out
	[[ ${NAT_MODE:-} == fast ]] || offload_setup "${1:-on}" || return 1
	tcp_server "$NS_LAN1" 8022 || return 1
	udp_server "$NS_LAN1" 6000 || return 1
	tcp_server "$NS_WAN" 8080 || return 1
	udp_server "$NS_WAN" 9000 || return 1
	_static_setup || return 1
	in0=$(nat_stat static_in)
	out0=$(nat_stat static_out)

	_static_in 8022 hello || return 1
	out=$(timeout 15 ip netns exec "$NS_WAN" python3 "$NETTOOL" udp-client \
		--to "$STATIC_OUTSIDE:6000" --send ping1 --wait 3 --first)
	grep -q "^from $STATIC_OUTSIDE:6000 reply $TOPO_WAN_ADDR:[0-9]* ping1\$" <<<"$out" ||
		{ fail "no UDP answer from $STATIC_OUTSIDE:6000 (got: '$out')"; return 1; }
	nsx "$NS_WAN" ping -c 3 -i 0.2 -W 2 -q "$STATIC_OUTSIDE" >/dev/null ||
		{ fail "ping from the server to $STATIC_OUTSIDE"; return 1; }
	note "server -> $STATIC_OUTSIDE reached lan1 by TCP, UDP and ping"

	port=$(EXPECT_SRC=$STATIC_OUTSIDE tcp_check "$NS_LAN1" out1 "sourceport=40123") ||
		return 1
	expect_eq "lan1's source port, kept" "$port" 40123 || return 1
	EXPECT_SRC=$STATIC_OUTSIDE udp_check "$NS_LAN1" 5353 out2 >/dev/null || return 1
	EXPECT_SRC=$STATIC_OUTSIDE ping_check "$NS_LAN1" || return 1
	tcp_check "$NS_LAN2" masq >/dev/null || return 1
	note "lan1 -> server as $STATIC_OUTSIDE:40123, lan2 as $TOPO_WAN_GW"

	expect_eq "lan1's sessions" "$(_lan1_sessions)" 0 || return 1
	(($(nat_stat static_in) > in0 && $(nat_stat static_out) > out0)) ||
		{ fail "static_in/static_out did not count"; return 1; }
	expect_eq "status statics" "$(status_field statics)" 1 || return 1
	expect_eq "static list" \
		"$(bmq static list "$WAN" --json | pyjson "[(s['inside_addr'], s['outside_addr']) for s in d]")" \
		"[[\"$TOPO_LAN1_ADDR\", \"$STATIC_OUTSIDE\"]]" || return 1
	no_csum_errors || return 1

	bmq static del "$WAN" "$TOPO_LAN1_ADDR" || { fail "static del"; return 1; }
	if tcp_call "$NS_WAN" "$STATIC_OUTSIDE" 8022 nope | grep -q "echo nope"; then
		fail "the server still reached lan1 once the static was gone"
		return 1
	fi
	tcp_check "$NS_LAN1" masq >/dev/null || return 1
	note "deleted: nothing comes in, lan1 is masqueraded again"
}

# static.kept: through a re-attach and a flush.
t_static_kept() {
	tcp_server "$NS_LAN1" 8022 || return 1
	_static_setup || return 1
	nat_attach || return 1
	_static_in 8022 after-reattach || return 1
	bmq flush "$WAN" || { fail "flush"; return 1; }
	_static_in 8022 after-flush || return 1
	expect_eq "statics after both" \
		"$(bmq static list "$WAN" --json | pyjson 'len(d)')" 1
}

# static.refused: what cannot be had, and the statics untouched.
t_static_refused() {
	_static_setup || return 1
	cmd_refused "the masquerade's address" static add "$WAN" "$TOPO_LAN2_ADDR" "$TOPO_WAN_GW" || return 1
	cmd_refused "inside twice" static add "$WAN" "$TOPO_LAN1_ADDR" 203.0.113.51 || return 1
	cmd_refused "outside twice" static add "$WAN" "$TOPO_LAN2_ADDR" "$STATIC_OUTSIDE" || return 1
	cmd_refused "not inside" static add "$WAN" 192.0.2.9 203.0.113.52 || return 1
	cmd_refused "a bad address" static add "$WAN" "$TOPO_LAN2_ADDR" 203.0.113.300 || return 1
	cmd_refused "a missing address" static add "$WAN" "$TOPO_LAN2_ADDR" || return 1
	cmd_refused "del of none" static del "$WAN" "$TOPO_LAN2_ADDR" || return 1
	cmd_refused "a bad action" static move "$WAN" || return 1
	expect_eq "statics" "$(bmq static list "$WAN" --json | pyjson 'len(d)')" 1
}

net_test static.both_ways t_static_both_ways
net_test static.both_ways.offload-off t_static_both_ways off
net_test static.both_ways.xdp in_mode xdp t_static_both_ways
net_test static.both_ways.fast in_mode fast t_static_both_ways
net_test static.kept t_static_kept
net_test static.refused t_static_refused
