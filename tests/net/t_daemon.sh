# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
#
# Daemon restart: `bpfmasq run` leaves the data path and its state pinned
# when it is stopped, a connection keeps working with no daemon at all, and
# a new `bpfmasq run` picks the state up again (same session, same external
# port, same ingress mode) instead of wiping it.

# _stop_daemon PID [SIGNAL]: SIGTERM (or SIGNAL), then it must exit 0
# within 10 s.
_stop_daemon() {
	local pid=$1 sig=${2:-TERM} rc
	kill -"$sig" "$pid" || { fail "daemon $pid is not running"; return 1; }
	wait_until 10 eval "! kill -0 $pid" || { fail "daemon $pid still running 10 s after SIG$sig"; return 1; }
	wait "$pid"
	rc=$?
	expect_eq "daemon exit status after SIG$sig" "$rc" 0
}

# _start_daemon LOG ARGS...: bpfmasq run in the gateway, in the background;
# waits until it has attached. Leaves its pid in DAEMON_PID.
_start_daemon() {
	local log=$1
	shift
	TOPO_BG_LOG=$log topo_bg "$NS_GW" "$BPFMASQ_BIN" run "$WAN" "$@"
	DAEMON_PID=$TOPO_BG_PID
	# Up once it says so (attach is complete, config included), the pins
	# are there and the programs are on the interface.
	# shellcheck disable=SC2016 # quoted for eval, to expand at each try
	wait_until 10 eval 'grep -q ": attached; " "$log" && bmq status "$WAN" &&
		ingress_attached && tc_egress_attached' ||
		{ fail "bpfmasq run did not attach: $(cat "$log")"; hooks_report; return 1; }
}

# t_daemon_restart tc|xdp: the first daemon attaches in that mode (tc: the
# default on veth; xdp: --mode native); the second is started without
# --mode and must keep the mode that is attached.
t_daemon_restart() {
	local mode=$1 d1 d2 port p
	local -a mode_args=()
	[[ $mode == xdp ]] && mode_args=(--mode native)
	tcp_server "$NS_WAN" 8080 || return 1

	_start_daemon "$TOPO_TMP/run1.log" --internal "$TOPO_INTERNAL" --gc-interval 1 \
		"${mode_args[@]}" || return 1
	d1=$DAEMON_PID
	kill -0 "$d1" 2>/dev/null || { fail "bpfmasq run exited: $(cat "$TOPO_TMP/run1.log")"; return 1; }
	expect_mode "$(mode_of "$mode")" || return 1

	conn_open "$NS_LAN1" || return 1
	port=$CONN_EXT_PORT
	conn_say one || return 1
	p=$(conn_port) || { fail "conns does not list the connection"; return 1; }
	expect_eq "external port in conns" "$p" "$port" || return 1
	note "connection up as $TOPO_WAN_GW:$port, daemon $d1, mode $(status_field mode)"

	_stop_daemon "$d1" || { indent_log <"$TOPO_TMP/run1.log"; return 1; }
	bmq status "$WAN" >/dev/null || { fail "bpfmasq status fails once the daemon is gone"; return 1; }
	expect_mode "$(mode_of "$mode")" || { fail "the hooks changed when the daemon stopped"; return 1; }
	[[ -e $(pins_dir)/sessions ]] || { fail "pins gone with the daemon"; return 1; }
	conn_say two-no-daemon || return 1
	note "daemon stopped (exit 0); connection still works"

	# No --mode: the attached mode is kept.
	_start_daemon "$TOPO_TMP/run2.log" --internal "$TOPO_INTERNAL" --gc-interval 1 || return 1
	d2=$DAEMON_PID
	# Give it time to run a GC pass or two.
	sleep 2
	kill -0 "$d2" 2>/dev/null || { fail "second bpfmasq run exited: $(cat "$TOPO_TMP/run2.log")"; return 1; }
	expect_mode "$(mode_of "$mode")" || { fail "bpfmasq run without --mode changed the mode"; return 1; }
	p=$(conn_port) || { fail "after restart, conns does not list the connection"; return 1; }
	expect_eq "external port after restart" "$p" "$port" || return 1
	conn_say three-after-restart || return 1
	note "daemon restarted; same mode, same session, same port, connection works"

	# SIGINT (Ctrl-C in a terminal) stops it just as cleanly.
	_stop_daemon "$d2" INT || { indent_log <"$TOPO_TMP/run2.log"; return 1; }
	expect_mode "$(mode_of "$mode")" || { fail "the hooks changed when the daemon stopped (SIGINT)"; return 1; }
	conn_say four-no-daemon || return 1
	bmq detach "$WAN" || { fail "detach failed"; return 1; }
	nothing_attached
}
net_test daemon_restart.tc t_daemon_restart tc
net_test daemon_restart.xdp t_daemon_restart xdp

