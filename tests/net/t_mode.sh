# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
#
# Ingress modes: replies are translated by XDP (--mode native or generic) or
# by a TC filter on the ingress hook (--mode tc). Without --mode, a fresh
# attach picks tc on veth and tun (XDP cannot tell a partial checksum from
# a complete one there), native XDP elsewhere, and TC ingress where the
# driver has no native XDP; a re-attach keeps the attached mode. A re-attach
# with another --mode switches, the new hook first, without losing state.

# _status_text_mode: the mode line of the human-readable status.
_status_text_mode() { bmq status "$WAN" | sed -En 's/^[[:space:]]+mode[[:space:]]+//p'; }

# _reattach ARGS...: re-attach to the WAN with only ARGS (no --internal: a
# re-attach without it keeps the inside prefixes), echoing the CLI's output
# on failure.
_reattach() {
	local out
	if ! out=$(bmq attach "$WAN" "$@" 2>&1); then
		indent_log <<<"$out"
		fail "bpfmasq attach $WAN $* (re-attach)"
		return 1
	fi
}

# t_mode_attach tc|native|generic [ATTACH-ARGS...]: a fresh attach with
# ATTACH-ARGS reports the mode, in status --json and in the text status, and
# has exactly the hooks of that mode on the WAN; traffic is translated both
# ways, replies by that hook.
t_mode_attach() {
	local want=$1 n
	shift
	nat_attach "$@" || return 1
	expect_mode "$want" || return 1
	expect_eq "mode in the text status" "$(_status_text_mode)" "$want" || return 1
	note "hooks: $(ip netns exec "$NS_GW" bpftool net show dev "$WAN" 2>/dev/null | tr '\n' ' ')"
	tcp_server "$NS_WAN" 8080 || return 1
	tcp_check "$NS_LAN1" "mode-$want" >/dev/null || return 1
	ping_check "$NS_LAN2" 2 || return 1
	n=$(nat_stat translated_in) || return 1
	((n > 0)) || { fail "stats: translated_in is $n"; return 1; }
	# A re-attach without --mode keeps it.
	_reattach || return 1
	expect_mode "$want" || { fail "a re-attach without --mode changed the mode"; return 1; }
	tcp_check "$NS_LAN1" "mode-$want-again" >/dev/null
}
net_test mode.default-tc t_mode_attach tc
net_test mode.explicit-tc t_mode_attach tc --mode tc
net_test mode.native t_mode_attach native --mode native
net_test mode.generic t_mode_attach generic --mode generic

# t_mode_fallback: an interface whose driver has no native XDP (ifb, not
# veth or tun): without --mode, replies are translated at TC ingress;
# --mode native fails cleanly (one line, nothing left behind).
t_mode_fallback() {
	local ifc=ifb0 err rc
	ip -n "$NS_GW" link add "$ifc" type ifb || { fail "cannot create an ifb interface"; return 1; }
	ip -n "$NS_GW" addr add 198.51.100.1/24 dev "$ifc" || return 1
	ip -n "$NS_GW" link set "$ifc" up || return 1

	err=$(bmq attach "$ifc" --mode native 2>&1 >/dev/null)
	rc=$?
	note "attach $ifc --mode native -> exit $rc: $err"
	[[ $rc != 0 && $rc != 124 ]] || { fail "attach $ifc --mode native exited $rc"; return 1; }
	expect_eq "lines on stderr from attach $ifc --mode native" "$(grep -c . <<<"$err")" 1 || return 1
	nothing_attached "$ifc" || return 1

	err=$(bmq attach "$ifc" 2>&1) || { fail "attach $ifc: $err"; return 1; }
	note "attach $ifc: $err"
	expect_mode tc "$ifc" || return 1
	bmq detach "$ifc" || { fail "detach $ifc failed"; return 1; }
	nothing_attached "$ifc"
}
net_test mode.fallback-tc t_mode_fallback

