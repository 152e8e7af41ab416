#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# tools/demo.sh BUILD_DIR - what `sudo make demo` runs.
#
# Builds the two-LAN-host topology of tools/topo.sh in throw-away network
# namespaces, attaches bpfmasq to the gateway's WAN veth (showing the mode it
# picked and what it attached: TC ingress on veth), sends real TCP,
# UDP and ping traffic from both inside hosts to the server, shows what the
# server saw and what bpfmasq recorded (conns, stats, status, a raw map via
# bpftool), then detaches and removes everything (also on Ctrl-C or error).
set -euo pipefail

if [[ $# -ne 1 ]]; then
	echo "usage: $0 BUILD_DIR" >&2
	exit 2
fi
BIN=$(realpath -m "$1/bpfmasq")
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

if [[ $(id -u) != 0 ]]; then
	echo "demo: needs root (network namespaces, BPF): sudo make demo" >&2
	exit 1
fi
if [[ ! -x $BIN ]]; then
	echo "demo: $BIN not found: run make first" >&2
	exit 1
fi
for tool in socat ping bpftool ip tc; do
	command -v "$tool" >/dev/null || {
		echo "demo: $tool is missing (sudo make demo installs it)" >&2
		exit 1
	}
done

# shellcheck source=SCRIPTDIR/topo.sh
source "$here/topo.sh"

if [[ -t 1 ]]; then
	B=$'\e[1m' N=$'\e[0m'
else
	B='' N=''
fi
heading() { printf '\n%s== %s ==%s\n' "$B" "$*" "$N"; }
# show CMD...: print the command (as a user would type it), then run it.
show() {
	local shown="$*"
	# bmq is this script's shorthand for running bpfmasq in the gateway.
	[[ $1 == bmq ]] && shown="bpfmasq ${*:2}    # in the gw namespace"
	printf '%s$ %s%s\n' "$B" "$shown" "$N"
	"$@"
}
bmq() { ip netns exec "$NS_GW" "$BIN" "$@"; }

cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	if [[ -n ${NS_GW:-} && -e /run/netns/$NS_GW && -d ${BPFMASQ_BPFFS:-/nonexistent}/bpfmasq/$TOPO_WAN_IF ]]; then
		timeout 10 ip netns exec "$NS_GW" "$BIN" detach "$TOPO_WAN_IF" >/dev/null 2>&1 || true
	fi
	topo_cleanup
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

heading "topology"
topo_init
topo_create
# Full checksums from the end hosts, so the receivers verify every rewrite.
topo_offload off
cat <<EOF
  lan1 $TOPO_LAN1_ADDR ---+
                         gw (ip_forward=1) $TOPO_WAN_IF $TOPO_WAN_GW --- wan $TOPO_WAN_ADDR
  lan2 $TOPO_LAN2_ADDR ---+
  namespaces: $NS_LAN1 $NS_LAN2 $NS_GW $NS_WAN
  bpffs:      BPFMASQ_BPFFS=$BPFMASQ_BPFFS
  The server has no route to 10.77.0.0/16: replies only come back translated.
EOF

# What bpfmasq has on the WAN interface: XDP (native or generic mode), and
# its TC filters (handle 0x6d61) on the ingress (tc mode) and egress hooks.
xdp_on_wan() { ip -n "$NS_GW" link show dev "$TOPO_WAN_IF" | grep -Eq 'prog/xdp|\bxdp(generic|drv|offload)?\b'; }
tc_ours_on_wan() { tc -n "$NS_GW" filter show dev "$TOPO_WAN_IF" "$1" | grep -E 'handle 0x6d61\b|bpfmasq_' || true; }
clsact_on_wan() { tc -n "$NS_GW" qdisc show dev "$TOPO_WAN_IF" | grep -q '^qdisc clsact '; }
clsact_before=no
clsact_on_wan && clsact_before=yes

heading "attach bpfmasq to the gateway's WAN interface"
# No --mode: on veth, bpfmasq translates replies with a TC ingress filter
# (XDP cannot tell a partial checksum from a complete one there); elsewhere
# with native XDP. --mode native|generic|tc chooses.
show bmq attach "$TOPO_WAN_IF" --internal "$TOPO_INTERNAL"
mode=$(bmq status "$TOPO_WAN_IF" --json |
	python3 -c 'import json, sys; print(json.load(sys.stdin).get("mode", "?"))')
case $mode in
tc) what="a TC filter on the ingress hook" ;;
native) what="XDP in the driver (native)" ;;
generic) what="XDP on the skb (generic)" ;;
*) what="unknown" ;;
esac
echo "  mode $mode: replies are translated by $what, outbound packets by a TC egress filter"
# What is really on the interface, as the kernel reports it.
xdp=none
if xdp_on_wan; then
	xdp=$(ip -n "$NS_GW" -d link show dev "$TOPO_WAN_IF" |
		sed -En 's/.*prog\/xdp id ([0-9]+) name ([^ ]+).*/\2 id \1/p' | sed -n 1p)
	xdp+=", $(ip -n "$NS_GW" link show dev "$TOPO_WAN_IF" |
		grep -Eo '\bxdp(generic|drv|offload)?\b' | sed -n 1p |
		sed -E 's/^xdp(drv)?$/native/; s/^xdp(generic|offload)$/\1/') mode"
