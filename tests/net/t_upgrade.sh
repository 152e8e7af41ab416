# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
#
# Upgrade in place: bpfmasq as of an older commit, built from the
# repository's own history, attaches and carries traffic; this build
# refuses every command on that instance but attach (and detach --force),
# and its attach takes the instance over: maps reused or carried over into
# their new layout, programs swapped on the hooks, established connections
# kept with their external ports, counters carried over, the record
# stamped with this build's layout. The other way round, the old build of
# layout 3 refuses this build's instance.
#
# The commits of the layouts upgraded from: the first release (layout 1,
# no instance record), the one that split the record off the config
# (layout 2), and the last one of layouts 3, 4, 5, 6 and 7.
UPGRADE_REVS=([1]=c5336bd [2]=fb0b2f2 [3]=ca0a230 [4]=be145dc [5]=411943f
	[6]=ccc5583 [7]=90b3f91)
# This build's, as its header says.
UPGRADE_NEW_LAYOUT=$(sed -n 's/^#define BPFMASQ_LAYOUT_VERSION \([0-9]*\)$/\1/p' \
	"$REPO_DIR/include/bpfmasq.h")
# The ICMP echo identifier of the pings that cross the upgrade.
UPGRADE_PING_ID=4242

# _old_build LAYOUT: bpfmasq as of ${UPGRADE_REVS[LAYOUT]}, built once per
# build directory (cached in old-REV next to $BPFMASQ_BIN; concurrent runs
# wait for the first one's build under a lock). Leaves its path in OLD_BIN
# and the layout in UPGRADE_OLD_LAYOUT. Returns 2, after a SKIP note, when
# the commit is not in the history (a shallow clone, a tarball).
_old_build() {
	UPGRADE_OLD_LAYOUT=$1
	local rev=${UPGRADE_REVS[$1]} cache err
	cache=$(dirname "$BPFMASQ_BIN")/old-$rev
	OLD_BIN=$cache/bpfmasq
	if ! err=$(git -C "$REPO_DIR" cat-file -e "$rev^{commit}" 2>&1); then
		note "SKIP: commit $rev (layout $UPGRADE_OLD_LAYOUT) is not in the history of $REPO_DIR${err:+ ($err)}: no old version to upgrade from"
		return 2
	fi
	mkdir -p "$cache" || {
		fail "cannot make $cache"
		return 1
	}
	(
		local src=$TOPO_TMP/old log=$TOPO_TMP/old-build.log t0=$SECONDS
		local -a st
		flock -w 60 9 || {
			fail "another run has been building $cache for 60 s"
			exit 1
		}
		if [[ -x $OLD_BIN ]]; then
			note "bpfmasq $rev (layout $UPGRADE_OLD_LAYOUT): cached in $cache"
			exit 0
		fi
		rm -rf -- "$src" && mkdir -p "$src" || exit 1
		git -C "$REPO_DIR" archive "$rev" | tar -x -C "$src"
		st=("${PIPESTATUS[@]}")
		[[ ${st[*]} == "0 0" ]] || {
			fail "git archive $rev | tar -x -C $src: exit ${st[*]}"
			exit 1
		}
		# The old Makefiles install missing packages from the network
		# once per build directory (tools/deps.sh, or dpkg and apt-get
		# before it). Their build packages are this build's, installed
		# already: mark that done, under either stamp.
		mkdir -p "$src/build" && touch "$src/build/.deps-build" "$src/build/.deps-ok" || exit 1
		# Nothing of an outer make (a -j jobserver, OUTPUT=...) leaks in.
		if ! env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL timeout 80 \
			make -C "$src" -j"$(nproc)" OUTPUT=build build/bpfmasq >"$log" 2>&1; then
			tail -n 20 "$log" | indent_log
			fail "make -C $src OUTPUT=build build/bpfmasq"
			exit 1
		fi
		# The BPF objects are in the binary (libbpf skeletons): the
		# binary alone is kept.
		{ cp "$src/build/bpfmasq" "$OLD_BIN.tmp" && mv -f "$OLD_BIN.tmp" "$OLD_BIN"; } ||
			{
				fail "cannot store the old build in $cache"
				exit 1
			}
		git -C "$REPO_DIR" rev-parse "$rev^{commit}" >"$cache/commit"
		rm -rf -- "$src"
		note "built bpfmasq $rev (layout $UPGRADE_OLD_LAYOUT) in $((SECONDS - t0)) s, cached in $cache"
	) 9>"$cache/lock"
}

