# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
#
# topo.sh - the test/demo topology, as functions to source:
#
#   lan1 (10.77.1.2/24) --eth0---lan1-- +----+
#                                       | gw | --wan0---eth0-- wan (203.0.113.2/24)
#   lan2 (10.77.2.2/24) --eth0---lan2-- +----+   203.0.113.1/24
#
# Four network namespaces whose names are unique per run (prefix "bmq<pid>r<n>"),
# so concurrent runs never meet and nothing outside them is touched. The server
# "wan" has no route to 10.77.0.0/16: a reply only comes back if the gateway
# translated the source, so "a reply arrived" proves the NAT worked.
#
# A bpffs is mounted in the root mount namespace in a temp dir: `ip netns
# exec` remounts /sys and so hides /sys/fs/bpf, but mounts below /tmp stay
# visible in every namespace. BPFMASQ_BPFFS points at it.
#
#   topo_init            names, temp dir, bpffs        (honours TOPO_PREFIX/TOPO_TMP)
#   topo_create          namespaces, veths, addresses, routes
#   topo_offload on|off  TX checksum offload on the end hosts
#   topo_gw_offload on|off  the same on the gateway's interfaces
#   topo_bg NS CMD...    start CMD in NS in the background, killed by cleanup
#   topo_far_create [MTU]  optional: a host "far" beyond the server, which
#                        routes for it over a link with a small MTU
#   topo_far_offload on|off  TX checksum offload on that link's two ends
#   topo_cleanup         kill what was started, delete namespaces, unmount
#
# Every function is `set -u` safe and returns non-zero on failure rather than
# exiting, so callers decide.

TOPO_LAN1_ADDR=10.77.1.2
TOPO_LAN1_GW=10.77.1.1
TOPO_LAN2_ADDR=10.77.2.2
TOPO_LAN2_GW=10.77.2.1
TOPO_WAN_GW=203.0.113.1
TOPO_WAN_ADDR=203.0.113.2
# shellcheck disable=SC2034 # used by the scripts that source this
TOPO_INTERNAL=10.77.0.0/16
# The gateway's WAN interface, as named inside the gw namespace.
TOPO_WAN_IF=wan0

# topo_init: choose names, make the temp dir and mount the bpffs.
# A parent that wants to clean up after a killed child passes TOPO_PREFIX and
# TOPO_TMP in the environment, then calls topo_cleanup itself.
topo_init() {
	TOPO_PREFIX=${TOPO_PREFIX:-bmq${BASHPID}r${RANDOM}}
	NS_LAN1=${TOPO_PREFIX}-lan1
	NS_LAN2=${TOPO_PREFIX}-lan2
	NS_GW=${TOPO_PREFIX}-gw
	NS_WAN=${TOPO_PREFIX}-wan
	if [[ -z ${TOPO_TMP:-} ]]; then
		TOPO_TMP=$(mktemp -d /tmp/bpfmasq-topo.XXXXXX) || return 1
	fi
	mkdir -p "$TOPO_TMP/bpffs" || return 1
	: >>"$TOPO_TMP/pids"
	if ! mountpoint -q "$TOPO_TMP/bpffs"; then
		mount -t bpf bpf "$TOPO_TMP/bpffs" || return 1
	fi
	export BPFMASQ_BPFFS=$TOPO_TMP/bpffs
	export TOPO_PREFIX TOPO_TMP NS_LAN1 NS_LAN2 NS_GW NS_WAN
}

# Quiet namespace: no IPv6 (no DAD, router solicitations or MLD reports to
# show up as non-IPv4 noise in the NAT's counters), loopback up.
_topo_ns_add() {
	ip netns add "$1" || return 1
	ip -n "$1" link set lo up || return 1
	ip netns exec "$1" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 \
		net.ipv6.conf.default.disable_ipv6=1 >/dev/null || return 1
}

topo_create() {
	local ns

	for ns in "$NS_LAN1" "$NS_LAN2" "$NS_GW" "$NS_WAN"; do
		_topo_ns_add "$ns" || return 1
	done

	# Create each veth pair directly in its two namespaces: nothing ever
	# appears in the root namespace, so names cannot clash with the host's.
	ip link add eth0 netns "$NS_LAN1" type veth peer name lan1 netns "$NS_GW" || return 1
	ip link add eth0 netns "$NS_LAN2" type veth peer name lan2 netns "$NS_GW" || return 1
	ip link add eth0 netns "$NS_WAN" type veth peer name "$TOPO_WAN_IF" netns "$NS_GW" || return 1

	ip -n "$NS_LAN1" addr add "$TOPO_LAN1_ADDR/24" dev eth0 || return 1
	ip -n "$NS_LAN2" addr add "$TOPO_LAN2_ADDR/24" dev eth0 || return 1
	ip -n "$NS_GW" addr add "$TOPO_LAN1_GW/24" dev lan1 || return 1
	ip -n "$NS_GW" addr add "$TOPO_LAN2_GW/24" dev lan2 || return 1
	ip -n "$NS_GW" addr add "$TOPO_WAN_GW/24" dev "$TOPO_WAN_IF" || return 1
	ip -n "$NS_WAN" addr add "$TOPO_WAN_ADDR/24" dev eth0 || return 1

	for ns in "$NS_LAN1" "$NS_LAN2" "$NS_WAN"; do
		ip -n "$ns" link set eth0 up || return 1
	done
	ip -n "$NS_GW" link set lan1 up || return 1
	ip -n "$NS_GW" link set lan2 up || return 1
	ip -n "$NS_GW" link set "$TOPO_WAN_IF" up || return 1

	ip -n "$NS_LAN1" route add default via "$TOPO_LAN1_GW" || return 1
	ip -n "$NS_LAN2" route add default via "$TOPO_LAN2_GW" || return 1
	# Like a real gateway: its default route points upstream.
	ip -n "$NS_GW" route add default via "$TOPO_WAN_ADDR" || return 1
	# The server deliberately gets no route towards 10.77.0.0/16.

	ip netns exec "$NS_GW" sysctl -qw net.ipv4.ip_forward=1 >/dev/null || return 1
	topo_wait_up
}

