# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
#
# ICMP errors through the NAT (RFC 5508), end to end, with real senders:
#
#  - pmtu: path MTU discovery behind the gateway. The server routes for a
#    host "far" over a 1280-byte link (topo_far_create); the router's
#    "fragmentation needed" is addressed to the gateway and quotes the
#    translated packet, so it only reaches lan1 if bpfmasq translates it
#    back (outer destination, quoted source and port, every checksum). Seen
#    by ping -M do, tracepath, the PMTU exception in lan1's routing table,
#    and TCP, which has to discover the PMTU itself to upload through it.
#  - traceroute: the router's "time exceeded" (hop 2) and far's answer
#    (hop 3) in UDP, ICMP and TCP mode.
#  - icmp_outbound: the other direction: lan1's "port unreachable" about a
#    datagram it got from the server is translated, so that the server sees
#    the gateway's address and its own flow in the quote, never lan1's
#    address.
#
# Neither the server nor far has a route to 10.77.0.0/16: whatever reaches an
# inside host came through the NAT.

PMTU_BULK_MB=5

# _pmtu_route_mtu NS: the PMTU lan1's routing has for far ("" if none).
_pmtu_route_mtu() {
	ip -n "$1" route get "$TOPO_FAR_ADDR" 2>/dev/null |
		sed -n 's/.*\<mtu \([0-9]*\).*/\1/p' | head -n 1
}

# _pmtu_icmp_in NS: destination unreachables NS received so far.
_pmtu_icmp_in() {
	ip netns exec "$1" nstat -asz IcmpInDestUnreachs 2>/dev/null |
		awk '$1 == "IcmpInDestUnreachs" { print $2 + 0 }'
}


# t_pmtu OFFLOAD
t_pmtu() {
	local offload=$1 out n0 n1 mtu i0 i1 data=$TOPO_TMP/pmtu-data
	offload_setup "$offload" || return 1
	topo_far_create || { fail "could not build the far link"; return 1; }
	topo_far_offload "$offload" || { fail "ethtool -K tx $offload on the far link"; return 1; }
	nat_attach || return 1

	# 1. ping -M do: 1428-byte packets do not fit the 1280-byte link.
	n0=$(nat_stat translated_in) || return 1
	# shellcheck disable=SC1010 # "do" is ping's argument
	out=$(nsx "$NS_LAN1" ping -M do -s 1400 -c 1 -W 2 "$TOPO_FAR_ADDR" 2>&1)
	if ! grep -Eq 'Frag needed and DF set \(mtu = 1280\)|message too long, mtu=1280' <<<"$out"; then
		indent_log <<<"$out"
		fail "ping -M do -s 1400 from lan1 did not report the 1280-byte MTU"
		csum_report
		return 1
	fi
	note "ping -M do: $(grep -Eo 'From .*|.*message too long.*' <<<"$out" | head -n 1)"
	n1=$(nat_stat translated_in) || return 1
	((n1 > n0)) || { fail "stats: translated_in did not grow with the fragmentation-needed error ($n0 -> $n1)"; return 1; }
	note "translated_in: $n0 -> $n1"
	mtu=$(_pmtu_route_mtu "$NS_LAN1")
	expect_eq "PMTU of $TOPO_FAR_ADDR in lan1's route cache after ping" "$mtu" 1280 || return 1

	# 2. tracepath, with the exception flushed first: it finds the PMTU (and
	# every hop) itself.
	ip -n "$NS_LAN1" route flush cache || return 1
	mtu=$(_pmtu_route_mtu "$NS_LAN1")
	expect_eq "PMTU of $TOPO_FAR_ADDR in lan1 after ip route flush cache" "$mtu" "" || return 1
	out=$(timeout 15 ip netns exec "$NS_LAN1" tracepath -n -m 5 "$TOPO_FAR_ADDR" 2>&1)
	if ! grep -Eq "^ *[0-9]+: +${TOPO_WAN_ADDR//./\\.} .*pmtu 1280" <<<"$out" ||
		! grep -Eq "^ *3: +${TOPO_FAR_ADDR//./\\.} .*reached" <<<"$out" ||
		! grep -Eq 'Resume: pmtu 1280 hops 3\b' <<<"$out"; then
		indent_log <<<"$out"
		fail "tracepath from lan1: expected pmtu 1280 from $TOPO_WAN_ADDR and $TOPO_FAR_ADDR reached at hop 3"
		return 1
	fi
	note "tracepath: $(grep Resume <<<"$out" | sed 's/^ *//')"

	# 3. Bulk TCP. far advertises the MSS of a 1500-byte path (advmss), as
	# a host on an ordinary LAN behind a narrower link would: lan1's
	# full-size segments then hit the 1280-byte link and TCP must learn the
	# PMTU from the translated errors (with far's own MSS, 1240, it would
	# never need to).
	ip -n "$NS_FAR" route change default via "$TOPO_FAR_ROUTER" advmss 1460 || return 1
	ip -n "$NS_LAN1" route flush cache || return 1
	mtu=$(_pmtu_route_mtu "$NS_LAN1")
	expect_eq "PMTU of $TOPO_FAR_ADDR in lan1 before the TCP transfer" "$mtu" "" || return 1
	head -c "${PMTU_BULK_MB}M" /dev/urandom >"$data" || return 1

	i0=$(_pmtu_icmp_in "$NS_LAN1")
	tcp_upload "$NS_FAR" "$TOPO_FAR_ADDR" 5002 "$data" 30 || return 1
	i1=$(_pmtu_icmp_in "$NS_LAN1")
	note "lan1 got $((i1 - i0)) destination unreachable(s) during the upload"
	((i1 > i0)) || { fail "lan1 received no fragmentation-needed error during the upload: TCP never had to discover the PMTU"; return 1; }
	mtu=$(_pmtu_route_mtu "$NS_LAN1")
	expect_eq "PMTU of $TOPO_FAR_ADDR in lan1, learned by TCP" "$mtu" 1280 || return 1
	tcp_download "$NS_FAR" "$TOPO_FAR_ADDR" 5001 "$data" 30 || return 1

	n0=$(csum_errors "$NS_FAR")
	expect_eq "checksum errors on far" "$n0" 0 || return 1
	no_csum_errors
}
net_test pmtu.tc.offload-off in_mode tc t_pmtu off
net_test pmtu.tc.offload-on in_mode tc t_pmtu on
net_test pmtu.xdp.offload-off in_mode xdp t_pmtu off
net_test pmtu.fast in_mode fast t_pmtu off
net_test pmtu.xdp.offload-on in_mode xdp t_pmtu on

