# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
#
# Dynamic NAT from an address pool (--address, several or a range), two
# addresses of the gateway's WAN besides its own. Pooling is paired: each
# inside host leaves with the one address its own address hashes to, for
# TCP, UDP and ping alike, and the two hosts land on different ones. A
# re-attach without one of them (the first stays) keeps the connection on
# it, and the host keeps that address for new flows while it has
# mappings; once they have expired the collector removes it, and the host
# is paired anew; added back, it takes its hosts again. A bad
# pool, and a pool address as a static's, are refused with one line.

ADDR_POOL1=203.0.113.10
ADDR_POOL2=203.0.113.11

# _pool_pick HOST POOL...: the address HOST is paired with when it has no
# mapping, by the data path's hash (bpf/addrs.h), all of POOL being ACTIVE.
_pool_pick() {
	local host=$1 o1 o2 o3 o4 x h
	shift
	IFS=. read -r o1 o2 o3 o4 <<<"$host"
	x=$(((o1 << 24) | (o2 << 16) | (o3 << 8) | o4))
	h=$(((x * 2654435761) & 0xffffffff))
	local -a pool=("$@")
	echo "${pool[$(((h * ${#pool[@]}) >> 32))]}"
}

# _pool_addrs: the pool's addresses on the WAN, so that the gateway
# answers ARP for them.
_pool_addrs() {
	local a
	for a in "$ADDR_POOL1" "$ADDR_POOL2"; do
		ip -n "$NS_GW" addr add "$a/32" dev "$WAN" ||
			{ fail "address $a on $WAN"; return 1; }
	done
}

# _pool_state ADDR: "STATE HOSTS" of ADDR in status --json, or "none".
_pool_state() {
	bmq status "$WAN" --json |
		pyjson "' '.join(str(x) for p in d['pool'] if p['address'] == '$1' for x in (p['state'], p['hosts'])) or 'none'"
}

# _host_uses NS ADDR TAG: UDP (two source ports), TCP and ping from NS all
# leave from ADDR.
_host_uses() {
	local ns=$1 addr=$2 tag=$3
	EXPECT_SRC=$addr udp_check "$ns" 40000 "$tag-a" >/dev/null || return 1
	EXPECT_SRC=$addr udp_check "$ns" 40001 "$tag-b" >/dev/null || return 1
	EXPECT_SRC=$addr tcp_check "$ns" "$tag-c" >/dev/null || return 1
	ping_check "$ns" 2
}

# t_addr_pool: two hosts, each on its own address of the pool.
t_addr_pool() {
	local p1 p2 v
	_pool_addrs || return 1
	nat_attach --address "$ADDR_POOL1-$ADDR_POOL2" || return 1
	tcp_server "$NS_WAN" 8080 || return 1
	udp_server "$NS_WAN" 9000 || return 1
	p1=$(_pool_pick "$TOPO_LAN1_ADDR" "$ADDR_POOL1" "$ADDR_POOL2")
	p2=$(_pool_pick "$TOPO_LAN2_ADDR" "$ADDR_POOL1" "$ADDR_POOL2")
	[[ $p1 != "$p2" ]] || { fail "both hosts hash to $p1"; return 1; }
	_host_uses "$NS_LAN1" "$p1" lan1 || return 1
	_host_uses "$NS_LAN2" "$p2" lan2 || return 1
	note "lan1 leaves as $p1, lan2 as $p2"
	v=$(_pool_state "$p1")
	expect_eq "status of $p1" "$v" "active 1" || return 1
	v=$(status_field address)
	expect_eq "the first address" "$v" "$ADDR_POOL1"
}
net_test addr_pool.tc t_addr_pool
net_test addr_pool.xdp in_mode xdp t_addr_pool
net_test addr_pool.fast in_mode fast t_addr_pool

