# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
#
# The CLI: bad input is refused cleanly (non-zero exit, one line on stderr,
# nothing attached), and so is an option the command does not take (exit
# 2); detach removes everything; the --json outputs have the documented
# shape and escape what they print; --help, bpfmasq(8) and README.md's usage
# come from the option table and agree.

# _refused "ARGS": the command fails with exactly one line on stderr, and
# leaves nothing attached behind. Returns 1 (and says why) otherwise.
_refused() {
	local args=$1 rc err lines
	# shellcheck disable=SC2086
	err=$(bmq $args 2>&1 >/dev/null)
	rc=$?
	lines=$(printf '%s' "$err" | grep -c .)
	if [[ $rc == 0 || $rc == 124 ]]; then
		fail "'bpfmasq $args' exited $rc, expected a failure"
		return 1
	fi
	if [[ $lines != 1 ]]; then
		fail "'bpfmasq $args' (exit $rc) printed $lines lines on stderr, expected one:"
		printf '%s\n' "$err" | sed 's/^/    | /' >&2
		return 1
	fi
	note "bpfmasq $args -> exit $rc: $err"
	nothing_attached || { fail "... after 'bpfmasq $args'"; return 1; }
}

t_cli_errors() {
	local rc=0 args out
	local -a bad=(
		"attach nosuch0"
		"attach $WAN --internal 10.77.0.0/33"
		"attach $WAN --internal 10.77.0.0/abc"
		"attach $WAN --internal 300.77.0.0/16"
		"attach $WAN --internal nonsense"
		"attach $WAN --exclude 10.0.0.0/40"
		"attach $WAN --exclude none --exclude 192.0.2.0/24"
		"attach $WAN --exclude 192.0.2.0/24 --exclude none"
		"attach $WAN --fast-path nosuch0"
		"attach $WAN --fast-path $WAN"
		"attach $WAN --fast-path none --fast-path lan1"
		"attach $WAN --ports 5000-4000"
		"attach $WAN --ports 70000"
		"attach $WAN --ports 1024-70000"
		"attach $WAN --ports 0-100"
		"attach $WAN --ports 1024-"
		# Overlaps the gateway's own ip_local_port_range (32768-60999 in a
		# new namespace): its sockets and the NAT would pick the same ports.
		"attach $WAN --ports 30000-40000"
		"attach $WAN --address 203.0.113.300"
		"attach $WAN --filtering sideways"
		"attach $WAN --mode turbo"
		"attach $WAN --mode xdp"
		"run $WAN --mode turbo"
		"attach $WAN --max-sessions lots"
		"attach $WAN --timeout-udp soon"
		"attach $WAN --no-such-option"
		"run nosuch0"
		"run $WAN --ports 5000-4000"
		"run $WAN --gc-interval never"
		"status nosuch0"
		"conns $WAN"
		"stats $WAN"
		"gc $WAN"
		"flush $WAN"
		"detach nosuch0"
	)
	# A bare-IP interface (no Ethernet header) would be misparsed.
	if ip -n "$NS_GW" tuntap add dev tun9 mode tun 2>/dev/null &&
		ip -n "$NS_GW" link set tun9 up; then
		bad+=("attach tun9 --address 198.51.100.1")
	else
		fail "cannot create a tun interface for the bare-IP case"
		rc=1
	fi
	# A directory that is not a bpffs and not empty is not mounted over.
	mkdir -p "$TOPO_TMP/notbpf" && : >"$TOPO_TMP/notbpf/keep"
	bad+=("--bpffs $TOPO_TMP/notbpf attach $WAN")
	# All of these on a gateway where nothing is attached yet.
	for args in "${bad[@]}"; do
		_refused "$args" || rc=1
	done

	# No command, unknown command, missing interface: a failure and a
	# message (usage may take several lines).
	for args in "" "frobnicate $WAN" "attach"; do
		# shellcheck disable=SC2086
		out=$(bmq $args 2>&1 >/dev/null)
		if [[ $? == 0 || -z $out ]]; then
			fail "'bpfmasq $args' should fail with a message on stderr"
			rc=1
		fi
	done
	nothing_attached || rc=1

	# Bad input next to a live instance leaves it alone.
	nat_attach || return 1
	tcp_server "$NS_WAN" 8080 || return 1
	tcp_check "$NS_LAN1" before >/dev/null || return 1
	for args in "attach $WAN --internal 10.77.0.0/33" "attach $WAN --ports 5000-4000"; do
		# shellcheck disable=SC2086
		if bmq $args >/dev/null 2>&1; then
			fail "'bpfmasq $args' succeeded on an attached interface"
			rc=1
		fi
	done
	tcp_check "$NS_LAN1" after >/dev/null || { fail "the attached instance broke after bad input"; rc=1; }
	return $rc
}
net_test cli_errors t_cli_errors