# _trace_hops: "HOP ADDR" per hop line of traceroute -n -q 1 output.
_trace_hops() { awk 'NR > 1 && $1 ~ /^[0-9]+$/ { print $1, $2 }'; }

# t_traceroute OFFLOAD: traceroute from lan1 to far in its three modes; every
# hop answers: the gateway itself (hop 1), the server's "time exceeded"
# quoting the translated probe (hop 2), far (hop 3: port unreachable, echo
# reply, SYN-ACK).
t_traceroute() {
	local offload=$1 mode out hops want n0 n1
	offload_setup "$offload" || return 1
	topo_far_create || { fail "could not build the far link"; return 1; }
	topo_far_offload "$offload" || { fail "ethtool -K tx $offload on the far link"; return 1; }
	nat_attach || return 1
	tcp_server "$NS_FAR" 8080 || return 1
	want=$(printf '1 %s\n2 %s\n3 %s' "$TOPO_LAN1_GW" "$TOPO_WAN_ADDR" "$TOPO_FAR_ADDR")
	for mode in udp icmp tcp; do
		local -a args=()
		case $mode in
		icmp) args=(-I) ;;
		tcp) args=(-T -p 8080) ;;
		esac
		n0=$(nat_stat translated_in) || return 1
		out=$(nsx "$NS_LAN1" traceroute -n -q 1 -w 1 -m 5 "${args[@]}" "$TOPO_FAR_ADDR" 2>&1)
		hops=$(_trace_hops <<<"$out")
		if [[ $hops != "$want" ]]; then
			indent_log <<<"$out"
			fail "traceroute ($mode) from lan1: hops '$(tr '\n' ',' <<<"$hops")', expected '$(tr '\n' ',' <<<"$want")'"
			csum_report
			return 1
		fi
		n1=$(nat_stat translated_in) || return 1
		# At least hop 2's time exceeded and hop 3's answer.
		((n1 - n0 >= 2)) || { fail "traceroute ($mode): translated_in grew by $((n1 - n0)), expected 2 or more"; return 1; }
		note "traceroute ($mode): $(tr '\n' ' ' <<<"$hops")(translated_in +$((n1 - n0)))"
	done
	no_csum_errors
}
net_test traceroute.tc.offload-off in_mode tc t_traceroute off
net_test traceroute.tc.offload-on in_mode tc t_traceroute on
net_test traceroute.xdp.offload-off in_mode xdp t_traceroute off
net_test traceroute.fast in_mode fast t_traceroute off
net_test traceroute.xdp.offload-on in_mode xdp t_traceroute on