# The veths come up asynchronously; wait (bounded) until each end host can
# reach its neighbour, so that the first test packet is not an ARP casualty.
topo_wait_up() {
	local _
	for _ in $(seq 1 20); do
		if ip netns exec "$NS_LAN1" ping -c1 -W1 -q "$TOPO_LAN1_GW" >/dev/null 2>&1 &&
			ip netns exec "$NS_LAN2" ping -c1 -W1 -q "$TOPO_LAN2_GW" >/dev/null 2>&1 &&
			ip netns exec "$NS_WAN" ping -c1 -W1 -q "$TOPO_WAN_GW" >/dev/null 2>&1; then
			return 0
		fi
		sleep 0.1
	done
	echo "topo: links did not come up" >&2
	return 1
}

# topo_offload on|off: TX checksum offload (and with it TSO/GSO, which
# need it) on the end hosts' interfaces. Off makes the senders compute full
# checksums and the veth receivers verify them, so a wrong incremental update
# in the NAT shows up as *InCsumErrors and lost packets. On (the default)
# makes TCP/UDP packets CHECKSUM_PARTIAL (the field holds only the
# pseudo-header sum): address changes must be folded in, port changes not.
# Veth receivers trust such packets, so errors there only show when the
# gateway has to complete the checksum itself (topo_gw_offload off).
topo_offload() {
	local mode=$1 ns
	case $mode in on | off) ;; *)
		echo "topo_offload: on|off" >&2
		return 1
		;;
	esac
	for ns in "$NS_LAN1" "$NS_LAN2" "$NS_WAN"; do
		ip netns exec "$ns" ethtool -K eth0 tx "$mode" >/dev/null 2>&1 || return 1
	done
}

# topo_gw_offload on|off: TX checksum offload on the gateway's three
# interfaces. With the end hosts' offload on and this off, the gateway
# forwards CHECKSUM_PARTIAL packets out of a device that cannot finish the
# checksum, so the kernel completes it in software after the TC program
# (skb_checksum_help) and the receiver verifies the result: this is how the
# tests see whether the NAT kept a partial checksum consistent.
topo_gw_offload() {
	local mode=$1 dev
	for dev in lan1 lan2 "$TOPO_WAN_IF"; do
		ip netns exec "$NS_GW" ethtool -K "$dev" tx "$mode" >/dev/null 2>&1 || return 1
	done
}

# topo_bg NS CMD...: run CMD in namespace NS in the background, stdin from
# /dev/null, output to $TOPO_BG_LOG if set; its pid (CMD's own: `ip netns
# exec` execs it) is recorded for topo_cleanup and left in TOPO_BG_PID.
topo_bg() {
	local ns=$1
	shift
	if [[ -n ${TOPO_BG_LOG:-} ]]; then
		ip netns exec "$ns" "$@" </dev/null >>"$TOPO_BG_LOG" 2>&1 &
	else
		ip netns exec "$ns" "$@" </dev/null &
	fi
	TOPO_BG_PID=$!
	echo "$TOPO_BG_PID" >>"$TOPO_TMP/pids"
}

# Kill one pid we started, and wait a little for it to go.
_topo_kill() {
	local pid=$1
	kill -TERM "$pid" 2>/dev/null || return 0
	for _ in $(seq 1 20); do
		kill -0 "$pid" 2>/dev/null || return 0
		sleep 0.05
	done
	kill -KILL "$pid" 2>/dev/null
	return 0
}