# t_addr_drain: lan1's address leaves the pool under its connection.
t_addr_drain() {
	local p1 other v i
	_pool_addrs || return 1
	nat_attach --address "$ADDR_POOL1" --address "$ADDR_POOL2" \
		--timeout-tcp-close 1 --timeout-tcp-trans 2 --timeout-udp 2 --timeout-icmp 2 || return 1
	tcp_server "$NS_WAN" 8080 || return 1
	udp_server "$NS_WAN" 9000 || return 1
	p1=$(_pool_pick "$TOPO_LAN1_ADDR" "$ADDR_POOL1" "$ADDR_POOL2")
	other=$ADDR_POOL1
	[[ $p1 == "$ADDR_POOL1" ]] && other=$ADDR_POOL2
	EXPECT_SRC=$p1 conn_open "$NS_LAN1" || return 1
	conn_say before || return 1

	# The pool without lan1's address: it drains.
	nat_attach --address "$other" || return 1
	v=$(_pool_state "$p1")
	expect_eq "status of $p1 once removed" "$v" "draining 1" || return 1
	conn_say draining || return 1
	EXPECT_SRC=$p1 udp_check "$NS_LAN1" 40000 lan1-kept >/dev/null || return 1
	EXPECT_SRC=$other udp_check "$NS_LAN2" 40000 lan2-new >/dev/null || return 1
	note "lan1 keeps $p1 while it has mappings; lan2 gets $other"

	# Its last flows end; the collector removes it at its second look.
	kill "$CONN_PID" 2>/dev/null
	for i in $(seq 1 15); do
		sleep 1
		bmq gc "$WAN" >/dev/null || { fail "gc"; return 1; }
		v=$(_pool_state "$p1")
		[[ $v == none ]] && break
	done
	expect_eq "status of $p1 once unused" "$v" none || return 1
	note "$p1 removed after ${i} s"
	EXPECT_SRC=$other udp_check "$NS_LAN1" 40002 lan1-again >/dev/null || return 1

	# Back in the pool: once the hosts' mappings on the other address have
	# expired, lan1 is paired by its hash again, with its old address.
	nat_attach --address "$ADDR_POOL1" --address "$ADDR_POOL2" \
		--timeout-tcp-close 1 --timeout-tcp-trans 2 --timeout-udp 2 --timeout-icmp 2 || return 1
	expect_eq "status of $p1 once back" "$(_pool_state "$p1")" "active 0" || return 1
	for i in $(seq 1 15); do
		sleep 1
		bmq gc "$WAN" >/dev/null || { fail "gc"; return 1; }
		v=$(_pool_state "$other")
		[[ $v == "active 0" ]] && break
	done
	expect_eq "status of $other once its hosts' mappings expired" "$v" "active 0" || return 1
	EXPECT_SRC=$p1 udp_check "$NS_LAN1" 40003 lan1-back >/dev/null
}
net_test addr_drain t_addr_drain

# t_addr_hairpin: lan1 reaches lan2's mapping on lan2's address of the
# pool, and lan2's service sees lan1 by lan1's own external address.
t_addr_hairpin() {
	local a1 a2 pb out
	_pool_addrs || return 1
	udp_server "$NS_WAN" 9000 || return 1
	nat_attach --address "$ADDR_POOL1-$ADDR_POOL2" --filtering independent \
		--hairpin lan1 --hairpin lan2 || return 1
	a1=$(_pool_pick "$TOPO_LAN1_ADDR" "$ADDR_POOL1" "$ADDR_POOL2")
	a2=$(_pool_pick "$TOPO_LAN2_ADDR" "$ADDR_POOL1" "$ADDR_POOL2")
	EXPECT_SRC=$a1 udp_check "$NS_LAN1" 5000 mine >/dev/null || return 1
	pb=$(EXPECT_SRC=$a2 udp_check "$NS_LAN2" 6000 first) || return 1
	udp_server "$NS_LAN2" 6000 || return 1
	out=$(timeout 15 ip netns exec "$NS_LAN1" python3 "$NETTOOL" udp-client \
		--to "$a2:$pb" --bind-port 5000 --send across --wait 3 --first)
	grep -q "^from ${a2//./\\.}:$pb reply ${a1//./\\.}:[0-9]* across\$" <<<"$out" ||
		{ fail "no answer from lan2's mapping $a2:$pb as $a1 (got: '$out')"; csum_report; return 1; }
	note "lan1 -> $a2:$pb (lan2's mapping): $out"
}
net_test addr_hairpin t_addr_hairpin

# t_addr_refused: pools that cannot be, and a pool address as a static's.
t_addr_refused() {
	local v
	cmd_refused "a reversed range" attach "$WAN" --address 203.0.113.20-203.0.113.10 || return 1
	cmd_refused "65 addresses" attach "$WAN" --address 198.18.0.1-198.18.0.65 || return 1
	cmd_refused "an address twice" attach "$WAN" --address 203.0.113.10 \
		--address 203.0.113.9-203.0.113.10 || return 1
	cmd_refused "no address" attach "$WAN" --address 0.0.0.0 || return 1
	cmd_refused "an address too long" attach "$WAN" --address 192.168.100.1000 || return 1
	_pool_addrs || return 1
	nat_attach --address "$ADDR_POOL1-$ADDR_POOL2" || return 1
	cmd_refused "a pool address as a static's" static add "$WAN" "$TOPO_LAN1_ADDR" "$ADDR_POOL2" || return 1
	bmq static add "$WAN" "$TOPO_LAN1_ADDR" 203.0.113.50 >/dev/null ||
		{ fail "static add $TOPO_LAN1_ADDR 203.0.113.50"; return 1; }
	cmd_refused "a static's address in the pool" attach "$WAN" --internal "$TOPO_INTERNAL" \
		--address "$ADDR_POOL1" --address 203.0.113.50 || return 1
	v=$(bmq status "$WAN" --json | pyjson "[p['address'] for p in d['pool']]")
	expect_eq "the pool after the refusals" "$v" "[\"$ADDR_POOL1\", \"$ADDR_POOL2\"]"
}
net_test addr_refused t_addr_refused
