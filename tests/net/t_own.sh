# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
#
# The gateway's own sockets are never shadowed by mappings. A service it
# listens on inside the NAT's port range when the pool is built is kept out
# of the pool (a RESERVED entry in port_owners); a socket it opens later on
# a port that a mapping holds still gets what is sent to it, even under
# endpoint-independent filtering, which would otherwise open a session to
# the inside host.

# _owner_state PROTO PORT: the state of PORT's entry in port_owners, or none.
_owner_state() {
	bpftool -j map dump pinned "$(pins_dir)/port_owners" | pyjson "
([e['formatted']['value']['state'] for e in d
  if e['formatted']['key']['proto'] == $1 and
     e['formatted']['key']['port'] == __import__('socket').htons($2)] or ['none'])[0]"
}

# t_own_listener: the gateway listens on TCP 20001 before the attach; with
# a four-port range, inside flows get the other three ports, never 20001,
# and the server still reaches the gateway's service there.
t_own_listener() {
	local p i out seen=()
	tcp_server "$NS_GW" 20001 || return 1
	nat_attach --ports 20000-20003 --filtering independent || return 1
	tcp_server "$NS_WAN" 8080 || return 1
	expect_eq "port_owners state of tcp 20001" "$(_owner_state 6 20001)" 3 || return 1
	for i in 1 2 3; do
		p=$(tcp_check "$NS_LAN1" "own-$i") || return 1
		seen+=("$p")
	done
	note "inside flows got ports ${seen[*]}"
	for p in "${seen[@]}"; do
		[[ $p != 20001 ]] || { fail "an inside flow got 20001, the gateway's own service"; return 1; }
	done
	out=$(tcp_call "$NS_WAN" "$TOPO_WAN_GW" 20001 hello)
	if ! grep -qx "peer $TOPO_WAN_ADDR:[0-9]*" <<<"$out" ||
		! grep -qx "echo hello" <<<"$out"; then
		fail "the gateway's service on 20001 did not answer (got: '$out')"
		return 1
	fi
}
net_test own_listener.tc in_mode tc t_own_listener
net_test own_listener.xdp in_mode xdp t_own_listener

# t_own_socket_later: lan1's UDP mapping holds port Q; then the gateway
# opens a UDP service of its own on Q. Under endpoint-independent
# filtering a datagram from a new remote endpoint to Q would open a session
# to lan1: it goes to the gateway's socket instead, which answers, and no
# session is opened from outside.
t_own_socket_later() {
	local q out n
	nat_attach --filtering independent || return 1
	udp_server "$NS_WAN" 9000 || return 1
	q=$(udp_check "$NS_LAN1" 40000 hold) || return 1
	note "lan1:40000 is $TOPO_WAN_GW:$q"
	udp_server "$NS_GW" "$q" || return 1
	out=$(timeout 10 ip netns exec "$NS_WAN" python3 "$NETTOOL" udp-client \
		--to "$TOPO_WAN_GW:$q" --bind-port 9100 --send knock --wait 2 --first)
	grep -qx "from $TOPO_WAN_GW:$q reply $TOPO_WAN_ADDR:9100 knock" <<<"$out" ||
		{ fail "the gateway's own socket on $q did not answer (got: '$out')"; return 1; }
	n=$(conns_json | pyjson 'len([c for c in d if c.get("direction") == "in"])') || return 1
	expect_eq "sessions opened from outside" "$n" 0 || return 1
}
net_test own_socket_later.tc in_mode tc t_own_socket_later
net_test own_socket_later.xdp in_mode xdp t_own_socket_later

# t_own_ping: lan1 pings the server with id 4242, which the NAT maps to
# id Q; then the gateway pings the same server with id Q itself, while
# lan1 goes on. The gateway's ping is translated too (another id from the
# pool): each gets all of its own replies.
t_own_ping() {
	local q h ns rc=0 pids=()
	nat_attach || return 1
	timeout 15 ip netns exec "$NS_LAN1" ping -e 4242 -c 12 -i 0.25 -W 2 \
		"$TOPO_WAN_ADDR" >"$TOPO_TMP/ping-lan1" 2>&1 &
	pids+=($!)
	sleep 0.5
	q=$(conns_json | pyjson '[c["outside"] for c in d if c["proto"] == "icmp" and c["inside"].startswith("'"$TOPO_LAN1_ADDR"':")][0]') ||
		{ wait "${pids[@]}"; fail "lan1's ping has no session"; return 1; }
	q=${q##*:}
	note "lan1's id 4242 is $q outside"
	timeout 15 ip netns exec "$NS_GW" ping -e "$q" -c 8 -i 0.25 -W 2 \
		"$TOPO_WAN_ADDR" >"$TOPO_TMP/ping-gw" 2>&1 &
	pids+=($!)
	wait "${pids[@]}" # bounded by their timeout 15
	for h in lan1 gw; do
		ns=$( [[ $h == lan1 ]] && echo 12 || echo 8 )
		grep -q " $ns received, 0% packet loss" "$TOPO_TMP/ping-$h" || {
			fail "$h's ping lost replies: $(grep 'packets transmitted' "$TOPO_TMP/ping-$h")"
			rc=1
		}
	done
	return $rc
}
net_test own_ping.tc in_mode tc t_own_ping
net_test own_ping.xdp in_mode xdp t_own_ping