# t_detach tc|xdp: everything attach made is gone after detach (XDP, the TC
# filters on both hooks, the clsact qdisc it created, the pins), and
# traffic is no longer translated; attaching again works.
t_detach() {
	local mode=$1 out qdiscs
	qdiscs=$(tc -n "$NS_GW" qdisc show dev "$WAN")
	NAT_MODE=$mode nat_attach || return 1 # checks the hooks of the mode
	has_clsact || { fail "no clsact qdisc on $WAN after attach"; return 1; }
	[[ -d $(pins_dir) ]] || { fail "no pin directory $(pins_dir) after attach"; return 1; }
	note "attached in mode $(status_field mode); pins: $(cd "$(pins_dir)" && echo *)"
	note "hooks: $(ip netns exec "$NS_GW" bpftool net show dev "$WAN" 2>/dev/null | tr '\n' ' ')"
	tcp_server "$NS_WAN" 8080 || return 1
	tcp_check "$NS_LAN1" attached >/dev/null || return 1

	bmq detach "$WAN" || { fail "bpfmasq detach $WAN failed"; return 1; }
	nothing_attached || return 1
	# The qdisc attach added for its filters is gone too.
	expect_eq "qdiscs on $WAN after detach" "$(tc -n "$NS_GW" qdisc show dev "$WAN")" "$qdiscs" || return 1
	# The server has no route back to the LAN: untranslated, no reply.
	if out=$(tcp_call "$NS_LAN1" "$TOPO_WAN_ADDR" 8080 detached); then
		fail "TCP still works after detach (got '$out')"
		return 1
	fi
	note "detached: no XDP, no TC filter, no clsact, no pins, no translation"

	NAT_MODE=$mode nat_attach || return 1
	tcp_check "$NS_LAN1" reattached >/dev/null || return 1
	bmq detach "$WAN" || { fail "second detach failed"; return 1; }
	nothing_attached
}
net_test detach.tc t_detach tc
net_test detach.xdp t_detach xdp

# t_detach_foreign: a clsact qdisc that was there before bpfmasq, with
# someone else's filters on both hooks (cBPF that matches nothing, at a
# lower priority than bpfmasq's), survives attach and detach in every
# mode; only bpfmasq's filters go.
t_detach_foreign() {
	local mode hook before after
	tc -n "$NS_GW" qdisc add dev "$WAN" clsact || { fail "tc qdisc add clsact"; return 1; }
	for hook in ingress egress; do
		tc -n "$NS_GW" filter add dev "$WAN" "$hook" pref 50000 bpf bytecode '1,6 0 0 0,' ||
			{ fail "tc filter add $hook (cBPF)"; return 1; }
	done
	before=$(tc_filters ingress; tc_filters egress)
	tcp_server "$NS_WAN" 8080 || return 1
	for mode in tc xdp; do
		NAT_MODE=$mode nat_attach || return 1
		tcp_check "$NS_LAN1" "foreign-$mode" >/dev/null || return 1
		bmq detach "$WAN" || { fail "detach ($mode) failed"; return 1; }
		FOREIGN_CLSACT=1 nothing_attached || return 1
		after=$(tc_filters ingress; tc_filters egress)
		expect_eq "foreign filters after attach and detach in mode $mode" "$after" "$before" || return 1
		note "mode $mode: the foreign clsact and filters are untouched"
	done
}
net_test detach.foreign-clsact t_detach_foreign