# The server side of icmp_outbound, run in the server's namespace with
# PORT GO WAIT: answer the first datagram on PORT (so lan1 learns its
# external port), wait (up to WAIT s) for the file GO, send "late" to the
# same peer, then capture the first ICMP destination unreachable (raw
# socket, up to WAIT s) and print what it holds as JSON: outer and quoted
# addresses and ports, whether each checksum verifies, the raw bytes.
_ICMP_OUT_PY='
import json, os, socket, struct, sys, time

port, go, wait = int(sys.argv[1]), sys.argv[2], float(sys.argv[3])

def ok(b):
    """The Internet checksum over b, its checksum field included, verifies."""
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return s == 0xFFFF

res = {}
raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
u.bind(("0.0.0.0", port))
u.settimeout(wait)
try:
    data, peer = u.recvfrom(65535)
except socket.timeout:
    print(json.dumps({"error": "no datagram from lan1"}), flush=True)
    sys.exit(1)
res["peer"] = "%s:%d" % peer
u.sendto(("reply %s:%d\n" % peer).encode(), peer)
deadline = time.monotonic() + wait
while not os.path.exists(go):
    if time.monotonic() > deadline:
        res["error"] = "not told to send"
        print(json.dumps(res), flush=True)
        sys.exit(1)
    time.sleep(0.05)
u.sendto(b"late\n", peer)
deadline = time.monotonic() + wait
while True:
    left = deadline - time.monotonic()
    if left <= 0:
        res["error"] = "no ICMP destination unreachable within %gs" % wait
        break
    raw.settimeout(left)
    try:
        pkt = raw.recv(65535)
    except socket.timeout:
        continue
    ihl = (pkt[0] & 15) * 4
    icmp = pkt[ihl:]
    if len(icmp) < 8 + 20 + 8 or icmp[0] != 3:
        continue
    q = icmp[8:]
    qihl = (q[0] & 15) * 4
    l4 = q[qihl:]
    res.update({
        "src": socket.inet_ntoa(pkt[12:16]), "dst": socket.inet_ntoa(pkt[16:20]),
        "type": icmp[0], "code": icmp[1],
        "ip_csum_ok": ok(pkt[:ihl]), "icmp_csum_ok": ok(icmp),
        "q_src": socket.inet_ntoa(q[12:16]), "q_dst": socket.inet_ntoa(q[16:20]),
        "q_proto": q[9], "q_ip_csum_ok": ok(q[:qihl]),
        "q_sport": struct.unpack("!H", l4[0:2])[0],
        "q_dport": struct.unpack("!H", l4[2:4])[0],
        "q_udp_csum_ok": None, "hex": pkt.hex(),
    })
    ulen = struct.unpack("!H", l4[4:6])[0]
    # The whole datagram is quoted: its checksum can be verified too.
    if q[9] == socket.IPPROTO_UDP and 8 <= ulen <= len(l4):
        pseudo = q[12:20] + struct.pack("!BBH", 0, q[9], ulen)
        res["q_udp_csum_ok"] = ok(pseudo + l4[:ulen])
    break
print(json.dumps(res), flush=True)
'

