# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
#
# The state checker from the command line: `bpfmasq check` finds nothing on
# an instance that carried real traffic, finds an owner deleted by hand
# with bpftool (exit 1, the violation on stdout, in text and in JSON), and
# fails with one line on stderr for an interface that is not attached.

# _ep_hex A.B.C.D PORT PROTO [LAST]: a struct bpfmasq_endpoint (or owner) as hex
# bytes: address and port in network order, protocol, then padding or state.
_ep_hex() {
	local IFS=. last=${4:-0}
	# shellcheck disable=SC2086
	set -- $1 "$2" "$3"
	printf '%02x %02x %02x %02x %02x %02x %02x %02x' "$1" "$2" "$3" "$4" \
		$(($5 >> 8)) $(($5 & 255)) "$6" "$last"
}

t_check_cli() {
	local out err rc conns inside outside n
	nat_attach || return 1
	tcp_server "$NS_WAN" 8080 || return 1
	udp_server "$NS_WAN" 9000 || return 1
	tcp_check "$NS_LAN1" one >/dev/null || return 1
	tcp_check "$NS_LAN2" two >/dev/null || return 1
	udp_check "$NS_LAN1" 40001 three >/dev/null || return 1
	ping_check "$NS_LAN2" 2 || return 1

	out=$(bmq check "$WAN" --pools) || {
		indent_log <<<"$out"
		fail "check --pools on a healthy instance failed"
		return 1
	}
	note "healthy: $out"
	grep -Eqx '[0-9]+ mappings, [0-9]+ owners, [1-9][0-9]* sessions, [0-9]+ queued ports checked: 0 violations' <<<"$out" ||
		{ fail "check --pools printed '$out'"; return 1; }
	out=$(bmq check "$WAN" --json) || { fail "check --json on a healthy instance failed"; return 1; }
	n=$(pyjson 'd["violation_count"] + len(d["violations"])' <<<"$out") || return 1
	expect_eq "violations in check --json" "$n" 0 || return 1

	# Delete the owner of lan1's TCP mapping behind the NAT's back.
	conns=$(conns_json) || return 1
	inside=$(pyjson "[c['inside'] for c in d if c['proto'] == 'tcp' and c['inside'].startswith('$TOPO_LAN1_ADDR:')][0]" <<<"$conns") || return 1
	outside=$(pyjson "[c['outside'] for c in d if c['inside'] == '$inside' and c['proto'] == 'tcp'][0]" <<<"$conns") || return 1
	# shellcheck disable=SC2046
	bpftool map delete pinned "$(pins_dir)/port_owners" key hex \
		$(_ep_hex "${outside%:*}" "${outside##*:}" 6) ||
		{ fail "bpftool could not delete the owner of $outside"; return 1; }
	out=$(bmq check "$WAN" 2>"$TOPO_TMP/check.err")
	rc=$?
	err=$(<"$TOPO_TMP/check.err")
	indent_log <<<"$out"
	expect_eq "exit status of check on a corrupted instance" "$rc" 1 || return 1
	expect_eq "stderr of check on a corrupted instance" "$err" "" || return 1
	grep -qxF "violation: owner_missing: mapping tcp $inside -> $outside: $outside has no owner" <<<"$out" ||
		{ fail "check did not report the deleted owner of $outside"; return 1; }
	expect_eq "violation lines" "$(grep -c '^violation: ' <<<"$out")" 1 || return 1
	out=$(bmq check "$WAN" --json)
	expect_eq "exit status of check --json on a corrupted instance" "$?" 1 || return 1
	n=$(pyjson '"%d %s" % (d["violation_count"], d["violations"][0]["kind"])' <<<"$out") || return 1
	expect_eq "check --json on a corrupted instance" "$n" "1 owner_missing" || return 1

	# Put it back: the state is whole again.
	# shellcheck disable=SC2046
	bpftool map update pinned "$(pins_dir)/port_owners" \
		key hex $(_ep_hex "${outside%:*}" "${outside##*:}" 6) \
		value hex $(_ep_hex "${inside%:*}" "${inside##*:}" 6 1) ||
		{ fail "bpftool could not restore the owner of $outside"; return 1; }
	out=$(bmq check "$WAN" --pools) || { indent_log <<<"$out"; fail "check after the repair failed"; return 1; }

	# Not attached: exit 1 and one line on stderr, nothing on stdout.
	out=$(bmq check nosuch0 2>"$TOPO_TMP/check.err")
	rc=$?
	err=$(<"$TOPO_TMP/check.err")
	expect_eq "exit status of check on an unknown interface" "$rc" 1 || return 1
	expect_eq "stdout of check on an unknown interface" "$out" "" || return 1
	expect_eq "stderr lines of check on an unknown interface" "$(wc -l <<<"$err")" 1 || return 1
	note "unknown interface: $err"
	# Bad usage: exit 2.
	bmq check >/dev/null 2>&1
	expect_eq "exit status of check without an interface" "$?" 2 || return 1
	bmq check "$WAN" --ports 1-2 >/dev/null 2>&1
	expect_eq "exit status of check --ports" "$?" 2
}
net_test check_cli t_check_cli

# _udp_churn NS SECS: new UDP flows (a fresh source port each) to the
# server's port 9000, back to back, for SECS seconds.
_udp_churn() {
	timeout $(($2 + 5)) ip netns exec "$1" python3 -c '
import socket, sys, time
end = time.monotonic() + float(sys.argv[2])
while time.monotonic() < end:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(0.02)
    s.sendto(b"churn", (sys.argv[1], 9000))
    try:
        s.recv(100)
    except OSError:
        pass
    s.close()
' "$TOPO_WAN_ADDR" "$2"
}

# t_check_traffic: check reports no violation on a healthy instance under
# traffic, while the collector (bpfmasq run, 1 s timeouts) releases mappings
# and returns their ports as fast as new flows take them: every pass of the
# collector changes thousands of entries while check reads them. Once the
# traffic stops, the state must still be whole.
t_check_traffic() {
	local i ns out rc=0 seen=0 n
	udp_server "$NS_WAN" 9000 || return 1
	_start_daemon "$TOPO_TMP/run.log" --internal "$TOPO_INTERNAL" \
		--ports 20000-24095 --timeout-udp 1 --timeout-icmp 1 \
		--gc-interval 1 || return 1
	for ns in "$NS_LAN1" "$NS_LAN2"; do
		_udp_churn "$ns" 8 &
		echo $! >>"$TOPO_TMP/pids"
	done
	TOPO_BG_LOG=/dev/null topo_bg "$NS_LAN1" timeout 8 ping -q -i 0.2 "$TOPO_WAN_ADDR"
	sleep 1
	for ((i = 0; i < 12; i++)); do
		if ! out=$(bmq check "$WAN" 2>&1); then
			indent_log <<<"$out"
			# See README, "Invariants", for the races known to leave
			# a session without its mapping: a real violation.
			fail "check reported a violation under traffic (pass $i)"
			rc=1
		fi
		n=$(sed -n 's/.*, \([0-9]*\) sessions checked.*/\1/p' <<<"$out")
		((seen += ${n:-0}))
		sleep 0.5
	done
	note "12 checks under traffic: $seen sessions seen in all; new_mappings $(nat_stat new_mappings), port_pool_empty $(nat_stat port_pool_empty)"
	((seen > 0)) || { fail "no session was ever seen: no traffic to check"; rc=1; }
	return $rc
}
net_test_alone check_traffic t_check_traffic