fi
printf '  %-11s %s\n' "XDP:" "$xdp"
for hook in ingress egress; do
	f=$(tc_ours_on_wan "$hook" | sed -En 's/.*handle (0x[0-9a-f]+) ([^:[:space:]]+):\[([0-9]+)\].*/\2 id \3, handle \1/p' | sed -n 1p)
	printf '  %-11s %s\n' "TC $hook:" "${f:-none}"
done

# Services on the server: TCP greets each client with the address it sees
# and echoes lines; UDP answers each datagram the same way. (Handlers are
# scripts: socat 1.7 strips quotes inside its address arguments.)
cat >"$TOPO_TMP/tcp.sh" <<'EOF_TCP'
#!/bin/sh
echo "server sees you as $SOCAT_PEERADDR:$SOCAT_PEERPORT"
while IFS= read -r l; do printf 'echo: %s\n' "$l"; done
EOF_TCP
cat >"$TOPO_TMP/udp.sh" <<'EOF_UDP'
#!/bin/sh
IFS= read -r l
printf 'server sees you as %s:%s, echo: %s\n' "$SOCAT_PEERADDR" "$SOCAT_PEERPORT" "$l"
EOF_UDP
chmod +x "$TOPO_TMP/tcp.sh" "$TOPO_TMP/udp.sh"
ip netns exec "$NS_WAN" timeout 120 socat TCP4-LISTEN:8080,reuseaddr,fork \
	EXEC:"$TOPO_TMP/tcp.sh" </dev/null >/dev/null 2>&1 &
echo $! >>"$TOPO_TMP/pids"
ip netns exec "$NS_WAN" timeout 120 socat UDP4-RECVFROM:9000,reuseaddr,fork \
	EXEC:"$TOPO_TMP/udp.sh" </dev/null >/dev/null 2>&1 &
echo $! >>"$TOPO_TMP/pids"
for _ in $(seq 1 50); do
	ip netns exec "$NS_WAN" ss -Hltn 'sport = :8080' | grep -q . &&
		ip netns exec "$NS_WAN" ss -Hlun 'sport = :9000' | grep -q . && break
	sleep 0.1
done

for host in lan1 lan2; do
	if [[ $host == lan1 ]]; then ns=$NS_LAN1; else ns=$NS_LAN2; fi
	heading "traffic from $host"
	echo "TCP to $TOPO_WAN_ADDR:8080, source port 40000 on both hosts:"
	printf 'hello over TCP from %s\n' "$host" |
		timeout 10 ip netns exec "$ns" socat -t 2 - \
			TCP4:"$TOPO_WAN_ADDR":8080,sourceport=40000,reuseaddr,connect-timeout=3 |
		sed 's/^/  /'
	echo "UDP to $TOPO_WAN_ADDR:9000:"
	printf 'hello over UDP from %s\n' "$host" |
		timeout 10 ip netns exec "$ns" socat -t 1 - UDP4:"$TOPO_WAN_ADDR":9000 |
		sed 's/^/  /'
	echo "ping $TOPO_WAN_ADDR:"
	timeout 10 ip netns exec "$ns" ping -c 3 -i 0.2 -W 2 "$TOPO_WAN_ADDR" |
		tail -n 2 | sed 's/^/  /'
done

heading "bpfmasq conns: one row per session"
show bmq conns "$TOPO_WAN_IF"

heading "bpfmasq stats"
show bmq stats "$TOPO_WAN_IF"

heading "bpfmasq status"
show bmq status "$TOPO_WAN_IF"

heading "the sessions map, straight from the pin (named fields thanks to BTF)"
# Into a file first: cutting bpftool short would kill it with SIGPIPE.
show bpftool map dump pinned "$BPFMASQ_BPFFS/bpfmasq/$TOPO_WAN_IF/sessions" >"$TOPO_TMP/dump"
lines=$(wc -l <"$TOPO_TMP/dump")
head -n 48 "$TOPO_TMP/dump"
((lines <= 48)) || echo "  ... ($lines lines in all)"
echo "(addresses and ports in network byte order, as the data path keeps them;"
echo " 'bpfmasq conns' decodes them)"

heading "checksums verified by the receivers"
for ns in "$NS_LAN1" "$NS_LAN2" "$NS_WAN"; do
	printf '  %-5s %s checksum errors\n' "${ns##*-}" \
		"$(ip netns exec "$ns" nstat -asz 2>/dev/null | awk '$1 ~ /InCsumErrors$/ { s += $2 } END { print s + 0 }')"
done

heading "detach"
show bmq detach "$TOPO_WAN_IF"
left=()
xdp_on_wan && left+=("XDP program")
[[ -n $(tc_ours_on_wan ingress) ]] && left+=("TC ingress filter")
[[ -n $(tc_ours_on_wan egress) ]] && left+=("TC egress filter")
[[ $clsact_before == no ]] && clsact_on_wan && left+=("clsact qdisc")
[[ -e $BPFMASQ_BPFFS/bpfmasq/$TOPO_WAN_IF ]] && left+=("pins")
if ((${#left[@]})); then
	echo "  still there after detach: ${left[*]}"
else
	echo "  no XDP program, no TC filter (ingress or egress), no clsact qdisc, no pins left on $TOPO_WAN_IF"
fi
heading "done: removing the namespaces"
