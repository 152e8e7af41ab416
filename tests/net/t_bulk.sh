# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
#
# Bulk TCP both ways: 20 MB of random data from the server to lan1 (every
# data segment rewritten at the WAN ingress, by TC or XDP) and from lan1 to
# the server (by TC egress) arrives intact. With offload off, the receivers
# verify every segment's checksum: one wrong incremental update shows as
# TcpInCsumErrors (and a stall).

BULK_MB=20

# sha256 FILE
_sha() { sha256sum "$1" | cut -d' ' -f1; }

# t_bulk OFFLOAD
t_bulk() {
	local offload=$1 data=$TOPO_TMP/data want got pid t0
	offload_setup "$offload" || return 1
	nat_attach || return 1
	head -c "${BULK_MB}M" /dev/urandom >"$data" || return 1
	want=$(_sha "$data")

	# Download: the server sends the file to the first client.
	topo_bg "$NS_WAN" timeout 60 socat -u FILE:"$data" TCP4-LISTEN:5001,reuseaddr
	wait_until 5 listening "$NS_WAN" tcp 5001 || { fail "download server did not start"; return 1; }
	t0=$SECONDS
	timeout 60 ip netns exec "$NS_LAN1" socat -u \
		TCP4:"$TOPO_WAN_ADDR":5001,connect-timeout=3 CREATE:"$TOPO_TMP/down" ||
		{ fail "download failed or timed out"; csum_report; return 1; }
	got=$(_sha "$TOPO_TMP/down")
	expect_eq "sha256 of the ${BULK_MB} MB downloaded by lan1" "$got" "$want" || return 1
	note "download: ${BULK_MB} MB intact in $((SECONDS - t0))s"

	# Upload: the server stores what lan1 sends; it exits at EOF.
	topo_bg "$NS_WAN" timeout 60 socat -u TCP4-LISTEN:5002,reuseaddr CREATE:"$TOPO_TMP/up"
	pid=$TOPO_BG_PID
	wait_until 5 listening "$NS_WAN" tcp 5002 || { fail "upload server did not start"; return 1; }
	t0=$SECONDS
	timeout 60 ip netns exec "$NS_LAN1" socat -u \
		FILE:"$data" TCP4:"$TOPO_WAN_ADDR":5002,connect-timeout=3 ||
		{ fail "upload failed or timed out"; csum_report; return 1; }
	wait "$pid" # bounded by its timeout 60
	got=$(_sha "$TOPO_TMP/up")
	expect_eq "sha256 of the ${BULK_MB} MB uploaded by lan1" "$got" "$want" || return 1
	note "upload: ${BULK_MB} MB intact in $((SECONDS - t0))s"

	note "TcpInCsumErrors: lan1 $(csum_errors "$NS_LAN1"), wan $(csum_errors "$NS_WAN")"
	no_csum_errors
}
net_test bulk.tc.offload-on in_mode tc t_bulk on
net_test bulk.tc.offload-off in_mode tc t_bulk off
net_test bulk.tc.offload-mixed in_mode tc t_bulk mixed
net_test bulk.xdp.offload-on in_mode xdp t_bulk on
net_test bulk.xdp.offload-off in_mode xdp t_bulk off