# t_icmp_outbound OFFLOAD: lan1 sends a datagram from port 40001 (outside
# the NAT's range: a pool port is used) to the server's 9100 and closes its
# socket; the server sends another datagram to the mapping, lan1 answers
# with port unreachable, and the server must get it translated: from the
# gateway, quoting the server's own datagram to the gateway's external port.
t_icmp_outbound() {
	local offload=$1 go=$TOPO_TMP/icmp-out-go res=$TOPO_TMP/icmp-out.json pid out ext
	local n0 n1 u0 u1 sess js fields k v rc=0
	offload_setup "$offload" || return 1
	nat_attach || return 1
	TOPO_BG_LOG=$res topo_bg "$NS_WAN" timeout 30 python3 -c "$_ICMP_OUT_PY" 9100 "$go" 5
	pid=$TOPO_BG_PID
	wait_until 5 listening "$NS_WAN" udp 9100 || { fail "the server on 9100 did not start"; return 1; }

	out=$(UDP_DST=9100 udp_call "$NS_LAN1" 40001 hello 3 --first)
	ext=$(sed -n "s/^from ${TOPO_WAN_ADDR//./\\.}:9100 reply ${TOPO_WAN_GW//./\\.}:\([0-9]*\)\$/\1/p" <<<"$out")
	[[ -n $ext ]] || { fail "no reply from the server to lan1:40001 (got '$out')"; csum_report; return 1; }
	note "lan1:40001 is $TOPO_WAN_GW:$ext outside"
	# udp_call has exited: nothing listens on lan1:40001 any more, but the
	# mapping and its session live on.
	! listening "$NS_LAN1" udp 40001 || { fail "something still listens on lan1:40001"; return 1; }
	sess=$(conns_json | pyjson "len([c for c in d if c['proto'] == 'udp' and c['inside'] == '$TOPO_LAN1_ADDR:40001' and c['outside'] == '$TOPO_WAN_GW:$ext' and c['remote'] == '$TOPO_WAN_ADDR:9100'])") || return 1
	expect_eq "sessions of lan1:40001 -> server:9100" "$sess" 1 || return 1

	n0=$(nat_stat translated_out) || return 1
	u0=$(nat_stat unsupported) || return 1
	touch "$go"
	wait "$pid" # bounded by its timeout 30
	js=$(tail -n 1 "$res")
	n1=$(nat_stat translated_out) || return 1
	u1=$(nat_stat unsupported) || return 1
	note "server captured: $(pyjson '{k: v for k, v in d.items() if k != "hex"}' <<<"$js")"
	if ! pyjson '"src" in d' <<<"$js" | grep -qx True; then
		fail "the server got no ICMP error: $js"
		note "lan1 sent $(ip netns exec "$NS_LAN1" nstat -asz IcmpOutDestUnreachs | awk '$1 == "IcmpOutDestUnreachs" { print $2 }') destination unreachable(s); stats: translated_out $n0 -> $n1, unsupported $u0 -> $u1"
		csum_report
		return 1
	fi
	# One line per field, "KEY VALUE" (one Python run, not one per field),
	# and where lan1's address is in the packet's bytes (-1: nowhere).
	fields=$(pyjson "'\\n'.join('%s %s' % kv for kv in d.items()) + '\\nlan1_at %d' % bytes.fromhex(d['hex']).find(bytes([${TOPO_LAN1_ADDR//./, }]))" <<<"$js") ||
		{ fail "cannot read what the server captured: $js"; return 1; }
	declare -A f=()
	while read -r k v; do
		f[$k]=$v
	done <<<"$fields"
	expect_eq "source of the ICMP error" "${f[src]:-}" "$TOPO_WAN_GW" || rc=1
	expect_eq "destination of the ICMP error" "${f[dst]:-}" "$TOPO_WAN_ADDR" || rc=1
	expect_eq "ICMP type" "${f[type]:-}" 3 || rc=1
	expect_eq "ICMP code (port unreachable)" "${f[code]:-}" 3 || rc=1
	expect_eq "quoted source" "${f[q_src]:-}" "$TOPO_WAN_ADDR" || rc=1
	expect_eq "quoted destination" "${f[q_dst]:-}" "$TOPO_WAN_GW" || rc=1
	expect_eq "quoted protocol" "${f[q_proto]:-}" 17 || rc=1
	expect_eq "quoted source port" "${f[q_sport]:-}" 9100 || rc=1
	expect_eq "quoted destination port (the external one)" "${f[q_dport]:-}" "$ext" || rc=1
	for k in ip_csum_ok icmp_csum_ok q_ip_csum_ok; do
		expect_eq "$k" "${f[$k]:-}" True || rc=1
	done
	# With offload on, the quoted datagram holds the partial checksum lan1
	# received, not a complete one: only verifiable with offload off.
	if [[ $offload == off ]]; then
		expect_eq "quoted UDP checksum verifies" "${f[q_udp_csum_ok]:-}" True || rc=1
	fi
	# lan1's address nowhere in the packet (the address fields are checked
	# above; this covers every other byte).
	expect_eq "offset of lan1's address $TOPO_LAN1_ADDR in the error the server got" "${f[lan1_at]:-}" -1 || rc=1
	v=${f[hex]:-}
	((rc == 0)) || { note "packet: $v"; return 1; }
	((n1 - n0 == 1)) || { fail "stats: translated_out grew by $((n1 - n0)), expected 1 (the ICMP error)"; return 1; }
	expect_eq "stats: unsupported (untranslatable outbound) growth" "$((u1 - u0))" 0 || return 1
	n0=$(ip netns exec "$NS_LAN1" nstat -asz IcmpOutDestUnreachs | awk '$1 == "IcmpOutDestUnreachs" { print $2 }')
	expect_eq "destination unreachables sent by lan1" "$n0" 1 || return 1
	no_csum_errors
}
net_test icmp_outbound.tc.offload-off in_mode tc t_icmp_outbound off
net_test icmp_outbound.tc.offload-on in_mode tc t_icmp_outbound on
net_test icmp_outbound.xdp.offload-off in_mode xdp t_icmp_outbound off
net_test icmp_outbound.fast in_mode fast t_icmp_outbound off
net_test icmp_outbound.xdp.offload-on in_mode xdp t_icmp_outbound on
