# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
#
# Basic translation: TCP, UDP and ping from the inside hosts reach the server
# with the gateway's address as their source, and the replies come back.
# The server has no route to the LAN, so a reply is proof of translation in
# both directions. Checksum-sensitive scenarios run with TX checksum offload
# off (receivers verify every checksum) and on (CHECKSUM_PARTIAL packets),
# and in both ingress modes: .tc (the default on veth: replies translated
# by the TC ingress filter) and .xdp (--mode native). "mixed" (partial
# checksums completed by the gateway after translation) is tc only: XDP
# cannot tell a partial checksum from a complete one, which is why bpfmasq
# does not use XDP on veth by default.

# t_tcp_basic OFFLOAD [ATTACH-ARGS...]
t_tcp_basic() {
	local offload=$1 port n
	shift
	offload_setup "$offload" || return 1
	nat_attach "$@" || return 1
	tcp_server "$NS_WAN" 8080 "$TOPO_TMP/peers" || return 1

	port=$(tcp_check "$NS_LAN1" hello-from-lan1) || return 1
	note "lan1: server saw $TOPO_WAN_GW:$port"
	port=$(tcp_check "$NS_LAN2" hello-from-lan2) || return 1
	note "lan2: server saw $TOPO_WAN_GW:$port"
	# What the server process recorded, independently of what it answered.
	if grep -v "^$TOPO_WAN_GW:" "$TOPO_TMP/peers"; then
		fail "the server saw a source other than $TOPO_WAN_GW"
		return 1
	fi
	expect_eq "connections the server saw" "$(wc -l <"$TOPO_TMP/peers")" 2 || return 1

	n=$(nat_stat translated_out) || return 1
	((n > 0)) || { fail "stats: translated_out is $n"; return 1; }
	n=$(nat_stat translated_in) || return 1
	((n > 0)) || { fail "stats: translated_in is $n"; return 1; }
	# Always 0 with offload on (nobody verifies); the real check is off/mixed.
	no_csum_errors
}
net_test tcp_basic.tc.offload-on in_mode tc t_tcp_basic on
net_test tcp_basic.tc.offload-off in_mode tc t_tcp_basic off
net_test tcp_basic.tc.offload-mixed in_mode tc t_tcp_basic mixed
net_test tcp_basic.xdp.offload-on in_mode xdp t_tcp_basic on
net_test tcp_basic.xdp.offload-off in_mode xdp t_tcp_basic off
net_test tcp_basic.fast in_mode fast t_tcp_basic off
# XDP in generic (skb) mode (--mode generic).
net_test tcp_basic.xdp-generic in_mode generic t_tcp_basic off
# No --internal: everything but the gateway's own addresses is translated.
t_tcp_defaults() { NAT_DEFAULTS=1 t_tcp_basic off; }
net_test tcp_basic.default-internal t_tcp_defaults

# t_udp_ping OFFLOAD: UDP request/reply through socat's UDP service, then ping,
# from both inside hosts.
t_udp_ping() {
	local offload=$1 ns out want
	offload_setup "$offload" || return 1
	nat_attach || return 1
	# One child per datagram: it answers with the peer address it saw.
	topo_bg "$NS_WAN" timeout 300 socat UDP4-RECVFROM:9000,reuseaddr,fork \
		EXEC:"$NET_DIR/udp_echo.sh"
	wait_until 5 listening "$NS_WAN" udp 9000 || { fail "socat UDP server did not start"; return 1; }

	for ns in "$NS_LAN1" "$NS_LAN2"; do
		want="hello-from-${ns##*-}"
		out=$(printf '%s\n' "$want" |
			timeout 10 ip netns exec "$ns" socat -t 1 - UDP4:"$TOPO_WAN_ADDR":9000)
		if ! grep -Eqx "peer ${TOPO_WAN_GW//./\\.}:[0-9]+ $want" <<<"$out"; then
			fail "UDP from ${ns##*-}: got '$out', expected 'peer $TOPO_WAN_GW:PORT $want'"
			csum_report
			return 1
		fi
		note "UDP ${ns##*-}: $out"
		ping_check "$ns" 3 || return 1
		note "ping ${ns##*-}: ok"
	done
	# Always 0 with offload on (nobody verifies); the real check is off/mixed.
	no_csum_errors
}
net_test udp_ping.tc.offload-on in_mode tc t_udp_ping on
net_test udp_ping.tc.offload-off in_mode tc t_udp_ping off
net_test udp_ping.tc.offload-mixed in_mode tc t_udp_ping mixed
net_test udp_ping.xdp.offload-on in_mode xdp t_udp_ping on
net_test udp_ping.xdp.offload-off in_mode xdp t_udp_ping off
net_test udp_ping.fast in_mode fast t_udp_ping off

