# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
#
# Pins of another layout: a map whose value size is not this build's, or an
# instance record of another layout version, is refused by every command
# with one line on stderr and exit 1, before anything is read or changed;
# `detach --force` removes them all the same, and whatever bpfmasq hooked
# to the interface, without reading any map.

# _layout_refused WHAT CMD...: CMD fails with exit 1 and one line on stderr that
# says why.
_layout_refused() {
	local what=$1 err rc
	shift
	err=$(bmq "$@" 2>&1 >/dev/null)
	rc=$?
	((rc == 1)) || { fail "$what: '$*' exited $rc (stderr: $err)"; return 1; }
	[[ $(wc -l <<<"$err") == 1 && $err == *"$what"* ]] ||
		{ fail "'$*': stderr is not one line naming '$what': $err"; return 1; }
}

t_layout_size() {
	local dir cmd
	dir=$(pins_dir)
	mkdir -p "$dir" || return 1
	# The first release's config: 40-byte values.
	bpftool map create "$dir/config" type array key 4 value 40 entries 1 \
		name config || { fail "bpftool map create"; return 1; }
	for cmd in status stats conns gc flush check attach detach; do
		_layout_refused "another version" "$cmd" "$WAN" || return 1
	done
	[[ -e $dir/config ]] || { fail "the foreign pin was removed"; return 1; }
	[[ $(xdp_kind "$WAN") == none && -z $(tc_ours egress "$WAN") ]] ||
		{ fail "attach hooked something to $WAN"; return 1; }
	note "every command refused the 40-byte config"
	bmq detach --force "$WAN" >/dev/null || { fail "detach --force"; return 1; }
	[[ ! -e $dir ]] || { fail "detach --force left $dir"; return 1; }
}
net_test layout_size t_layout_size

t_layout_version() {
	local rec len old cmd out
	nat_attach || return 1
	rec=$(pins_dir)/instance
	len=$(bpftool -j map show pinned "$rec" | pyjson 'd["bytes_value"]') || return 1
	old=$(bpftool -j map lookup pinned "$rec" key 0 0 0 0 |
		pyjson '" ".join(d["value"])') || return 1
	# Layout 1, the rest of the record unchanged.
	# shellcheck disable=SC2046
	bpftool map update pinned "$rec" key 0 0 0 0 value 01 00 00 00 \
		$(cut -d' ' -f5- <<<"$old") ||
		{ fail "bpftool map update ($len bytes)"; return 1; }
	for cmd in status gc flush attach detach; do
		_layout_refused "layout 1" "$cmd" "$WAN" || return 1
	done
	# The record is not read: the filters, the XDP link (in an XDP mode)
	# and the pins go; the clsact qdisc stays, whoever made it.
	out=$(bmq detach --force "$WAN") || { fail "detach --force"; return 1; }
	note "$out"
	has_clsact || { fail "detach --force removed the clsact qdisc"; return 1; }
	tc -n "$NS_GW" qdisc del dev "$WAN" clsact
	nothing_attached
}
net_test layout_version t_layout_version
net_test layout_version.xdp in_mode xdp t_layout_version