# t_daemon_detach: `bpfmasq detach` while the daemon runs: the daemon
# notices and exits, successfully.
t_daemon_detach() {
	_start_daemon "$TOPO_TMP/run.log" --internal "$TOPO_INTERNAL" --gc-interval 1 || return 1
	bmq detach "$WAN" || { fail "detach failed"; return 1; }
	wait_until 10 eval "! kill -0 $DAEMON_PID" ||
		{ fail "the daemon still runs 10 s after detach"; return 1; }
	wait "$DAEMON_PID"
	expect_eq "daemon exit status after detach" "$?" 0 || return 1
	nothing_attached
}
net_test daemon_detach t_daemon_detach

# t_daemon_follow: masquerading follows the WAN address. The daemon sees the
# address change, translates to the new address and flushes what was built
# on the old one.
t_daemon_follow() {
	local n port
	tcp_server "$NS_WAN" 8080 || return 1
	udp_server "$NS_WAN" 9000 || return 1
	_start_daemon "$TOPO_TMP/run.log" --internal "$TOPO_INTERNAL" --gc-interval 1 || return 1
	tcp_check "$NS_LAN1" before >/dev/null || return 1
	udp_check "$NS_LAN1" 40000 before >/dev/null || return 1

	ip -n "$NS_GW" addr del "$TOPO_WAN_GW/24" dev "$WAN" || return 1
	ip -n "$NS_GW" addr add 203.0.113.7/24 dev "$WAN" || return 1
	ip -n "$NS_GW" route replace default via "$TOPO_WAN_ADDR" || return 1
	# shellcheck disable=SC2016 # quoted for eval, to expand at each try
	wait_until 10 eval '[[ $(status_field address) == 203.0.113.7 ]]' ||
		{ fail "status address still '$(status_field address)' 10 s after the change"; return 1; }
	n=$(conns_json | pyjson "len([c for c in d if c['outside'].startswith('$TOPO_WAN_GW:')])") || return 1
	expect_eq "sessions left on the old address" "$n" 0 || return 1

	port=$(EXPECT_SRC=203.0.113.7 tcp_check "$NS_LAN1" after) || return 1
	note "after the change: server saw 203.0.113.7:$port"
	port=$(EXPECT_SRC=203.0.113.7 udp_check "$NS_LAN1" 40000 after) || return 1
	ping_check "$NS_LAN2" 2 || return 1
	_stop_daemon "$DAEMON_PID" || return 1
}
net_test daemon_follow_address t_daemon_follow

# t_daemon_recreate: the WAN interface is deleted and created again (as a
# network manager may do). The programs went with the old interface; the
# daemon attaches to the new one and traffic is translated again.
t_daemon_recreate() {
	tcp_server "$NS_WAN" 8080 || return 1
	_start_daemon "$TOPO_TMP/run.log" --internal "$TOPO_INTERNAL" --gc-interval 1 || return 1
	tcp_check "$NS_LAN1" before >/dev/null || return 1

	ip -n "$NS_GW" link del "$WAN" || return 1
	ip link add eth0 netns "$NS_WAN" type veth peer name "$WAN" netns "$NS_GW" || return 1
	ip -n "$NS_GW" addr add "$TOPO_WAN_GW/24" dev "$WAN" || return 1
	ip -n "$NS_WAN" addr add "$TOPO_WAN_ADDR/24" dev eth0 || return 1
	ip -n "$NS_WAN" link set eth0 up || return 1
	ip -n "$NS_GW" link set "$WAN" up || return 1
	ip -n "$NS_GW" route replace default via "$TOPO_WAN_ADDR" || return 1
	# shellcheck disable=SC2016 # quoted for eval, to expand at each try
	wait_until 10 eval 'grep -q "created again: attaching" "$TOPO_TMP/run.log" &&
		tc -n "$NS_GW" filter show dev "$WAN" egress | grep -q bpfmasq_egress' ||
		{ fail "the daemon did not attach to the new $WAN"; return 1; }
	# shellcheck disable=SC2016 # quoted for eval, to expand at each try
	wait_until 10 eval 'EXPECT_SRC=$TOPO_WAN_GW tcp_check "$NS_LAN1" after >/dev/null' ||
		{ fail "no translated TCP through the new $WAN"; return 1; }
	expect_mode tc || return 1
	_stop_daemon "$DAEMON_PID" || return 1
}
net_test daemon_recreate t_daemon_recreate
