# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
#
# Exemptions (--exclude, RFC 6888 REQ-6): the server's address is excluded,
# and it routes the inside prefix back through the gateway, as a VPN peer
# or a provider network would. lan1's datagrams reach it with lan1's own
# address and its answers come back; a re-attach without --exclude keeps
# the exemption, `--exclude none` ends it, and the same flow is translated
# again.

# t_exclude
t_exclude() {
	local p
	ip -n "$NS_WAN" route add "$TOPO_INTERNAL" via "$TOPO_WAN_GW" ||
		{ fail "route to the inside on the server"; return 1; }
	udp_server "$NS_WAN" 9000 || return 1
	nat_attach --exclude "$TOPO_WAN_ADDR/32" || return 1
	expect_eq "status: excluded" "$(status_field excluded)" "[\"$TOPO_WAN_ADDR/32\"]" ||
		return 1

	EXPECT_SRC=$TOPO_LAN1_ADDR udp_check "$NS_LAN1" 7001 untranslated >/dev/null ||
		return 1
	expect_eq "sessions for the excluded flow" "$(status_field sessions)" 0 || return 1
	(($(nat_stat excluded) >= 2)) ||
		{ fail "excluded counted $(nat_stat excluded), expected the datagram and its answer"; return 1; }
	note "lan1 -> $TOPO_WAN_ADDR: untranslated both ways, excluded $(nat_stat excluded)"

	nat_attach || return 1
	EXPECT_SRC=$TOPO_LAN1_ADDR udp_check "$NS_LAN1" 7001 kept >/dev/null ||
		{ fail "a re-attach without --exclude dropped the exemption"; return 1; }
	nat_attach --exclude none || return 1
	expect_eq "status: excluded after --exclude none" "$(status_field excluded)" "[]" ||
		return 1
	p=$(udp_check "$NS_LAN1" 7001 translated) || return 1
	note "after --exclude none: translated, from $TOPO_WAN_GW:$p"
}

net_test exclude t_exclude