# t_json: conns, stats and status --json have the documented fields.
t_json() {
	local conns stats status
	nat_attach || return 1
	tcp_server "$NS_WAN" 8080 || return 1
	udp_server "$NS_WAN" 9000 || return 1
	tcp_check "$NS_LAN1" j "sourceport=20100,reuseaddr" >/dev/null || return 1
	udp_check "$NS_LAN1" 20200 j >/dev/null || return 1
	ping_check "$NS_LAN1" 2 || return 1

	conns=$(bmq conns "$WAN" --json) || { fail "conns --json failed"; return 1; }
	stats=$(bmq stats "$WAN" --json) || { fail "stats --json failed"; return 1; }
	status=$(bmq status "$WAN" --json) || { fail "status --json failed"; return 1; }
	note "conns: $conns"
	note "stats: $stats"
	note "status: $status"
	CONNS=$conns STATS=$stats STATUS=$status LAN1=$TOPO_LAN1_ADDR GW=$TOPO_WAN_GW \
		SRV=$TOPO_WAN_ADDR python3 - <<-'EOF' >&2 || return 1
		import json, os, re, sys
		errors = []
		def check(cond, msg):
		    if not cond:
		        errors.append(msg)
		def load(name):
		    try:
		        return json.loads(os.environ[name])
		    except ValueError as e:
		        errors.append("%s --json is not JSON: %s" % (name.lower(), e))
		        return None
		lan1, gw, srv = os.environ["LAN1"], os.environ["GW"], os.environ["SRV"]
		ep = re.compile(r"^\d{1,3}(\.\d{1,3}){3}:\d{1,5}$")
		conns, stats, status = load("CONNS"), load("STATS"), load("STATUS")

		if conns is not None:
		    check(isinstance(conns, list), "conns: not an array")
		    for c in conns if isinstance(conns, list) else []:
		        for k in ("proto", "inside", "outside", "remote", "state",
		                  "idle_s", "packets", "bytes"):
		            check(k in c, "conns: %r lacks %s" % (c, k))
		        check(c.get("proto") in ("tcp", "udp", "icmp"), "conns: bad proto in %r" % c)
		        for k in ("inside", "outside", "remote"):
		            check(isinstance(c.get(k), str) and ep.match(c[k]),
		                  "conns: %s is not A.B.C.D:PORT in %r" % (k, c))
		        check(isinstance(c.get("state"), str), "conns: state not a string in %r" % c)
		        check(isinstance(c.get("idle_s"), (int, float)) and c["idle_s"] >= 0,
		              "conns: bad idle_s in %r" % c)
		        for k in ("packets", "bytes"):
		            check(isinstance(c.get(k), int) and c[k] > 0, "conns: bad %s in %r" % (k, c))
		        check(str(c.get("outside", "")).startswith(gw + ":"),
		              "conns: outside not on %s in %r" % (gw, c))
		    def find(proto, inside, remote):
		        return [c for c in conns if c.get("proto") == proto and
		                str(c.get("inside")).startswith(inside) and
		                str(c.get("remote")).startswith(remote)]
		    t = find("tcp", lan1 + ":20100", srv + ":8080")
		    check(len(t) == 1, "conns: want one tcp %s:20100 -> %s:8080, got %r" % (lan1, srv, t))
		    if t:
		        o = t[0].get("outside", ":")
		        check(o.startswith(gw + ":") and 0 < int(o.rsplit(":", 1)[1]) < 65536,
		              "conns: tcp outside not an endpoint of %s: %r" % (gw, t[0]))
		    u = find("udp", lan1 + ":20200", srv + ":9000")
		    check(len(u) == 1, "conns: want one udp %s:20200 -> %s:9000, got %r" % (lan1, srv, u))
		    i = find("icmp", lan1 + ":", srv + ":")
		    check(len(i) == 1, "conns: want one icmp %s -> %s, got %r" % (lan1, srv, i))

		names = ("translated_out translated_in new_mappings new_sessions "
		         "tcp_out_of_window port_pool_empty table_full malformed not_ours filtered "
		         "not_inside no_address unsupported fragment_unmatched non_ipv4").split()
		if stats is not None:
		    check(isinstance(stats, dict), "stats: not an object")
		    for n in names:
		        check(isinstance(stats.get(n), int), "stats: %s missing or not an integer" % n)
		    if all(isinstance(stats.get(n), int) for n in names):
		        check(stats["translated_out"] > 0, "stats: translated_out is 0")
		        check(stats["translated_in"] > 0, "stats: translated_in is 0")
		        check(stats["new_mappings"] >= 3, "stats: new_mappings < 3")
		        check(stats["new_sessions"] >= 3, "stats: new_sessions < 3")
		        for n in ("port_pool_empty", "table_full", "malformed", "unsupported"):
		            check(stats[n] == 0, "stats: %s is %d" % (n, stats[n]))

		if status is not None:
		    check(isinstance(status, dict), "status: not an object")
		    st = status if isinstance(status, dict) else {}
		    for k in ("ifname", "address", "ports", "filtering", "mode", "sessions", "mappings"):
		        check(k in st, "status: lacks %s" % k)
		    check("xdp_mode" not in st, "status: still has the old xdp_mode key")
		    # The default on veth: replies translated at TC ingress.
		    check(st.get("mode") == "tc", "status: mode %r, expected 'tc' (default on veth)" % st.get("mode"))
		    check(st.get("ifname") == "wan0", "status: ifname %r" % st.get("ifname"))
		    check(st.get("address") == gw, "status: address %r" % st.get("address"))
		    p = json.dumps(st.get("ports"))
		    check("1024" in p and "32767" in p, "status: ports %s, expected 1024-32767" % p)
		    check("dependent" in json.dumps(st.get("filtering")), "status: filtering %r" % st.get("filtering"))
		    if isinstance(conns, list):
		        check(st.get("sessions") == len(conns),
		              "status: sessions %r but conns lists %d" % (st.get("sessions"), len(conns)))
		    check(st.get("mappings") == 3, "status: mappings %r, expected 3" % st.get("mappings"))

		for e in errors:
		    print("    FAIL: " + e)
		sys.exit(1 if errors else 0)
	EOF
	# The human-readable forms work too.
	bmq conns "$WAN" >/dev/null || { fail "conns (text) failed"; return 1; }
	bmq stats "$WAN" >/dev/null || { fail "stats (text) failed"; return 1; }
	bmq status "$WAN" >/dev/null || { fail "status IFACE (text) failed"; return 1; }
	bmq status >/dev/null || { fail "status (all, text) failed"; return 1; }
	bmq status --json | pyjson 'd' >/dev/null || { fail "status --json (all) is not JSON"; return 1; }
}
net_test json t_json

