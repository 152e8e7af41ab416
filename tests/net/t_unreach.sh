# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
#
# A flow that cannot be mapped (RFC 6888 REQ-11): with a pool of two ports
# held by lan1's flows, a new UDP, TCP or ping flow from lan2 is dropped
# and lan2 hears at once, from the gateway's LAN address, that the host is
# unreachable: a connected UDP socket gets EHOSTUNREACH (with IP_RECVERR:
# a host unreachable is a soft error), a TCP connect
# fails with "No route to host", ping prints "Destination Host
# Unreachable". The flows that hold the ports go on. With offload off the
# host verifies the error's checksum, with mixed the gateway completes a
# checksum the inside sender left to offload, which still points into the
# quote. The errors are rate-limited: a burst of new flows gets no more
# than the bucket holds plus what it refills.

UNREACH_PORTS=20000-20001

# unreach_fill: the UDP, TCP and ICMP echo pools held by lan1's flows.
unreach_fill() {
	local bport
	udp_server "$NS_WAN" 9000 || return 1
	tcp_server "$NS_WAN" 8080 || return 1
	for bport in 5001 5002; do
		udp_check "$NS_LAN1" "$bport" "hold-$bport" >/dev/null || return 1
	done
	tcp_check "$NS_LAN1" hold-tcp-1 >/dev/null || return 1
	tcp_check "$NS_LAN1" hold-tcp-2 >/dev/null || return 1
	ping_check "$NS_LAN1" 1 || return 1
	ping_check "$NS_LAN1" 1 || return 1
}

# t_unreach OFFLOAD
t_unreach() {
	local offload=$1 out t0 secs n port
	offload_setup "$offload" || return 1
	nat_attach --ports "$UNREACH_PORTS" || return 1
	unreach_fill || return 1
	port=$(udp_check "$NS_LAN1" 5001 again) || return 1

	t0=$(date +%s%N)
	out=$(timeout 15 ip netns exec "$NS_LAN2" python3 "$NETTOOL" udp-client \
		--to "$TOPO_WAN_ADDR:9000" --bind-port 5003 --send new --wait 5 --connect --recverr)
	secs=$((($(date +%s%N) - t0) / 1000000))
	expect_eq "connected UDP socket on lan2" "$out" "error No route to host" || return 1
	((secs < 3000)) || { fail "the UDP error took ${secs} ms"; return 1; }
	note "UDP: '$out' after ${secs} ms"

	t0=$(date +%s%N)
	out=$(tcp_call "$NS_LAN2" "$TOPO_WAN_ADDR" 8080 new "connect-timeout=10" 2>&1)
	secs=$((($(date +%s%N) - t0) / 1000000))
	grep -q "No route to host" <<<"$out" ||
		{ fail "TCP connect from lan2: '$out', expected No route to host"; return 1; }
	((secs < 3000)) || { fail "the TCP error took ${secs} ms"; return 1; }
	note "TCP: failed with No route to host after ${secs} ms"

	out=$(nsx "$NS_LAN2" ping -c 1 -W 3 "$TOPO_WAN_ADDR")
	grep -q "From $TOPO_LAN2_GW .*Destination Host Unreachable" <<<"$out" ||
		{ indent_log <<<"$out"; fail "ping from lan2: no host unreachable from $TOPO_LAN2_GW"; return 1; }
	note "ping: $(grep 'Destination Host Unreachable' <<<"$out")"

	n=$(nat_stat icmp_unreach_sent) || return 1
	((n >= 3)) || { fail "stats: icmp_unreach_sent is $n, expected at least 3"; return 1; }
	n=$(nat_stat port_pool_empty) || return 1
	((n >= 3)) || { fail "stats: port_pool_empty is $n, expected at least 3"; return 1; }
	n=$(ip netns exec "$NS_LAN2" nstat -asz IcmpInDestUnreachs | awk '$1 == "IcmpInDestUnreachs" { print $2 }')
	((n >= 3)) || { fail "lan2 took ${n:-0} destination unreachables, expected at least 3"; csum_report; return 1; }

	# The flows that hold the ports are untouched.
	expect_eq "lan1's UDP port" "$(udp_check "$NS_LAN1" 5001 still)" "$port" || return 1
	no_csum_errors
}
net_test unreach.offload-on t_unreach on
net_test unreach.offload-off t_unreach off
net_test unreach.offload-mixed t_unreach mixed

# A burst of 500 new flows, from one CPU: the bucket (100, refilled at 100
# per second) lets through at most its burst and what the burst's duration
# refills; the rest are dropped, counted icmp_unreach_limited.
t_unreach_rate() {
	local sent limited got start
	nat_attach --ports "$UNREACH_PORTS" || return 1
	udp_server "$NS_WAN" 9000 || return 1
	for bport in 5001 5002; do
		udp_check "$NS_LAN1" "$bport" "hold-$bport" >/dev/null || return 1
	done
	start=$(date +%s%N)
	timeout 20 ip netns exec "$NS_LAN2" taskset -c 0 python3 -c '
import socket, sys
for _ in range(500):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.sendto(b"burst\n", (sys.argv[1], 9000))
    s.close()
' "$TOPO_WAN_ADDR" || { fail "the burst could not be sent"; return 1; }
	start=$((($(date +%s%N) - start) / 1000000))
	sleep 0.5
	sent=$(nat_stat icmp_unreach_sent) || return 1
	limited=$(nat_stat icmp_unreach_limited) || return 1
	got=$(ip netns exec "$NS_LAN2" nstat -asz IcmpInDestUnreachs | awk '$1 == "IcmpInDestUnreachs" { print $2 }')
	note "500 flows in ${start} ms: $sent errors sent, $limited held back, lan2 took ${got:-0}"
	expect_eq "errors sent and held back" $((sent + limited)) 500 || return 1
	# 100 at once, 100 per second after: 1 s of slack over the burst's time.
	((sent >= 90 && sent <= 100 + (start / 1000 + 1) * 100)) ||
		{ fail "$sent errors sent for 500 flows in ${start} ms"; return 1; }
	expect_eq "errors lan2 received" "${got:-0}" "$sent"
}
net_test unreach.rate t_unreach_rate
