# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
#
# Port forwards (bpfmasq forward): the server on the WAN side connects to
# the gateway's external address and reaches a service on an inside host,
# which sees the server's own address; --from limits who may; a range
# forwards each port to its own inside port; a forward on a port a live
# mapping holds waits until that mapping has expired and the port's
# quarantine is over, the flow on it untouched meanwhile; forwards stay
# through a re-attach and a flush; and what cannot be had is refused with
# one line and exit 1.

# _fwd_tcp PORT MSG: one TCP exchange from the server to the gateway's
# PORT; the greeting must name the server's own address (no translation
# of the source on the way in). Prints the port the service saw.
_fwd_tcp() {
	local out peer
	out=$(tcp_call "$NS_WAN" "$TOPO_WAN_GW" "$1" "$2")
	peer=$(sed -n 's/^peer //p' <<<"$out")
	grep -qx "echo $2" <<<"$out" ||
		{ fail "no answer through the forward of tcp $1 (got: '$out')"; return 1; }
	[[ ${peer%:*} == "$TOPO_WAN_ADDR" ]] ||
		{ fail "the service saw $peer, expected $TOPO_WAN_ADDR:*"; return 1; }
	echo "${peer##*:}"
}

# _fwd_udp PORT MSG: one datagram from the server to the gateway's PORT;
# the answer must come back from that port, its payload naming the server's
# own address as the service saw it.
_fwd_udp() {
	local out
	out=$(timeout 15 ip netns exec "$NS_WAN" python3 "$NETTOOL" udp-client \
		--to "$TOPO_WAN_GW:$1" --send "$2" --wait 3 --first)
	grep -q "^from $TOPO_WAN_GW:$1 reply $TOPO_WAN_ADDR:[0-9]* $2\$" <<<"$out" ||
		{ fail "no answer from $TOPO_WAN_GW:$1 through the forward (got: '$out')"; return 1; }
}

# _fwd_state PROTO PORT: "active", or what the forward of PORT waits for.
_fwd_state() {
	bmq forward list "$WAN" --json |
		pyjson "[f['waiting_for'] if not f['active'] else 'active' for f in d if f['proto'] == '$1' and f['port'] <= $2 <= f['port_end']][0]"
}

# forward.tcp: in, with the service seeing the remote; out of --from: not.
t_forward_tcp() {
	local filtered
	tcp_server "$NS_LAN1" 8022 || return 1
	nat_attach || return 1
	bmq forward add "$WAN" tcp 2222 "$TOPO_LAN1_ADDR:8022" >/dev/null ||
		{ fail "forward add tcp 2222"; return 1; }
	expect_eq "forward state" "$(_fwd_state tcp 2222)" active || return 1
	_fwd_tcp 2222 hello >/dev/null || return 1
	expect_eq "forwarded sessions" \
		"$(conns_json | pyjson "len([c for c in d if c['forwarded'] and c['outside'] == '$TOPO_WAN_GW:2222'])")" 1 ||
		return 1
	note "server -> $TOPO_WAN_GW:2222 reached $TOPO_LAN1_ADDR:8022 as $TOPO_WAN_ADDR"

	bmq forward del "$WAN" tcp 2222 || { fail "forward del"; return 1; }
	bmq forward add "$WAN" tcp 2222 "$TOPO_LAN1_ADDR:8022" \
		--from "$TOPO_FAR_NET" >/dev/null || { fail "forward add --from"; return 1; }
	filtered=$(nat_stat filtered)
	if tcp_call "$NS_WAN" "$TOPO_WAN_GW" 2222 nope | grep -q "echo nope"; then
		fail "a remote outside --from $TOPO_FAR_NET got through"
		return 1
	fi
	(($(nat_stat filtered) > filtered)) ||
		{ fail "the refused SYN was not counted filtered"; return 1; }
	bmq forward del "$WAN" tcp 2222 || return 1
	expect_eq "forwards left" "$(bmq forward list "$WAN" --json | pyjson 'len(d)')" 0
}

