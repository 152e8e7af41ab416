# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
#
# TCP state that spoofing cannot move: an off-path host that knows the
# server's endpoint and the gateway's external port, but not the sequence
# numbers, forges RSTs and FINs from the server (out of the window, in it
# but not where a RST resets, a FIN with an impossible ack); the session
# stays established and the connection outlives the short timeouts. Real
# connections closed by their hosts are seen closing.

# _sess_peer SIDE FIELD: a field of the long-lived connection's per-side
# TCP state (SIDE 0: the inside host, 1: the server), from the pinned
# sessions map; 0 if there is none.
_sess_peer() {
	bpftool -j map dump pinned "$(pins_dir)/sessions" | pyjson "
[(e['formatted']['value']['u'].get('tcp') or [{}, {}])[$1].get('$2', 0) for e in d
 if e['formatted']['key']['proto'] == 6 and
 ((e['formatted']['value']['ext_port'] & 0xff) << 8 | e['formatted']['value']['ext_port'] >> 8) == $CONN_EXT_PORT][0]" 2>/dev/null ||
		echo 0
}

# _conn_state: the long-lived connection's state in conns --json.
_conn_state() {
	conns_json | pyjson "[c['state'] for c in d if c['proto'] == 'tcp' and c['outside'].endswith(':$CONN_EXT_PORT')][0]"
}

_state_is() { [[ $(_conn_state) == "$1" ]]; }
# _stat_is NAME N: counter NAME is N.
_stat_is() { [[ $(nat_stat "$1") == "$2" ]]; }

# _conn_unsure: whether the long-lived connection has a RST in doubt.
_conn_unsure() {
	conns_json | pyjson "[c['reset_unsure'] for c in d if c['proto'] == 'tcp' and c['outside'].endswith(':$CONN_EXT_PORT')][0]"
}
_conn_sure() { [[ $(_conn_unsure) == False ]]; }

# _spoof FLAGS SEQ [ACK]: a segment from the server's endpoint to the
# gateway's external port, forged in the server's namespace.
_spoof() {
	nsx "$NS_WAN" python3 "$NETTOOL" tcp-spoof --src "$TOPO_WAN_ADDR:8080" \
		--dst "$TOPO_WAN_GW:$CONN_EXT_PORT" --flags "$1" --seq "$2" --ack "${3:-0}"
}