# t_mode_tun: on a tun/tap interface (whose driver has native XDP), the
# default is TC ingress too, like on veth; --mode native is honoured.
t_mode_tun() {
	local ifc=tap0 err
	ip netns exec "$NS_GW" ip tuntap add dev "$ifc" mode tap || { fail "cannot create a tap interface"; return 1; }
	ip -n "$NS_GW" addr add 198.51.100.1/24 dev "$ifc" || return 1
	ip -n "$NS_GW" link set "$ifc" up || return 1
	err=$(bmq attach "$ifc" 2>&1) || { fail "attach $ifc: $err"; return 1; }
	expect_mode tc "$ifc" || return 1
	bmq detach "$ifc" || { fail "detach $ifc failed"; return 1; }
	nothing_attached "$ifc" || return 1
	err=$(bmq attach "$ifc" --mode native 2>&1) || { fail "attach $ifc --mode native: $err"; return 1; }
	expect_mode native "$ifc" || return 1
	bmq detach "$ifc" || { fail "detach $ifc failed"; return 1; }
	nothing_attached "$ifc"
}
net_test mode.tun-default-tc t_mode_tun

# _switch ARGS...: re-attach with ARGS while lan2 pings the server every
# millisecond (300 echoes, each awaited): a hole while the hooks change
# shows as a missing reply.
_switch() {
	local log=$TOPO_TMP/switch-ping pid sum tx rx
	: >"$log"
	TOPO_BG_LOG=$log topo_bg "$NS_LAN2" ping -i 0.001 -c 300 -W 1 -q "$TOPO_WAN_ADDR"
	pid=$TOPO_BG_PID
	sleep 0.1
	_reattach "$@" || return 1
	wait_until 10 eval "! kill -0 $pid" || { fail "ping still running"; return 1; }
	wait "$pid"
	sum=$(grep 'packets transmitted' "$log")
	tx=$(sed -En 's/^([0-9]+) packets transmitted.*/\1/p' <<<"$sum")
	rx=$(sed -En 's/.* ([0-9]+) received.*/\1/p' <<<"$sum")
	[[ -n $tx && -n $rx ]] || { fail "no ping summary: $(cat "$log")"; return 1; }
	note "attach ${*:-(no --mode)}: pings during the re-attach: $sum"
	expect_eq "ping replies lost while re-attaching with '${*:-}'" "$((tx - rx))" 0
}

# _same_session PORT: lan1's connection still has its session and external
# port.
_same_session() {
	local p
	p=$(conn_port) || { fail "conns no longer lists the connection"; return 1; }
	expect_eq "external port of the connection" "$p" "$1"
}

# t_mode_switch FROM TO: a long-lived TCP connection from lan1 survives
# re-attaching with --mode TO, without --mode (which keeps TO), then with
# --mode FROM again: same session, same external port, and each time
# exactly the hooks of the new mode on the WAN; lan2's fast pings during
# each re-attach all get their replies. At the end, detach removes
# everything (the clsact qdisc the first attach made included).
t_mode_switch() {
	local from=$1 to=$2 port
	tcp_server "$NS_WAN" 8080 || return 1
	nat_attach --mode "$from" || return 1
	expect_mode "$from" || return 1

	conn_open "$NS_LAN1" || return 1
	port=$CONN_EXT_PORT
	conn_say "in-$from" || return 1
	_same_session "$port" || return 1
	note "connection up as $TOPO_WAN_GW:$port in mode $from"

	_switch --mode "$to" || return 1
	expect_mode "$to" || return 1
	conn_say "switched-to-$to" || return 1
	_same_session "$port" || return 1
	note "re-attached with --mode $to: same connection, same port"

	_switch || return 1
	expect_mode "$to" || { fail "a re-attach without --mode left mode $to"; return 1; }
	conn_say "still-$to" || return 1

	_switch --mode "$from" || return 1
	expect_mode "$from" || return 1
	conn_say "back-to-$from" || return 1
	_same_session "$port" || return 1
	note "re-attached with --mode $from: same connection, same port"

	bmq detach "$WAN" || { fail "detach failed"; return 1; }
	nothing_attached
}
net_test mode_switch.native-tc t_mode_switch native tc
net_test mode_switch.tc-native t_mode_switch tc native
net_test mode_switch.native-generic t_mode_switch native generic