# _old_bmq ARGS...: bmq with the old build.
_old_bmq() { BPFMASQ_BIN=$OLD_BIN bmq "$@"; }

# _refused_by BIN WHAT ARGS...: `bpfmasq ARGS...` of BIN exits non-zero with
# one line on stderr that names the layout or says to run attach.
_refused_by() {
	local bin=$1 what=$2 err rc
	shift 2
	err=$(BPFMASQ_BIN=$bin bmq "$@" 2>&1 >/dev/null)
	rc=$?
	((rc != 0)) || {
		fail "$what: '$*' succeeded"
		return 1
	}
	[[ -n $err && $(wc -l <<<"$err") == 1 ]] ||
		{
			fail "$what: '$*' (exit $rc): stderr is not one line: $err"
			return 1
		}
	[[ $err == *attach* || $err == *layout* ]] ||
		{
			fail "$what: '$*' (exit $rc): '$err' says nothing of the layout or of attach"
			return 1
		}
	note "$what: '$*' exit $rc: $err"
}

# _server_sees PORT: the server has the long-lived connection established
# with the gateway's address and that port.
_server_sees() {
	[[ -n $(ip netns exec "$NS_WAN" ss -Htn state established \
		"( sport = :8080 and dst $TOPO_WAN_GW:$1 )" 2>/dev/null) ]]
}

# _ping_id NS: ping the server with the echo identifier $UPGRADE_PING_ID.
_ping_id() {
	nsx "$1" ping -e "$UPGRADE_PING_ID" -c 3 -i 0.2 -W 2 -q "$TOPO_WAN_ADDR" >/dev/null ||
		{
			fail "ping -e $UPGRADE_PING_ID from ${1##*-} to $TOPO_WAN_ADDR failed"
			csum_report
			return 1
		}
}

# _outside PROTO INSIDE REMOTE: the outside endpoint of that session in
# conns --json (of $BPFMASQ_BIN).
_outside() {
	conns_json | pyjson "[c['outside'] for c in d if c['proto'] == '$1' and c['inside'] == '$2' and c['remote'] == '$3'][0]"
}

# _flows_outside: the outside endpoints of the UDP flow (lan1:40000 to
# server:9000) and of the pings (lan2, id $UPGRADE_PING_ID), one line.
_flows_outside() {
	local u i
	u=$(_outside udp "$TOPO_LAN1_ADDR:40000" "$TOPO_WAN_ADDR:9000") || return 1
	# ICMP echo sessions show the (external) id as the remote's port.
	i=$(conns_json | pyjson "[c['outside'] for c in d if c['proto'] == 'icmp' and c['inside'] == '$TOPO_LAN2_ADDR:$UPGRADE_PING_ID'][0]") || return 1
	echo "udp $u icmp $i"
}

# _upgrade_run LOG: `bpfmasq run` (this build) in the gateway, in the
# background, until it has attached; its pid in UPGRADE_DAEMON.
_upgrade_run() {
	local log=$1
	TOPO_BG_LOG=$log topo_bg "$NS_GW" "$BPFMASQ_BIN" run "$WAN" --internal "$TOPO_INTERNAL" \
		--gc-interval 1
	UPGRADE_DAEMON=$TOPO_BG_PID
	# shellcheck disable=SC2016 # quoted for eval, to expand at each try
	wait_until 10 eval 'grep -q ": attached; " "$log" || ! kill -0 $UPGRADE_DAEMON'
	if ! kill -0 "$UPGRADE_DAEMON" 2>/dev/null || ! grep -q ": attached; " "$log"; then
		indent_log <"$log"
		fail "bpfmasq run $WAN did not attach over the layout $UPGRADE_OLD_LAYOUT instance"
		return 1
	fi
}