# t_bpffs_flag: --bpffs DIR does what BPFMASQ_BPFFS does, before or after
# the command.
t_bpffs_flag() {
	local out
	env -u BPFMASQ_BPFFS timeout 30 ip netns exec "$NS_GW" "$BPFMASQ_BIN" \
		--bpffs "$BPFMASQ_BPFFS" attach "$WAN" --internal "$TOPO_INTERNAL" </dev/null ||
		{ fail "attach with --bpffs before the command failed"; return 1; }
	[[ -e $(pins_dir)/sessions ]] || { fail "--bpffs: nothing pinned in $(pins_dir)"; return 1; }
	out=$(env -u BPFMASQ_BPFFS timeout 30 ip netns exec "$NS_GW" "$BPFMASQ_BIN" \
		status "$WAN" --json --bpffs "$BPFMASQ_BPFFS" </dev/null) ||
		{ fail "status with --bpffs after the command failed"; return 1; }
	expect_eq "status via --bpffs: ifname" "$(pyjson "d['ifname']" <<<"$out")" "$WAN" || return 1
	env -u BPFMASQ_BPFFS timeout 30 ip netns exec "$NS_GW" "$BPFMASQ_BIN" \
		--bpffs "$BPFMASQ_BPFFS" detach "$WAN" </dev/null || { fail "detach with --bpffs failed"; return 1; }
	nothing_attached
}
net_test bpffs_flag t_bpffs_flag

