# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
#
# Bulk TCP both ways: 20 MB of random data from the server to lan1 (every
# data segment rewritten at the WAN ingress, by TC or XDP) and from lan1 to
# the server (by TC egress) arrives intact. With offload off, the receivers
# verify every segment's checksum: one wrong incremental update shows as
# TcpInCsumErrors (and a stall).

BULK_MB=20

# t_bulk OFFLOAD
t_bulk() {
	local offload=$1 data=$TOPO_TMP/data
	offload_setup "$offload" || return 1
	nat_attach || return 1
	head -c "${BULK_MB}M" /dev/urandom >"$data" || return 1
	tcp_download "$NS_WAN" "$TOPO_WAN_ADDR" 5001 "$data" 60 || return 1
	tcp_upload "$NS_WAN" "$TOPO_WAN_ADDR" 5002 "$data" 60 || return 1

	note "TcpInCsumErrors: lan1 $(csum_errors "$NS_LAN1"), wan $(csum_errors "$NS_WAN")"
	no_csum_errors
}
net_test bulk.tc.offload-on in_mode tc t_bulk on
net_test bulk.tc.offload-off in_mode tc t_bulk off
net_test bulk.tc.offload-mixed in_mode tc t_bulk mixed
net_test bulk.xdp.offload-on in_mode xdp t_bulk on
net_test bulk.xdp.offload-off in_mode xdp t_bulk off
net_test bulk.fast in_mode fast t_bulk off
