# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
#
# The fast path (--fast-path lan1): lan1's traffic is translated at lan1's
# XDP hook and redirected straight out of the WAN, and the replies go from
# the WAN's ingress program straight to lan1, past the kernel's forwarding
# path: ping, UDP and a TCP download work, intact, and the fast path's
# counters show the packets took it, both ways, while lan2 keeps the normal
# path. `--fast-path none` takes it off lan1 again, traffic unharmed. And a
# packet whose neighbour is not resolved yet goes through the kernel, which
# resolves it; the next ones take the fast path. detach takes it off lan1.
# A firewall on the forward hook, which the fast path would bypass, keeps
# it from being set up but with --force.
#
# The end hosts compute checksums in full (offload off): XDP on a veth
# cannot see that a local sender left one to offload. A veth takes frames
# redirected by XDP only when its peer runs NAPI: GRO on the end hosts.

FAST_BULK_MB=8

# _fast_setup: offload off and GRO on at the end hosts; then attach with
# the fast path on lan1, which status must show, and lan1's XDP hook carry.
_fast_setup() {
	fast_hosts || return 1
	note "checksum offload off and GRO on at the end hosts"
	nat_attach --fast-path lan1 || return 1
	expect_eq "status: fast_path" "$(status_field fast_path)" '["lan1"]' || return 1
	ip -n "$NS_GW" link show lan1 | grep -q 'prog/xdp' ||
		{ fail "no XDP program on lan1"; return 1; }
}

# _fast_counts: "out in no_neigh".
_fast_counts() {
	echo "$(nat_stat fast_path_out) $(nat_stat fast_path_in) $(nat_stat fast_path_no_neigh)"
}

# t_fast MODE: the WAN's ingress in MODE (tc, xdp), the fast path on lan1.
t_fast() {
	local data=$TOPO_TMP/fast-data out in stack p
	_fast_setup || return 1
	udp_server "$NS_WAN" 9000 || return 1
	ping_check "$NS_LAN1" 5 || return 1
	p=$(udp_check "$NS_LAN1" 7001 fast) || return 1
	head -c $((FAST_BULK_MB << 20)) /dev/urandom >"$data"
	tcp_download "$NS_WAN" "$TOPO_WAN_ADDR" 8200 "$data" 30 || return 1
	read -r out in stack <<<"$(_fast_counts)"
	note "fast path: $out packets out, $in in, $stack to the kernel; UDP from $TOPO_WAN_GW:$p"
	((out >= 10)) || { fail "only $out packets took the fast path out"; return 1; }
	# The download alone is some 5,700 full-sized segments.
	((in >= 5000)) || { fail "only $in packets took the fast path in"; return 1; }
	# lan2 is not on the fast path: its packets leave the counters be.
	ping_check "$NS_LAN2" 3 || return 1
	expect_eq "fast path out, after lan2's ping" "$(nat_stat fast_path_out)" "$out" ||
		return 1
	no_csum_errors || return 1

	nat_attach --fast-path none || return 1
	expect_eq "status: fast_path after --fast-path none" "$(status_field fast_path)" '[]' ||
		return 1
	if ip -n "$NS_GW" link show lan1 | grep -q 'prog/xdp'; then
		fail "the XDP program is still on lan1"
		return 1
	fi
	ping_check "$NS_LAN1" 3 || return 1
	expect_eq "fast path out, once off" "$(nat_stat fast_path_out)" "$out" || return 1
}

# t_fast_neigh: with the gateway's neighbours flushed, the first packet
# each way goes through the kernel (fast_path_no_neigh), which resolves
# them; the rest of the pings take the fast path.
t_fast_neigh() {
	local out0 out1 stack0 stack1
	_fast_setup || return 1
	ip -n "$NS_GW" neigh flush all
	read -r out0 _ stack0 <<<"$(_fast_counts)"
	ping_check "$NS_LAN1" 5 || return 1
	read -r out1 _ stack1 <<<"$(_fast_counts)"
	note "after a neighbour flush: $((stack1 - stack0)) to the kernel, $((out1 - out0)) out on the fast path"
	((stack1 > stack0)) || { fail "no packet went to the kernel for want of a neighbour"; return 1; }
	((out1 - out0 >= 3)) || { fail "the pings did not take the fast path once resolved"; return 1; }
	# detach takes the fast path off lan1 too.
	bmq detach "$WAN" || { fail "bpfmasq detach"; return 1; }
	if ip -n "$NS_GW" link show lan1 | grep -q 'prog/xdp'; then
		fail "detach left the XDP program on lan1"
		return 1
	fi
}

# t_fast_firewall: with a chain on the gateway's forward hook, which the
# fast path would bypass, attach --fast-path is refused, in one line and
# with nothing left attached; --force sets it up all the same.
t_fast_firewall() {
	local out
	ip netns exec "$NS_GW" nft -f - <<-EOF || { fail "nft forward chain"; return 1; }
		add table inet fw
		add chain inet fw filter_forward { type filter hook forward priority 0; }
	EOF
	if out=$(bmq attach "$WAN" --internal "$TOPO_INTERNAL" --fast-path lan1 2>&1); then
		fail "attach --fast-path went ahead past a forward chain"
		return 1
	fi
	indent_log <<<"$out"
	grep -q 'forward hook.*--force' <<<"$out" ||
		{ fail "the refusal does not say why and what to do"; return 1; }
	nothing_attached || return 1
	nat_attach --fast-path lan1 --force || return 1
	expect_eq "status: fast_path with --force" "$(status_field fast_path)" '["lan1"]'
}

net_test fast.tc in_mode tc t_fast
net_test fast.xdp in_mode xdp t_fast
net_test fast_neigh in_mode xdp t_fast_neigh
net_test fast_firewall t_fast_firewall