# _usage_error "ARGS": the command is refused as bad usage: exit 2, nothing
# on stdout, exactly one line on stderr.
_usage_error() {
	local args=$1 rc out lines
	# shellcheck disable=SC2086
	out=$(bmq $args 2>"$TOPO_TMP/usage.err")
	rc=$?
	lines=$(grep -c . "$TOPO_TMP/usage.err")
	if [[ $rc != 2 || -n $out || $lines != 1 ]]; then
		fail "'bpfmasq $args': exit $rc (expected 2), $lines lines on stderr (expected one), stdout '$out'"
		sed 's/^/    | /' "$TOPO_TMP/usage.err" >&2
		return 1
	fi
	note "bpfmasq $args -> exit 2: $(cat "$TOPO_TMP/usage.err")"
}

# _help ARGS...: `bpfmasq ARGS` prints something on stdout, nothing on
# stderr, and exits 0; its output is left in $help.
_help() {
	local rc
	help=$(bmq "$@" 2>"$TOPO_TMP/help.err")
	rc=$?
	if [[ $rc != 0 || -s $TOPO_TMP/help.err || -z $help ]]; then
		fail "'bpfmasq $*': exit $rc, $(grep -c . <<<"$help") lines on stdout, stderr '$(cat "$TOPO_TMP/help.err")'"
		return 1
	fi
}

# _mentions WHAT TEXT OPTION...: every --OPTION appears in TEXT.
_mentions() {
	local what=$1 text=$2 opt rc=0
	shift 2
	for opt in "$@"; do
		grep -qF -- "--$opt" <<<"$text" || { fail "$what does not mention --$opt"; rc=1; }
	done
	return $rc
}

# _omits WHAT TEXT OPTION...: no --OPTION appears in TEXT.
_omits() {
	local what=$1 text=$2 opt rc=0
	shift 2
	for opt in "$@"; do
		if grep -qE -- "--$opt\b" <<<"$text"; then
			fail "$what mentions --$opt, which the command does not take"
			rc=1
		fi
	done
	return $rc
}

