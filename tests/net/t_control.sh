# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
#
# Control: the same traffic through the kernel's own masquerade (nftables)
# instead of bpfmasq, with the strictest checksum setup. It proves the
# topology and the checks are sound, so that a bpfmasq failure in the same
# setup is bpfmasq's.

t_nft_control() {
	local offload=$1 port
	command -v nft >/dev/null || { fail "nft is not installed (package nftables)"; return 1; }
	offload_setup "$offload" || return 1
	ip netns exec "$NS_GW" nft -f - <<-EOF || { fail "nft ruleset"; return 1; }
		table ip bmqnat {
			chain post {
				type nat hook postrouting priority srcnat;
				oifname "$WAN" ip saddr $TOPO_INTERNAL masquerade
			}
		}
	EOF
	tcp_server "$NS_WAN" 8080 || return 1
	udp_server "$NS_WAN" 9000 || return 1
	port=$(tcp_check "$NS_LAN1" nft-tcp) || return 1
	note "nft masquerade, TCP: server saw $TOPO_WAN_GW:$port"
	port=$(udp_check "$NS_LAN2" 40000 nft-udp) || return 1
	note "nft masquerade, UDP: server saw $TOPO_WAN_GW:$port"
	ping_check "$NS_LAN1" 2 || return 1
	no_csum_errors
}
net_test nft_control.offload-mixed t_nft_control mixed