# Idempotent: safe to call twice, after a partial topo_create, or from a
# parent whose child was killed (with TOPO_PREFIX/TOPO_TMP set).
topo_cleanup() {
	local pid ns
	[[ -n ${TOPO_PREFIX:-} ]] || return 0
	NS_LAN1=${TOPO_PREFIX}-lan1 NS_LAN2=${TOPO_PREFIX}-lan2
	NS_GW=${TOPO_PREFIX}-gw NS_WAN=${TOPO_PREFIX}-wan

	if [[ -n ${TOPO_TMP:-} && -f $TOPO_TMP/pids ]]; then
		while read -r pid; do
			[[ $pid =~ ^[0-9]+$ ]] && _topo_kill "$pid"
		done <"$TOPO_TMP/pids"
	fi
	# Whatever else still runs inside our own namespaces (children of the
	# processes above, coprocesses) was started by this run: end it by pid.
	for ns in "$NS_LAN1" "$NS_LAN2" "$NS_GW" "$NS_WAN"; do
		[[ -e /run/netns/$ns ]] || continue
		for pid in $(ip netns pids "$ns" 2>/dev/null); do
			[[ $pid != "$$" && $pid != "${BASHPID:-}" ]] && _topo_kill "$pid"
		done
	done
	# The optional far host (topo_far_create): the same for its namespace.
	ns=${TOPO_PREFIX}-far
	if [[ -e /run/netns/$ns ]]; then
		for pid in $(ip netns pids "$ns" 2>/dev/null); do
			[[ $pid != "$$" && $pid != "${BASHPID:-}" ]] && _topo_kill "$pid"
		done
		ip netns del "$ns" 2>/dev/null
	fi
	# Deleting the namespaces deletes the veths, their qdiscs and the
	# programs attached to them.
	for ns in "$NS_LAN1" "$NS_LAN2" "$NS_GW" "$NS_WAN"; do
		[[ -e /run/netns/$ns ]] && ip netns del "$ns" 2>/dev/null
	done
	if [[ -n ${TOPO_TMP:-} && -d $TOPO_TMP ]]; then
		# Unmounting drops the pins, and with them the maps and links.
		if mountpoint -q "$TOPO_TMP/bpffs" 2>/dev/null; then
			umount "$TOPO_TMP/bpffs" 2>/dev/null || umount -l "$TOPO_TMP/bpffs"
		fi
		if ! mountpoint -q "$TOPO_TMP/bpffs" 2>/dev/null; then
			rm -rf -- "$TOPO_TMP"
		fi
	fi
	return 0
}

# ---- optional: a host beyond the server ------------------------------------
#
#   ... gw --wan0---eth0-- wan (203.0.113.2) --far0---eth0-- far (198.18.0.2/24)
#                          ip_forward=1       198.18.0.1/24   default via wan
#                                  \__ MTU $TOPO_FAR_MTU on both ends __/
#
# The server becomes a router for 198.18.0.0/24 over a link with a smaller
# MTU: a path MTU to discover, and a second hop to trace. Neither wan nor far
# has a route to 10.77.0.0/16, so what comes back to an inside host came
# through the NAT. The gateway gets a route to 198.18.0.0/24 via the server
# (its default route already points there; this makes it explicit).

TOPO_FAR_NET=198.18.0.0/24
TOPO_FAR_ROUTER=198.18.0.1
TOPO_FAR_ADDR=198.18.0.2
TOPO_FAR_MTU=1280

# topo_far_create [MTU]: after topo_create; sets NS_FAR. topo_cleanup
# removes the namespace with the others.
topo_far_create() {
	local mtu=${1:-$TOPO_FAR_MTU} _
	NS_FAR=${TOPO_PREFIX}-far
	export NS_FAR
	_topo_ns_add "$NS_FAR" || return 1
	ip link add far0 netns "$NS_WAN" mtu "$mtu" type veth peer name eth0 \
		netns "$NS_FAR" mtu "$mtu" || return 1
	ip -n "$NS_WAN" addr add "$TOPO_FAR_ROUTER/24" dev far0 || return 1
	ip -n "$NS_FAR" addr add "$TOPO_FAR_ADDR/24" dev eth0 || return 1
	ip -n "$NS_WAN" link set far0 up || return 1
	ip -n "$NS_FAR" link set eth0 up || return 1
	ip -n "$NS_FAR" route add default via "$TOPO_FAR_ROUTER" || return 1
	ip -n "$NS_GW" route add "$TOPO_FAR_NET" via "$TOPO_WAN_ADDR" || return 1
	ip netns exec "$NS_WAN" sysctl -qw net.ipv4.ip_forward=1 >/dev/null || return 1
	for _ in $(seq 1 20); do
		ip netns exec "$NS_FAR" ping -c1 -W1 -q "$TOPO_FAR_ROUTER" >/dev/null 2>&1 &&
			ip netns exec "$NS_GW" ping -c1 -W1 -q "$TOPO_FAR_ADDR" >/dev/null 2>&1 &&
			return 0
		sleep 0.1
	done
	echo "topo: the far link did not come up" >&2
	return 1
}

# topo_far_offload on|off: TX checksum offload on both ends of the far link
# (see topo_offload).
topo_far_offload() {
	local mode=$1
	case $mode in on | off) ;; *)
		echo "topo_far_offload: on|off" >&2
		return 1
		;;
	esac
	ip netns exec "$NS_WAN" ethtool -K far0 tx "$mode" >/dev/null 2>&1 &&
		ip netns exec "$NS_FAR" ethtool -K eth0 tx "$mode" >/dev/null 2>&1
}