# t_cli_help: `bpfmasq --help` and `bpfmasq COMMAND --help` go to stdout
# and exit 0, each listing the options it takes (and no other);
# bpfmasq(8) renders without a warning and lists every option; README.md's
# usage block is `bpfmasq --help`.
t_cli_help() {
	local rc=0 help cmd opt page warn man
	local -a opts attach_opts=(address internal exclude fast-path ports filtering max-sessions
		timeout-tcp-est timeout-tcp-trans timeout-tcp-close timeout-udp timeout-icmp mode)
	local -a global=(bpffs verbose help)

	_help --help || return 1
	_mentions "bpfmasq --help" "$help" "${attach_opts[@]}" gc-interval json "${global[@]}" || rc=1
	for cmd in attach run detach status conns stats flush gc; do
		grep -q "^bpfmasq $cmd " <<<"$help" || { fail "bpfmasq --help has no synopsis of $cmd"; rc=1; }
	done
	# What the man page must list: every option of the table, as --help has
	# them (which the checks above hold to the expected set).
	mapfile -t opts < <(sed -n '/^Options/,$p' <<<"$help" | grep -oE -- '^ +(-[a-z], )?--[a-z][a-z-]*' |
		sed 's/.*--//')
	[[ ${#opts[@]} -ge 15 ]] || { fail "bpfmasq --help lists ${#opts[@]} options: ${opts[*]}"; rc=1; }

	_help attach --help || return 1
	grep -q '^usage: bpfmasq attach IFACE' <<<"$help" || { fail "attach --help: no usage line"; rc=1; }
	_mentions "attach --help" "$help" "${attach_opts[@]}" "${global[@]}" || rc=1
	_omits "attach --help" "$help" gc-interval json || rc=1
	_help run --help || return 1
	_mentions "run --help" "$help" "${attach_opts[@]}" gc-interval "${global[@]}" || rc=1
	_omits "run --help" "$help" json || rc=1
	for cmd in status conns stats; do
		_help "$cmd" -h || return 1
		_mentions "$cmd -h" "$help" json "${global[@]}" || rc=1
		_omits "$cmd -h" "$help" "${attach_opts[@]}" gc-interval || rc=1
	done
	for cmd in detach flush gc; do
		# Before the command works as well.
		_help --help "$cmd" || return 1
		grep -q "^usage: bpfmasq $cmd IFACE" <<<"$help" || { fail "--help $cmd: no usage line"; rc=1; }
		_omits "--help $cmd" "$help" "${attach_opts[@]}" gc-interval json || rc=1
	done

	man=$(dirname "$BPFMASQ_BIN")/bpfmasq.8
	[[ -s $man ]] || { fail "no man page $man (make builds it)"; return 1; }
	page=$(LC_ALL=C MANWIDTH=120 man -l "$man" 2>"$TOPO_TMP/man.err") ||
		{ fail "man -l $man failed: $(cat "$TOPO_TMP/man.err")"; return 1; }
	[[ -s $TOPO_TMP/man.err ]] && { fail "man -l $man: $(cat "$TOPO_TMP/man.err")"; rc=1; }
	warn=$(groff -man -ww -z "$man" 2>&1) || { fail "groff failed on $man"; rc=1; }
	[[ -z $warn ]] || { fail "groff warns about $man: $warn"; rc=1; }
	_mentions "bpfmasq(8)" "$page" "${opts[@]}" || rc=1
	for cmd in attach run detach status conns stats flush gc; do
		grep -qE "^ +bpfmasq $cmd\b" <<<"$page" || { fail "bpfmasq(8) has no synopsis of $cmd"; rc=1; }
	done
	note "bpfmasq(8): $(grep -c . <<<"$page") lines, options: ${opts[*]}"

	"$REPO_DIR/tools/readme_usage.sh" "$BPFMASQ_BIN" ||
		{ fail "README.md's usage block is not 'bpfmasq --help' (run make readme)"; rc=1; }
	return $rc
}
net_test cli_help t_cli_help

# t_cli_wrong_option: an option the command does not take is bad usage,
# wherever it stands: exit 2, one line on stderr; it changes nothing, with
# nothing attached or next to a live instance.
t_cli_wrong_option() {
	local rc=0 args
	local -a bad=(
		"detach $WAN --ports 1-2"
		"--ports 1-2 detach $WAN"
		"detach $WAN --json"
		"status --gc-interval 5"
		"status $WAN --address 198.51.100.1"
		"conns $WAN --internal 10.0.0.0/8"
		"stats $WAN --mode tc"
		"flush $WAN --max-sessions 100"
		"gc $WAN --timeout-udp 10"
		"attach $WAN --gc-interval 5"
		"attach $WAN --json"
	)
	for args in "${bad[@]}"; do
		_usage_error "$args" || rc=1
	done
	nothing_attached || rc=1

	nat_attach --ports 20000-20999 || return 1
	tcp_server "$NS_WAN" 8080 || return 1
	tcp_check "$NS_LAN1" before >/dev/null || return 1
	for args in "${bad[@]}"; do
		_usage_error "$args" || rc=1
	done
	[[ -e $(pins_dir)/config ]] || { fail "the pins went after the refused commands"; return 1; }
	expect_eq "ports after the refused commands" "$(status_field ports)" "20000-20999" || rc=1
	if ! ingress_attached || ! tc_egress_attached; then
		fail "the programs went after the refused commands"
		rc=1
	fi
	tcp_check "$NS_LAN1" after >/dev/null || { fail "the instance broke after the refused commands"; rc=1; }
	return $rc
}
net_test cli_wrong_option t_cli_wrong_option

# t_json_names: an interface name with a quote, a backslash and a control
# character (the kernel takes all three) is escaped in the --json outputs,
# which stay valid JSON and give the name back.
t_json_names() {
	local name=$'w"a\\n\x01' out
	if ! { ip -n "$NS_GW" link set dev "$TOPO_WAN_IF" down &&
		ip -n "$NS_GW" link set dev "$TOPO_WAN_IF" name "$name" &&
		ip -n "$NS_GW" link set dev "$name" up &&
		ip -n "$NS_GW" route replace default via "$TOPO_WAN_ADDR"; }; then
		fail "cannot rename $TOPO_WAN_IF"
		return 1
	fi
	# The helpers below act on $WAN.
	local WAN=$name
	nat_attach || return 1
	tcp_server "$NS_WAN" 8080 || return 1
	tcp_check "$NS_LAN1" quoted >/dev/null || return 1

	out=$(bmq status "$WAN" --json) || { fail "status --json failed"; return 1; }
	note "status: $out"
	python3 -m json.tool <<<"$out" >/dev/null || { fail "status --json is not JSON"; return 1; }
	NAME=$WAN pyjson "d['ifname'] == __import__('os').environ['NAME']" <<<"$out" | grep -qx True ||
		{ fail "status --json: ifname is not the interface's name"; return 1; }
	NAME=$WAN pyjson "d['pins'].endswith('/bpfmasq/' + __import__('os').environ['NAME'])" <<<"$out" |
		grep -qx True || { fail "status --json: pins is not the pin directory"; return 1; }

	out=$(bmq status --json) || { fail "status --json (all) failed"; return 1; }
	python3 -m json.tool <<<"$out" >/dev/null || { fail "status --json (all) is not JSON: $out"; return 1; }
	NAME=$WAN pyjson "[s['ifname'] for s in d].count(__import__('os').environ['NAME'])" <<<"$out" |
		grep -qx 1 || { fail "status --json (all) does not list the interface once: $out"; return 1; }

	out=$(bmq conns "$WAN" --json) || { fail "conns --json failed"; return 1; }
	note "conns: $out"
	python3 -m json.tool <<<"$out" >/dev/null || { fail "conns --json is not JSON"; return 1; }
	[[ $(pyjson "len(d)" <<<"$out") -ge 1 ]] || { fail "conns --json lists no session"; return 1; }
	out=$(bmq stats "$WAN" --json) || { fail "stats --json failed"; return 1; }
	python3 -m json.tool <<<"$out" >/dev/null || { fail "stats --json is not JSON"; return 1; }

	tc_ours egress >/dev/null || { fail "no bpfmasq filter seen on the renamed interface"; return 1; }
	bmq detach "$WAN" || { fail "detach failed"; return 1; }
	# Not nothing_attached: `ip -j` does not escape the control character.
	[[ ! -e $(pins_dir) ]] || { fail "the pins are still there after detach"; return 1; }
	if tc_ours ingress >/dev/null || tc_ours egress >/dev/null; then
		fail "bpfmasq's filters are still there after detach"
		return 1
	fi
}
net_test json_names t_json_names