# _old_layout: the layout of the old build's instance, as its status says
# (layout 1 has no record, and its status no layout_version).
_old_layout() {
	_old_bmq status "$WAN" --json | pyjson "d.get('layout_version', 1)"
}

# _tcp_conn FIELD: that field of the long-lived connection's session in
# conns --json (of $BPFMASQ_BIN).
_tcp_conn() {
	conns_json | pyjson "[c['$1'] for c in d if c['proto'] == 'tcp' and c['inside'].startswith('$TOPO_LAN1_ADDR:') and c['remote'] == '$TOPO_WAN_ADDR:8080'][0]"
}

# t_upgrade_from LAYOUT attach|run: the takeover of the instance that the
# build of layout LAYOUT attached, by `bpfmasq attach`, or by `bpfmasq run`
# (which then keeps running, collecting).
t_upgrade_from() {
	local how=$2 rc tport uport p flows flows2 out0 out1 v cmd pk0 pk1 ports
	local -a chk=() fixed=()
	# UPGRADE_FIXED=1: the old instance has a fixed --address (the same).
	[[ ${UPGRADE_FIXED:-0} == 1 ]] && fixed=(--address "$TOPO_WAN_GW")
	_old_build "$1"
	rc=$?
	((rc == 2)) && return 0
	((rc == 0)) || return 1

	# 2. The old build attached, carrying a connection, a flow and pings.
	tcp_server "$NS_WAN" 8080 || return 1
	udp_server "$NS_WAN" 9000 || return 1
	# A setting of the record's, to be kept: a timeout all layouts had.
	BPFMASQ_BIN=$OLD_BIN nat_attach --timeout-udp 301 "${fixed[@]}" || return 1
	v=$(_old_layout)
	expect_eq "layout_version of the old build's instance" "$v" "$UPGRADE_OLD_LAYOUT" || return 1
	ports=$(_old_bmq status "$WAN" --json | pyjson "d['ports']") || return 1
	conn_open "$NS_LAN1" || return 1
	tport=$CONN_EXT_PORT
	conn_say before || return 1
	uport=$(udp_check "$NS_LAN1" 40000 before) || return 1
	_ping_id "$NS_LAN2" || return 1
	flows=$(BPFMASQ_BIN=$OLD_BIN _flows_outside) ||
		{
			fail "the old build's conns does not list the UDP flow and the pings"
			return 1
		}
	out0=$(BPFMASQ_BIN=$OLD_BIN nat_stat translated_out) || return 1
	note "old build: TCP $TOPO_WAN_GW:$tport, UDP $TOPO_WAN_GW:$uport; $flows; translated_out $out0"
	# bpfmasq check came with layout 3.
	if ((UPGRADE_OLD_LAYOUT >= 3)) && ! p=$(_old_bmq check "$WAN" 2>&1); then
		indent_log <<<"$p"
		fail "the old build's check finds the old instance inconsistent"
		return 1
	fi

	# 3. This build's other commands refuse the old instance and leave it
	# as it is.
	for cmd in gc stats conns; do
		_refused_by "$BPFMASQ_BIN" "layout $UPGRADE_OLD_LAYOUT instance" "$cmd" "$WAN" || return 1
	done
	v=$(_old_layout)
	expect_eq "layout_version after the refused commands" "$v" "$UPGRADE_OLD_LAYOUT" || return 1
	conn_say after-refusals || return 1
	pk0=$(BPFMASQ_BIN=$OLD_BIN _tcp_conn packets) || {
		fail "the old build's conns does not list the connection"
		return 1
	}

	# 4. This build's attach (or run) takes it over in place.
	if [[ $how == run ]]; then
		_upgrade_run "$TOPO_TMP/run.log" || return 1
		# A collection pass or two over the upgraded state.
		sleep 2
	else
		# No --mode: the old record says which it is.
		NAT_MODE='' nat_attach || return 1
	fi
	expect_mode "$(mode_of "${NAT_MODE:-tc}")" || return 1
	v=$(status_field layout_version)
	expect_eq "layout_version after the upgrade" "$v" "$UPGRADE_NEW_LAYOUT" || return 1
	v=$(status_field ports)
	expect_eq "port ranges after the upgrade" "$v" "$ports" || return 1
	if ((${#fixed[@]})); then
		# A fixed address is a pool of one, its hosts paired with it.
		v=$(bmq status "$WAN" --json | pyjson "[(p['address'], p['state'], p['hosts']) for p in d['pool']]")
		expect_eq "the pool after the upgrade" "$v" "[[\"$TOPO_WAN_GW\", \"active\", 2]]" || return 1
	fi
	v=$(bmq status "$WAN" --json | pyjson "d['timeouts']['udp']")
	expect_eq "UDP timeout after the upgrade" "$v" 301 || return 1
	# Before a packet of theirs meets the new programs: the sessions were
	# carried over, not made again by the traffic that follows.
	p=$(conn_port) || {
		fail "conns does not list the connection after the upgrade"
		return 1
	}
	expect_eq "external port of the connection in conns after the upgrade" "$p" "$tport" || return 1
	v=$(_tcp_conn state) || return 1
	expect_eq "state of the connection in conns after the upgrade" "$v" established || return 1
	pk1=$(_tcp_conn packets) || return 1
	((pk1 >= pk0)) || {
		fail "the connection's session counts $pk1 packets after the upgrade, $pk0 before: it was not carried over"
		return 1
	}
	flows2=$(_flows_outside) ||
		{
			fail "conns does not list the UDP flow and the pings after the upgrade"
			return 1
		}
	expect_eq "outside endpoints of the UDP flow and the pings" "$flows2" "$flows" || return 1
	conn_say after-upgrade || return 1
	_server_sees "$tport" ||
		{
			fail "the server has no established connection from $TOPO_WAN_GW:$tport after the upgrade"
			return 1
		}
	p=$(udp_check "$NS_LAN1" 40000 after) || return 1
	expect_eq "external port of the UDP flow after the upgrade" "$p" "$uport" || return 1
	_ping_id "$NS_LAN2" || return 1
	flows2=$(_flows_outside) || return 1
	expect_eq "outside endpoints of the UDP flow and the pings after more traffic" "$flows2" "$flows" || return 1
	out1=$(nat_stat translated_out) || return 1
	((out1 >= out0)) || {
		fail "translated_out went back from $out0 to $out1: the counters were not carried over"
		return 1
	}
	# A new flow takes a port of the pools the upgrade built, shares none.
	p=$(tcp_check "$NS_LAN2" new-flow) || return 1
	v=$(nat_stat ports_shared) || return 1
	expect_eq "ports shared by the flows after the upgrade" "$v" 0 || return 1
	conn_say last || return 1
	note "upgraded: same connection and port, same flows, a new one on port $p; translated_out $out0 -> $out1"
	# The pools too, unless the daemon's collector may be moving them.
	[[ $how == run ]] || chk=(--pools)
	if ! p=$(bmq check "$WAN" "${chk[@]}" 2>&1); then
		indent_log <<<"$p"
		fail "bpfmasq check $WAN ${chk[*]} after the upgrade"
		return 1
	fi
	note "check: $(tail -n 1 <<<"$p")"

	# 5. And this build detaches it (the daemon, seeing that, exits).
	bmq detach "$WAN" || {
		fail "detach after the upgrade"
		return 1
	}
	if [[ $how == run ]]; then
		wait_until 10 eval "! kill -0 $UPGRADE_DAEMON" ||
			{
				fail "bpfmasq run still runs 10 s after detach"
				return 1
			}
		wait "$UPGRADE_DAEMON"
		expect_eq "exit status of bpfmasq run after detach" "$?" 0 || return 1
	fi
	nothing_attached
}
net_test_alone upgrade_from_layout_1 t_upgrade_from 1 attach
net_test upgrade_from_layout_1.run t_upgrade_from 1 run
net_test upgrade_from_layout_1.xdp in_mode xdp t_upgrade_from 1 attach
net_test_alone upgrade_from_layout_2 t_upgrade_from 2 attach
net_test upgrade_from_layout_2.run t_upgrade_from 2 run
net_test_alone upgrade_from_layout_3 t_upgrade_from 3 attach
net_test upgrade_from_layout_3.run t_upgrade_from 3 run
net_test_alone upgrade_from_layout_4 t_upgrade_from 4 attach
net_test upgrade_from_layout_4.run t_upgrade_from 4 run
net_test_alone upgrade_from_layout_5 t_upgrade_from 5 attach
net_test upgrade_from_layout_5.run t_upgrade_from 5 run
net_test_alone upgrade_from_layout_6 t_upgrade_from 6 attach
net_test upgrade_from_layout_6.run t_upgrade_from 6 run
net_test_alone upgrade_from_layout_7 t_upgrade_from 7 attach
net_test upgrade_from_layout_7.run t_upgrade_from 7 run
t_upgrade_fixed() { UPGRADE_FIXED=1 t_upgrade_from "$@"; }
net_test upgrade_from_layout_7.fixed t_upgrade_fixed 7 attach

# t_upgrade_moves_address: the upgrade of layout 7's instance with its fixed
# address to another address is also a new first address, which flushes (as
# a new address does without a pool: the forwards are on the first).
# Nothing is left on the old address, the state is consistent, and the
# hosts leave from the new one.
t_upgrade_moves_address() {
	local rc v
	_old_build 7
	rc=$?
	((rc == 2)) && return 0
	((rc == 0)) || return 1
	ip -n "$NS_GW" addr add "$ADDR_POOL1/32" dev "$WAN" ||
		{ fail "address $ADDR_POOL1 on $WAN"; return 1; }
	udp_server "$NS_WAN" 9000 || return 1
	BPFMASQ_BIN=$OLD_BIN nat_attach --address "$TOPO_WAN_GW" || return 1
	udp_check "$NS_LAN1" 40000 before >/dev/null || return 1
	udp_check "$NS_LAN2" 40000 before >/dev/null || return 1

	NAT_MODE='' nat_attach --address "$ADDR_POOL1" || return 1
	v=$(status_field layout_version)
	expect_eq "layout_version after the upgrade" "$v" "$UPGRADE_NEW_LAYOUT" || return 1
	expect_eq "the old address after the upgrade" "$(_pool_state "$TOPO_WAN_GW")" none || return 1
	expect_eq "the new address after the upgrade" "$(_pool_state "$ADDR_POOL1")" "active 0" || return 1
	expect_eq "mappings after the upgrade" "$(status_field mappings)" 0 || return 1
	if ! v=$(bmq check "$WAN" --pools 2>&1); then
		indent_log <<<"$v"
		fail "bpfmasq check $WAN --pools after the upgrade"
		return 1
	fi
	EXPECT_SRC=$ADDR_POOL1 udp_check "$NS_LAN1" 40000 after >/dev/null || return 1
	EXPECT_SRC=$ADDR_POOL1 udp_check "$NS_LAN2" 40001 after >/dev/null
}
net_test upgrade_moves_address t_upgrade_moves_address

# t_upgrade_detach LAYOUT: instead of upgrading it, this build detaches the
# instance of the old build of that layout, reading its record: the hooks,
# the XDP link, the pins and the clsact qdisc the old build made all go.
t_upgrade_detach() {
	local rc
	_old_build "$1"
	rc=$?
	((rc == 2)) && return 0
	((rc == 0)) || return 1
	tcp_server "$NS_WAN" 8080 || return 1
	BPFMASQ_BIN=$OLD_BIN nat_attach "${@:2}" || return 1
	tcp_check "$NS_LAN1" before >/dev/null || return 1
	bmq detach "$WAN" || {
		fail "detach of the layout $1 instance"
		return 1
	}
	nothing_attached
}
net_test upgrade_detach_layout_1 t_upgrade_detach 1
net_test upgrade_detach_layout_1.xdp t_upgrade_detach 1 --mode native
net_test upgrade_detach_layout_2 t_upgrade_detach 2

# t_upgrade_downgrade: the old build refuses an instance of this build's
# layout, and leaves it working.
t_upgrade_downgrade() {
	local rc v
	_old_build 3
	rc=$?
	((rc == 2)) && return 0
	((rc == 0)) || return 1
	tcp_server "$NS_WAN" 8080 || return 1
	nat_attach || return 1
	tcp_check "$NS_LAN1" before >/dev/null || return 1
	_refused_by "$OLD_BIN" "old build on layout $UPGRADE_NEW_LAYOUT" attach "$WAN" \
		--internal "$TOPO_INTERNAL" || return 1
	_refused_by "$OLD_BIN" "old build on layout $UPGRADE_NEW_LAYOUT" stats "$WAN" || return 1
	v=$(status_field layout_version)
	expect_eq "layout_version after the old build's commands" "$v" "$UPGRADE_NEW_LAYOUT" || return 1
	expect_mode "$(mode_of "${NAT_MODE:-tc}")" || return 1
	tcp_check "$NS_LAN1" after >/dev/null || return 1
	bmq detach "$WAN" || {
		fail "detach"
		return 1
	}
	nothing_attached
}
net_test downgrade_refused t_upgrade_downgrade

# _pin_map NAME TYPE KEY VALUE ENTRIES: a map of that shape pinned as NAME
# in the instance's pin directory.
_pin_map() {
	bpftool map create "$(pins_dir)/$1" type "$2" key "$3" value "$4" entries "$5" name "$1" ||
		{
			fail "bpftool map create $1 ($2, $3-byte keys, $4-byte values)"
			return 1
		}
}

# t_upgrade_snapshot: pins stamped layout 2 by a commit between two layouts
# (a8b9cd1: the fragments' 16-byte values of layout 3, or a7b4769: a
# 36-byte record) are of no layout this build knows: every command refuses
# them in one line, attach hooks nothing, and detach --force removes them.
t_upgrade_snapshot() {
	local rec cmd
	for rec in 32 36; do
		mkdir -p "$(pins_dir)" || return 1
		_pin_map config array 4 12 1 &&
			_pin_map instance array 4 "$rec" 1 &&
			_pin_map stats percpu_array 4 8 16 &&
			_pin_map sessions hash 16 56 64 &&
			_pin_map mappings hash 8 16 64 &&
			_pin_map port_owners hash 8 8 64 &&
			_pin_map frags lru_hash 12 16 64 || return 1
		# shellcheck disable=SC2046 # one word a byte
		bpftool map update pinned "$(pins_dir)/instance" key 0 0 0 0 \
			value 2 $(printf '0 %.0s' $(seq 2 "$rec")) ||
			{
				fail "bpftool map update instance"
				return 1
			}
		for cmd in attach status conns detach; do
			_refused_by "$BPFMASQ_BIN" "layout 2 snapshot, $rec-byte record" "$cmd" "$WAN" || return 1
		done
		[[ $(xdp_kind "$WAN") == none && -z $(tc_ours egress "$WAN") ]] ||
			{
				fail "attach hooked something to $WAN"
				return 1
			}
		[[ -e $(pins_dir)/sessions ]] || {
			fail "a refused command removed the pins"
			return 1
		}
		bmq detach --force "$WAN" >/dev/null || {
			fail "detach --force"
			return 1
		}
	done
	nothing_attached
}
net_test upgrade_snapshot_refused t_upgrade_snapshot