t_tcp_spoof() {
	local ack rack seq in0 in1 oow state
	nat_attach --timeout-tcp-trans 3 --timeout-tcp-close 1 || return 1
	tcp_server "$NS_WAN" 8080 || return 1
	conn_open "$NS_LAN1" || return 1
	conn_say hello || return 1
	expect_eq "state of the connection" "$(_conn_state)" established || return 1

	# Half the sequence space away from what the inside host acknowledged:
	# out of any window.
	ack=$(_sess_peer 0 ack)
	rack=$(_sess_peer 1 ack)
	seq=$(((ack + 0x80000000) & 0xffffffff))
	note "inside host acknowledged $ack; spoofing RST and FIN at $seq"
	in0=$(nat_stat translated_in) || return 1
	_spoof R "$seq" || { fail "cannot send the spoofed RST"; return 1; }
	_spoof FA "$seq" "$rack" || { fail "cannot send the spoofed FIN"; return 1; }
	wait_until 5 _stat_is tcp_out_of_window 2 ||
		{ fail "tcp_out_of_window is $(nat_stat tcp_out_of_window), expected 2"; return 1; }
	# Still translated and forwarded: the inside host judges them.
	in1=$(nat_stat translated_in) || return 1
	((in1 >= in0 + 2)) || { fail "translated_in went from $in0 to $in1, expected the 2 spoofed segments"; return 1; }
	expect_eq "state after the spoofed RST and FIN" "$(_conn_state)" established || return 1

	# In the window, but not at its left edge: an RFC 5961 host answers
	# with a challenge ACK and lives on. The session stays established,
	# in doubt until the ACK goes out, then sure again.
	ack=$(_sess_peer 0 ack)
	_spoof R $(((ack + 1000) & 0xffffffff)) ||
		{ fail "cannot send the in-window RST"; return 1; }
	wait_until 5 _stat_is tcp_rst_inexact 1 ||
		{ fail "tcp_rst_inexact is $(nat_stat tcp_rst_inexact), expected 1"; return 1; }
	expect_eq "state after a RST inside the window" "$(_conn_state)" established || return 1
	wait_until 5 _conn_sure ||
		{ fail "reset_unsure is $(_conn_unsure) after the challenge ACK, expected False"; return 1; }

	# A FIN at the right sequence number that acknowledges data the inside
	# host never sent: out of window.
	_spoof FA "$ack" $(((rack + 0x40000000) & 0xffffffff)) ||
		{ fail "cannot send the FIN with a wrong ack"; return 1; }
	wait_until 5 _stat_is tcp_out_of_window 3 ||
		{ fail "tcp_out_of_window is $(nat_stat tcp_out_of_window), expected 3"; return 1; }
	expect_eq "state after a FIN acknowledging unsent data" "$(_conn_state)" established || return 1

	# Idle past the transitory and close timeouts, then a collection pass.
	sleep 4
	bmq gc "$WAN" >/dev/null || { fail "bpfmasq gc failed"; return 1; }
	expect_eq "state after idling and gc" "$(_conn_state)" established || return 1
	conn_say "after the spoofs" || return 1

	# A RST at exactly what the inside host expects is the real thing: the
	# session closes and goes on the close timeout.
	ack=$(_sess_peer 0 ack)
	_spoof R "$ack" || { fail "cannot send the exact RST"; return 1; }
	wait_until 5 _state_is rst_seen ||
		{ fail "state after an exact RST: $(_conn_state), expected rst_seen"; return 1; }
	oow=$(nat_stat tcp_out_of_window) || return 1
	expect_eq "tcp_out_of_window after the exact RST" "$oow" 3 || return 1
	sleep 2
	bmq gc "$WAN" >/dev/null || { fail "bpfmasq gc failed"; return 1; }
	state=$(conns_json | pyjson "len([c for c in d if c['proto'] == 'tcp'])") || return 1
	expect_eq "TCP sessions 2 s after the RST (close timeout 1 s)" "$state" 0
}
net_test_alone tcp_spoof t_tcp_spoof
net_test_alone tcp_spoof_xdp in_mode xdp t_tcp_spoof
net_test_alone tcp_spoof_fast in_mode fast t_tcp_spoof

# _tcp_states: the states of every TCP session, sorted, one line.
_tcp_states() { conns_json | pyjson "' '.join(sorted(c['state'] for c in d if c['proto'] == 'tcp'))"; }
_tcp_states_are() { [[ $(_tcp_states) == "$1" ]]; }

# t_tcp_close: real connections, closed by their hosts, are seen closing
# from within their windows (window scaling, timestamps and all): a short
# exchange and a 4 MB download each end "closed", nothing is out of
# window, and the close timeout collects them.
t_tcp_close() {
	local data=$TOPO_TMP/close.data n
	nat_attach --timeout-tcp-close 1 || return 1
	tcp_server "$NS_WAN" 8080 || return 1
	tcp_check "$NS_LAN1" hello >/dev/null || return 1
	head -c 4M /dev/urandom >"$data" || return 1
	tcp_download "$NS_WAN" "$TOPO_WAN_ADDR" 5001 "$data" 30 || return 1
	wait_until 5 _tcp_states_are "closed closed" ||
		{ fail "TCP session states: '$(_tcp_states)', expected 'closed closed'"; return 1; }
	n=$(nat_stat tcp_out_of_window) || return 1
	expect_eq "tcp_out_of_window after two clean closes" "$n" 0 || return 1
	sleep 2
	bmq gc "$WAN" >/dev/null || { fail "bpfmasq gc failed"; return 1; }
	expect_eq "TCP sessions 2 s after closing (close timeout 1 s)" "$(_tcp_states)" ""
}
net_test tcp_close t_tcp_close
net_test tcp_close_xdp in_mode xdp t_tcp_close
net_test tcp_close_fast in_mode fast t_tcp_close