# t_same_sport OFFLOAD: both inside hosts use the same source port to the
# same server port; both work and the server sees two different ports.
t_same_sport() {
	local offload=$1 p1 p2 p3 p4 u1 u2 u3 h ns est pids=()
	offload_setup "$offload" || return 1
	nat_attach || return 1
	tcp_server "$NS_WAN" 8080 || return 1
	udp_server "$NS_WAN" 9000 || return 1
	udp_server "$NS_WAN" 9001 || return 1

	# Both connections open at the same time, from port 40000 (outside the
	# NAT's range, 1024-32767, so both get pool ports): each client sends
	# its line and holds the connection for 2 s.
	for h in lan1 lan2; do
		if [[ $h == lan1 ]]; then ns=$NS_LAN1; else ns=$NS_LAN2; fi
		(
			printf 'tcp-%s\n' "$h"
			sleep 2
		) | timeout 10 ip netns exec "$ns" socat -t 3 - \
			TCP4:"$TOPO_WAN_ADDR":8080,connect-timeout=3,sourceport=40000,reuseaddr \
			>"$TOPO_TMP/same-$h" 2>&1 &
		pids+=($!)
	done
	sleep 1
	est=$(ip netns exec "$NS_WAN" ss -Htn state established '( sport = :8080 )' | awk '{ print $4 }' | sort)
	note "server's established connections: $(tr '\n' ' ' <<<"$est")"
	wait "${pids[@]}" # bounded by their timeout 10
	expect_eq "simultaneous connections at the server" "$(grep -c "^${TOPO_WAN_GW//./\\.}:" <<<"$est")" 2 || return 1
	for h in lan1 lan2; do
		grep -qx "echo tcp-$h" "$TOPO_TMP/same-$h" ||
			{ fail "$h: no echo on its connection (got '$(cat "$TOPO_TMP/same-$h")')"; return 1; }
	done
	p1=$(sed -n 's/^peer .*://p' "$TOPO_TMP/same-lan1")
	p2=$(sed -n 's/^peer .*://p' "$TOPO_TMP/same-lan2")
	note "TCP :40000 -> lan1 as $p1, lan2 as $p2"
	[[ -n $p1 && $p1 != "$p2" ]] || { fail "both TCP flows got external port '$p1'"; return 1; }

	# 20000 is in range: still, each host gets a port of its own from
	# the pool (no port is kept, RFC 6056).
	p3=$(tcp_check "$NS_LAN1" tcp-c "sourceport=20000,reuseaddr") || return 1
	p4=$(tcp_check "$NS_LAN2" tcp-d "sourceport=20000,reuseaddr") || return 1
	note "TCP :20000 -> lan1 as $p3, lan2 as $p4"
	[[ -n $p3 && $p3 != "$p4" ]] || { fail "both hosts got external port '$p3' for :20000"; return 1; }

	u1=$(udp_check "$NS_LAN1" 40000 udp-a) || return 1
	u2=$(udp_check "$NS_LAN2" 40000 udp-b) || return 1
	note "UDP :40000 -> lan1 as $u1, lan2 as $u2"
	[[ $u1 != "$u2" ]] || { fail "both UDP flows got external port $u1"; return 1; }
	# Endpoint-independent mapping (RFC 4787 REQ-1): the same inside
	# endpoint keeps its external port towards another destination.
	u3=$(UDP_DST=9001 udp_check "$NS_LAN1" 40000 udp-c) || return 1
	expect_eq "lan1:40000's external port towards :9001" "$u3" "$u1" || return 1

	# ICMP echo: both hosts ping at the same time with the same identifier
	# (each gets an id of its own from the pool), and each
	# gets all of its own replies.
	pids=()
	for h in lan1 lan2; do
		if [[ $h == lan1 ]]; then ns=$NS_LAN1; else ns=$NS_LAN2; fi
		timeout 15 ip netns exec "$ns" ping -e 4242 -c 5 -i 0.2 -W 2 "$TOPO_WAN_ADDR" \
			>"$TOPO_TMP/ping-$h" 2>&1 &
		pids+=($!)
	done
	wait "${pids[@]}"
	for h in lan1 lan2; do
		grep -q ' 5 received' "$TOPO_TMP/ping-$h" ||
			{ fail "$h: ping -e 4242: $(grep -E 'received|unknown|invalid' "$TOPO_TMP/ping-$h")"; return 1; }
	done
	u1=$(conns_json | pyjson "sorted(c['outside'] for c in d if c['proto'] == 'icmp')") || return 1
	note "ICMP id 4242 from both hosts -> $u1"
	expect_eq "ICMP sessions with distinct ids" "$(pyjson 'len(set(d))' <<<"$u1")" 2 || return 1
	# Always 0 with offload on (nobody verifies); the real check is off/mixed.
	no_csum_errors
}
net_test same_sport.tc.offload-on in_mode tc t_same_sport on
net_test same_sport.tc.offload-off in_mode tc t_same_sport off
net_test same_sport.xdp.offload-on in_mode xdp t_same_sport on
net_test same_sport.xdp.offload-off in_mode xdp t_same_sport off
net_test same_sport.fast in_mode fast t_same_sport off

# t_gw_own: the gateway's own traffic is neither translated nor blocked: its
# connections out (ports from ip_local_port_range, outside the NAT's range)
# and services on it reached from outside (no NAT state: the gateway's stack).
t_gw_own() {
	local out n
	# Default inside prefix (0.0.0.0/0): only the gateway's own addresses
	# keep its traffic out of the NAT.
	NAT_DEFAULTS=1 nat_attach || return 1
	tcp_server "$NS_WAN" 8080 || return 1
	tcp_server "$NS_GW" 2222 || return 1

	out=$(tcp_call "$NS_GW" "$TOPO_WAN_ADDR" 8080 own)
	{ grep -Eq "^peer ${TOPO_WAN_GW//./\\.}:(3[2-9][0-9]{3}|[4-6][0-9]{4})$" <<<"$out" &&
		grep -qx "echo own" <<<"$out"; } ||
		{ fail "gateway -> server: got '$out'"; return 1; }
	note "gateway -> server: $(head -1 <<<"$out")"

	out=$(tcp_call "$NS_WAN" "$TOPO_WAN_GW" 2222 in)
	{ grep -Eq "^peer ${TOPO_WAN_ADDR//./\\.}:[0-9]+$" <<<"$out" && grep -qx "echo in" <<<"$out"; } ||
		{ fail "server -> gateway service: got '$out'"; return 1; }
	note "server -> gateway:2222: ok"

	nsx "$NS_GW" ping -c 2 -i 0.2 -W 2 -q "$TOPO_WAN_ADDR" >/dev/null ||
		{ fail "gateway cannot ping the server"; return 1; }
	nsx "$NS_WAN" ping -c 2 -i 0.2 -W 2 -q "$TOPO_WAN_GW" >/dev/null ||
		{ fail "server cannot ping the gateway"; return 1; }

	# Its TCP stays its own; its ping is translated (its id from the pool,
	# so that no inside host's mapping can take its replies).
	n=$(conns_json | pyjson 'len([c for c in d if c["proto"] != "icmp"])') || return 1
	expect_eq "TCP/UDP sessions made by the gateway's own traffic" "$n" 0 || return 1
	n=$(conns_json | pyjson 'len([c for c in d if c["proto"] == "icmp" and c["inside"].startswith("'"$TOPO_WAN_GW"':")])') || return 1
	expect_eq "ICMP sessions of the gateway's own ping" "$n" 1 || return 1

	# And the inside hosts are translated all the while.
	tcp_check "$NS_LAN1" after >/dev/null
}
net_test gw_own_traffic.tc in_mode tc t_gw_own
net_test gw_own_traffic.xdp in_mode xdp t_gw_own

# t_address: --address pins the external address instead of following the
# interface's primary one (here a second address the gateway owns).
t_address() {
	local port a
	ip -n "$NS_GW" addr add 203.0.113.5/32 dev "$WAN" || return 1
	nat_attach --address 203.0.113.5 || return 1
	a=$(status_field address) || return 1
	expect_eq "status address" "$a" 203.0.113.5 || return 1
	tcp_server "$NS_WAN" 8080 || return 1
	udp_server "$NS_WAN" 9000 || return 1
	port=$(EXPECT_SRC=203.0.113.5 tcp_check "$NS_LAN1" addr-tcp) || return 1
	note "TCP: server saw 203.0.113.5:$port"
	port=$(EXPECT_SRC=203.0.113.5 udp_check "$NS_LAN2" 40000 addr-udp) || return 1
	note "UDP: server saw 203.0.113.5:$port"
	ping_check "$NS_LAN1" 2 || return 1
	# The gateway's own traffic keeps its primary address.
	a=$(tcp_call "$NS_GW" "$TOPO_WAN_ADDR" 8080 own | sed -n 's/^peer //p')
	[[ ${a%:*} == "$TOPO_WAN_GW" ]] || { fail "gateway's own connection seen as '$a'"; return 1; }
}
net_test address t_address

# t_udp_fragments OFFLOAD: datagrams larger than the MTU leave lan1 and come
# back as IPv4 fragments; the later fragments carry no port, so the NAT must
# follow their first fragment in both directions.
t_udp_fragments() {
	local offload=$1 size big out want
	offload_setup "$offload" || return 1
	nat_attach || return 1
	udp_server "$NS_WAN" 9000 || return 1
	for size in 4000 8000; do
		big=$(head -c "$size" /dev/zero | tr '\0' 'x')
		out=$(udp_call "$NS_LAN1" 40001 "$big" 3 --first)
		want="from $TOPO_WAN_ADDR:9000 reply $TOPO_WAN_GW:"
		if [[ $out != "$want"*" $big" ]]; then
			fail "$size-byte datagram: no intact reply (got ${#out} bytes: '${out:0:80}...')"
			csum_report
			return 1
		fi
		note "$size-byte datagram and the reply to it crossed intact"
	done
	no_csum_errors
}
net_test udp_fragments.tc.offload-off in_mode tc t_udp_fragments off
net_test udp_fragments.tc.offload-on in_mode tc t_udp_fragments on
net_test udp_fragments.xdp.offload-off in_mode xdp t_udp_fragments off
net_test udp_fragments.fast in_mode fast t_udp_fragments off
net_test udp_fragments.xdp.offload-on in_mode xdp t_udp_fragments on

# t_icmp_error OFFLOAD: lan1 sends UDP to a closed port of the server; the
# server's ICMP port unreachable, addressed to the gateway and quoting the
# translated datagram, is translated back (outer and quoted headers, RFC
# 5508) so that lan1's connected socket sees "connection refused".
t_icmp_error() {
	local offload=$1 out n
	offload_setup "$offload" || return 1
	nat_attach || return 1
	out=$(UDP_DST=9999 udp_call "$NS_LAN1" 40001 anyone-there 3 --connect)
	expect_eq "lan1's UDP socket after sending to a closed port" "$out" refused || { csum_report; return 1; }
	out=$(UDP_DST=9999 udp_call "$NS_LAN2" 20001 anyone-there 3 --connect)
	expect_eq "lan2's UDP socket (inside port in the range) after sending to a closed port" "$out" refused || { csum_report; return 1; }
	n=$(ip netns exec "$NS_LAN1" nstat -asz IcmpInDestUnreachs | awk '/IcmpInDestUnreachs/ { print $2 }')
	expect_eq "ICMP destination unreachable received by lan1" "$n" 1 || return 1
	no_csum_errors
}
net_test icmp_error.tc.offload-off in_mode tc t_icmp_error off
net_test icmp_error.tc.offload-on in_mode tc t_icmp_error on
net_test icmp_error.xdp.offload-off in_mode xdp t_icmp_error off
net_test icmp_error.fast in_mode fast t_icmp_error off
net_test icmp_error.xdp.offload-on in_mode xdp t_icmp_error on