# forward.udp_range: 5000-5001 to lan2's 6000-6001, each to its own port.
t_forward_udp_range() {
	udp_server "$NS_LAN2" 6000 || return 1
	udp_server "$NS_LAN2" 6001 || return 1
	nat_attach || return 1
	bmq forward add "$WAN" udp 5000-5001 "$TOPO_LAN2_ADDR:6000" >/dev/null ||
		{ fail "forward add udp 5000-5001"; return 1; }
	expect_eq "forward list" \
		"$(bmq forward list "$WAN" --json | pyjson "[(f['port'], f['port_end'], f['inside_port']) for f in d]")" \
		"[[5000, 5001, 6000]]" || return 1
	_fwd_udp 5000 first || return 1
	_fwd_udp 5001 second || return 1
	note "udp 5000 and 5001 reached $TOPO_LAN2_ADDR:6000 and :6001, answers from the forwarded ports"
}

# forward.waits: a forward of the port lan1's live flow holds.
t_forward_waits() {
	local p why
	udp_server "$NS_WAN" 9000 || return 1
	udp_server "$NS_LAN2" 6000 || return 1
	nat_attach --timeout-udp 2 --timeout-quarantine 2 || return 1
	p=$(udp_check "$NS_LAN1" 7001 one) || return 1
	bmq forward add "$WAN" udp "$p" "$TOPO_LAN2_ADDR:6000" >/dev/null ||
		{ fail "forward add udp $p"; return 1; }
	why=$(_fwd_state udp "$p")
	[[ $why == *mapping* ]] ||
		{ fail "forward of a port in use: '$why', expected it to wait for the mapping"; return 1; }
	note "forward of udp $p (lan1's flow's port): waiting for $why"
	expect_eq "lan1's flow keeps its port" "$(udp_check "$NS_LAN1" 7001 two)" "$p" ||
		return 1
	# The flow idles out, its mapping goes, then the quarantine ends.
	wait_until 15 _fwd_taken "$p" ||
		{ fail "the forward never took udp $p: $(_fwd_state udp "$p")"; return 1; }
	_fwd_udp "$p" three || return 1
	note "after the mapping and the quarantine: udp $p reaches $TOPO_LAN2_ADDR:6000"
}

# _fwd_taken PORT: run a collection pass; has the forward of PORT taken it?
_fwd_taken() {
	bmq gc "$WAN" >/dev/null || return 1
	[[ $(_fwd_state udp "$1") == active ]]
}

# forward.kept: through a re-attach and a flush.
t_forward_kept() {
	tcp_server "$NS_LAN1" 8022 || return 1
	nat_attach || return 1
	bmq forward add "$WAN" tcp 40022 "$TOPO_LAN1_ADDR:8022" >/dev/null ||
		{ fail "forward add tcp 40022"; return 1; }
	_fwd_tcp 40022 before >/dev/null || return 1
	nat_attach || return 1
	_fwd_tcp 40022 reattached >/dev/null || return 1
	bmq flush "$WAN" || { fail "flush"; return 1; }
	expect_eq "forward state after a flush" "$(_fwd_state tcp 40022)" active ||
		return 1
	_fwd_tcp 40022 flushed >/dev/null || return 1
	note "tcp 40022 (in the pool's range) forwarded across a re-attach and a flush"
}

# _fwd_refused WHY ARGS...: `forward ARGS` must fail, with one line.
_fwd_refused() { cmd_refused "$1" forward "${@:2}"; }

# forward.refused: what cannot be had, and nothing changes.
t_forward_refused() {
	nat_attach || return 1
	bmq forward add "$WAN" tcp 3000-3010 "$TOPO_LAN1_ADDR" >/dev/null || return 1
	topo_bg "$NS_GW" timeout 60 socat TCP4-LISTEN:3100,reuseaddr,fork EXEC:/bin/cat
	wait_until 5 listening "$NS_GW" tcp 3100 || { fail "gateway listener"; return 1; }
	_fwd_refused "overlapping" add "$WAN" tcp 3010-3020 "$TOPO_LAN2_ADDR" || return 1
	_fwd_refused "not inside" add "$WAN" tcp 3050 "$TOPO_WAN_ADDR" || return 1
	_fwd_refused "the gateway's own listener" add "$WAN" tcp 3100 "$TOPO_LAN1_ADDR" || return 1
	_fwd_refused "bad protocol" add "$WAN" icmp 3060 "$TOPO_LAN1_ADDR" || return 1
	_fwd_refused "port 0" add "$WAN" tcp 0 "$TOPO_LAN1_ADDR" || return 1
	_fwd_refused "inside ports past 65535" add "$WAN" udp 100-200 "$TOPO_LAN1_ADDR:65500" || return 1
	_fwd_refused "not forwarded" del "$WAN" tcp 3011 || return 1
	_fwd_refused "--from on del" del "$WAN" tcp 3000 --from 10.0.0.0/8 || return 1
	_fwd_refused "no such action" move "$WAN" tcp 3000 || return 1
	expect_eq "forwards left" \
		"$(bmq forward list "$WAN" --json | pyjson "[(f['port'], f['port_end']) for f in d]")" \
		"[[3000, 3010]]"
}

