# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
#
# Garbage collection: with 2 s UDP/ICMP timeouts, a 3 s port quarantine and
# a two-port range, fill the UDP pool, let the flows expire, run `bpfmasq
# gc`, and check that the sessions and mappings are gone, that their ports
# are quarantined (no new flow gets them), and that once the quarantine is
# over they went back to the pool (new flows get them again).

# _map_entries PINNED-MAP: number of entries, read by bpftool (not the CLI).
_map_entries() {
	bpftool -j map dump pinned "$1" | pyjson 'len(d)'
}

t_gc() {
	local u1 u2 u3 u4 n i m conns
	nat_attach --ports 20000-20001 --timeout-udp 2 --timeout-icmp 2 \
		--timeout-quarantine 3 || return 1
	udp_server "$NS_WAN" 9000 || return 1

	# Inside ports outside the range: both external ports come from the pool.
	u1=$(udp_check "$NS_LAN1" 40001 a) || return 1
	u2=$(udp_check "$NS_LAN1" 40002 b) || return 1
	note "UDP :40001 -> $u1, :40002 -> $u2"
	[[ $u1 != "$u2" && $u1 =~ ^2000[01]$ && $u2 =~ ^2000[01]$ ]] ||
		{ fail "expected ports 20000 and 20001, got $u1 and $u2"; return 1; }
	# The pool is empty: a third inside endpoint cannot be mapped, and its
	# packet is dropped (never sent with its inside address), and counted.
	if udp_call "$NS_LAN1" 40003 c 1 --first >/dev/null; then
		fail "a third UDP flow got through a two-port range"
		return 1
	fi
	n=$(nat_stat port_pool_empty) || return 1
	((n >= 1)) || { fail "stats: port_pool_empty is $n, expected >= 1"; return 1; }
	ping_check "$NS_LAN1" 2 || return 1

	conns=$(conns_json) || return 1
	n=$(pyjson 'len([c for c in d if c["proto"] == "udp"])' <<<"$conns")
	expect_eq "UDP sessions listed" "$n" 2 || return 1
	n=$(pyjson 'len([c for c in d if c["proto"] == "icmp"])' <<<"$conns")
	expect_eq "ICMP sessions listed" "$n" 1 || return 1

	sleep 3 # past the 2 s timeouts
	bmq gc "$WAN" || { fail "bpfmasq gc failed"; return 1; }
	n=$(conns_json | pyjson 'len(d)') || return 1
	expect_eq "sessions after gc" "$n" 0 || return 1
	n=$(_map_entries "$(pins_dir)/sessions") || return 1
	expect_eq "entries in the pinned sessions map" "$n" 0 || return 1

	# A mapping may outlive its last session by a short grace period after
	# its last session was created (BPFMASQ_MAPPING_GRACE_S, so that GC never
	# races a flow being set up on it): if this pass kept it, a later one
	# releases it. Poll, bounded.
	for ((i = 0; i < 15; i++)); do
		bmq gc "$WAN" >/dev/null 2>&1
		m=$(status_field mappings) || return 1
		[[ $m == 0 ]] && break
		sleep 1
	done
	expect_eq "mappings after gc (status --json)" "$m" 0 || return 1
	n=$(_map_entries "$(pins_dir)/mappings") || return 1
	expect_eq "entries in the pinned mappings map" "$n" 0 || return 1
	note "mappings released by gc pass $((i + 1))"

	# Quarantined: the owner entries stay, naming no one, and a new flow
	# finds no port.
	n=$(bpftool -j map dump pinned "$(pins_dir)/port_owners" |
		pyjson 'len([e for e in d if e["formatted"]["value"]["state"] == 2 and e["formatted"]["key"]["proto"] == 17])') ||
		return 1
	expect_eq "quarantined UDP entries in port_owners" "$n" 2 || return 1
	if udp_call "$NS_LAN1" 40005 e 1 --first >/dev/null; then
		fail "a new UDP flow got a quarantined port"
		return 1
	fi
	sleep 4 # past the 3 s quarantine
	bmq gc "$WAN" || { fail "bpfmasq gc failed"; return 1; }
	n=$(_map_entries "$(pins_dir)/port_owners") || return 1
	expect_eq "entries in the pinned port_owners map" "$n" 0 || return 1

	# The two ports are back in the pool: two new flows get them.
	u3=$(udp_check "$NS_LAN1" 40003 c) || return 1
	u4=$(udp_check "$NS_LAN1" 40004 d) || return 1
	note "after gc: UDP :40003 -> $u3, :40004 -> $u4"
	[[ $u3 != "$u4" && $u3 =~ ^2000[01]$ && $u4 =~ ^2000[01]$ ]] ||
		{ fail "expected ports 20000 and 20001 again, got $u3 and $u4"; return 1; }
	ping_check "$NS_LAN1" 2
}
net_test_alone gc t_gc

# t_gc_serialised: commands that change the state wait for one another (a
# lock on the bpffs): while another holder keeps it for 2 s, `gc` waits and
# then runs; `status`, which only reads, does not wait.
t_gc_serialised() {
	local holder t0 t1 ms
	nat_attach || return 1
	flock -x "$BPFMASQ_BPFFS" sleep 2 &
	holder=$!
	sleep 0.3
	t0=$(date +%s%N)
	bmq status "$WAN" >/dev/null || { fail "status while locked"; kill "$holder"; return 1; }
	t1=$(date +%s%N)
	ms=$(((t1 - t0) / 1000000))
	((ms < 1000)) || { fail "status waited ${ms} ms for the lock"; kill "$holder"; return 1; }
	bmq gc "$WAN" >/dev/null || { fail "gc after the lock was released"; return 1; }
	t1=$(date +%s%N)
	ms=$(((t1 - t0) / 1000000))
	wait "$holder"
	((ms >= 1200)) || { fail "gc did not wait for the lock (${ms} ms)"; return 1; }
	note "status did not wait; gc waited ${ms} ms for the lock"
}
net_test gc_serialised t_gc_serialised