net_test forward.tcp t_forward_tcp
net_test forward.tcp.xdp in_mode xdp t_forward_tcp
net_test forward.tcp.fast in_mode fast t_forward_tcp
net_test forward.udp_range t_forward_udp_range
net_test forward.waits t_forward_waits
net_test forward.kept t_forward_kept
net_test forward.refused t_forward_refused

# ---- hairpinning (--hairpin) ------------------------------------------------

# hairpin.forward: lan1 reaches lan2's forwarded service by the external
# address and is seen as its own external endpoint; without --hairpin the
# gateway's stack answers (nobody listens there).
t_hairpin_forward() {
	local out peer p
	tcp_server "$NS_LAN2" 8022 || return 1
	nat_attach --hairpin lan1 --hairpin lan2 || return 1
	expect_eq "status: hairpin" \
		"$(bmq status "$WAN" --json | pyjson "sorted(d['hairpin'])")" \
		'["lan1", "lan2"]' ||
		return 1
	bmq forward add "$WAN" tcp 2222 "$TOPO_LAN2_ADDR:8022" >/dev/null ||
		{ fail "forward add tcp 2222"; return 1; }
	out=$(tcp_call "$NS_LAN1" "$TOPO_WAN_GW" 2222 hairpin)
	peer=$(sed -n 's/^peer //p' <<<"$out")
	grep -qx "echo hairpin" <<<"$out" ||
		{ fail "no answer through the hairpin (got: '$out')"; csum_report; return 1; }
	p=$(conns_json | pyjson "[c['outside'].split(':')[1] for c in d if c['inside'].startswith('$TOPO_LAN1_ADDR:') and c['remote'] == '$TOPO_WAN_GW:2222'][0]") ||
		return 1
	expect_eq "the service saw" "$peer" "$TOPO_WAN_GW:$p" || return 1
	(($(nat_stat hairpinned) >= 2)) ||
		{ fail "hairpinned counted $(nat_stat hairpinned)"; return 1; }
	note "lan1 -> $TOPO_WAN_GW:2222 reached $TOPO_LAN2_ADDR:8022, seen as $peer (lan1's mapping)"
	nat_attach --hairpin none || return 1
	if tcp_call "$NS_LAN1" "$TOPO_WAN_GW" 2222 nope | grep -q "echo nope"; then
		fail "reached the forward by the external address with --hairpin none"
		return 1
	fi
	expect_eq "status: hairpin none" "$(status_field hairpin)" "[]" || return 1
	! tc_ours ingress lan1 >/dev/null ||
		{ fail "--hairpin none left the filter on lan1"; return 1; }
	! has_clsact lan1 || { fail "--hairpin none left the clsact qdisc it made on lan1"; return 1; }
}

# hairpin.mapping: under endpoint-independent filtering, lan1 reaches the
# mapping lan2's flow to the server made; each sees the other's external
# endpoint.
t_hairpin_mapping() {
	local pb out
	udp_server "$NS_WAN" 9000 || return 1
	nat_attach --filtering independent --hairpin lan1 --hairpin lan2 ||
		return 1
	pb=$(udp_check "$NS_LAN2" 6000 first) || return 1
	udp_server "$NS_LAN2" 6000 || return 1
	out=$(timeout 15 ip netns exec "$NS_LAN1" python3 "$NETTOOL" udp-client \
		--to "$TOPO_WAN_GW:$pb" --bind-port 5000 --send across --wait 3 --first)
	grep -q "^from $TOPO_WAN_GW:$pb reply $TOPO_WAN_GW:[0-9]* across\$" <<<"$out" ||
		{ fail "no answer from lan2's mapping $TOPO_WAN_GW:$pb (got: '$out')"; csum_report; return 1; }
	note "lan1 -> $TOPO_WAN_GW:$pb (lan2's mapping): $out"
}

net_test hairpin.forward t_hairpin_forward
net_test hairpin.forward.xdp in_mode xdp t_hairpin_forward
net_test hairpin.forward.fast in_mode fast t_hairpin_forward
net_test hairpin.mapping t_hairpin_mapping
