#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# tools/bench/bench.sh OUTPUT [--quick] - `make bench`: the same workloads,
# in one run, through a gateway that routes only, masquerades with nft, runs
# bpfmasq (TC and native XDP ingress) or only redirects in XDP (the ceiling).
#
#   lan1 (10.77.1.3-252) --- gw --- wan (203.0.113.2)      (tools/topo.sh)
#
# 64-byte UDP: bmqgen (bench.bpf.c) sends live test-run frames out of an end
# host's veth from CPU 0; the gateway's receive work runs in threaded NAPI
# pinned to CPU 1; XDP sinks on the far end host count and drop what the
# gateway forwarded. A figure is packets per second at the receiver over a
# window, repeated, with the gateway threads' CPU time per packet; sessions
# are set up by a warm-up before any window. Then (not with --quick) a
# million sessions: memory, cost, a collector pass; then bulk TCP with
# iperf3; then prog_bench.
#
# Writes OUTPUT/bench/results.txt (`name value unit` lines) and the table;
# the raw samples are OUTPUT/bench/raw.txt. A benchmark: it asserts nothing
# about the figures, and shares the machine with whatever else runs.
set -uo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(cd "$BENCH_DIR/../.." && pwd)
# shellcheck source=SCRIPTDIR/../topo.sh
source "$REPO_DIR/tools/topo.sh"

OUT=${1:?usage: bench.sh OUTPUT [--quick]}
OUT=$(cd "$OUT" && pwd)
QUICK=0
[[ ${2:-} == --quick ]] && QUICK=1
BMQ=$OUT/bpfmasq
GEN=$OUT/tools/bench/bmqgen
PROG_BENCH=$OUT/prog_bench
RES_DIR=$OUT/bench
RAW=$RES_DIR/raw.txt
RESULTS=$RES_DIR/results.txt

if ((QUICK)); then
	REPS=3 WINDOW_MS=300 WARMUP=1 PROG_RUNS=20000 TCP_SECS=1 CONN_SECS=2
	TCP_OFFLOADS=(on)
else
	REPS=5 WINDOW_MS=1500 WARMUP=2 PROG_RUNS=200000 TCP_SECS=5 CONN_SECS=60
	TCP_OFFLOADS=(on off)
fi

# The gateway's CPU and the generator's: two cores, one each.
GEN_CPU=0
GW_CPU=1

# The workloads' flows. 250 inside hosts from 10.77.1.3, 131 ports each
# (distinct across hosts, so that nft keeps them all and replies can be
# addressed to them; bpfmasq's choice is read from its state), to 2 remote
# ports: 65,500 sessions.
HOST_BASE=10.77.1.3
HOSTS=250
HOST_PORTS=131
PORT_BASE=1024
# One host with every port from 1024 up: 64,512 sessions to one remote port.
ONE_HOST=10.77.1.253
ONE_PORTS=64512
# Each workload its own remote ports, so that nft's state for one does not
# collide with the next's (bpfmasq starts afresh for each, see cfg_flush).
R_1FLOW=9000
R_65K=9001
R_ONE=9003
MAX_SESSIONS=262144
# Scale: the 65k workload's 32,750 mappings to 32 remote ports each,
# 1,048,000 sessions, in a table twice that size (so that the collector's
# room making for a nearly full table stays out of it).
R_1M=9100
SCALE_REMOTES=32
SCALE_MAX=2097152
# Extra options for bpfmasq attach (the scale runs' timeouts).
BMQ_EXTRA=()

log() { echo "bench: $*" >&2; }
die() {
	log "$*"
	exit 1
}

cleanup() {
	local rc=$?
	topo_cleanup
	exit "$rc"
}

# ns_mac NS DEV: DEV's MAC address.
ns_mac() { ip netns exec "$1" cat "/sys/class/net/$2/address"; }

# pin_gw_napi: make the gateway's two interfaces poll in threaded NAPI and
# pin those threads to the gateway's CPU. A veth's peer only takes the
# generator's XDP frames with NAPI on (GRO on), and the NAPI runs where it
# was scheduled, on the generator's CPU, unless it is threaded.
pin_gw_napi() {
	local before after pid dev n=0
	for dev in lan1 "$TOPO_WAN_IF"; do
		ip netns exec "$NS_GW" ethtool -K "$dev" gro on >/dev/null || return 1
	done
	before=$(ps -eo pid=,comm= | awk '$2 ~ /^napi\// { print $1 }' | sort)
	for dev in lan1 "$TOPO_WAN_IF"; do
		ip netns exec "$NS_GW" sh -c "echo 1 >/sys/class/net/$dev/threaded" || return 1
	done
	# The new threads named after our devices (other runs may have
	# devices of the same names: only the ones that just appeared).
	after=$(ps -eo pid=,comm= | awk -v a="lan1" -v b="$TOPO_WAN_IF" \
		'$2 ~ "^napi/(" a "|" b ")-" { print $1 }' | sort)
	GW_TIDS=
	for pid in $(comm -13 <(echo "$before") <(echo "$after")); do
		taskset -p -c "$GW_CPU" "$pid" >/dev/null || return 1
		GW_TIDS+=${GW_TIDS:+,}$pid
		n=$((n + 1))
	done
	((n == 2)) || { log "expected 2 new NAPI threads, found $n"; return 1; }
}

setup() {
	local i mac
	topo_init || die "topo_init"
	trap cleanup EXIT
	trap 'exit 130' INT TERM
	topo_create || die "topo_create"
	# bpfmasq's ports must not overlap the gateway's ip_local_port_range:
	# move that out of the way, so that every port from 1024 can be used,
	# as nft's masquerade does (64,512 flows from one host need them all).
	ip netns exec "$NS_GW" sysctl -qw net.ipv4.ip_unprivileged_port_start=1000 \
		net.ipv4.ip_local_port_range="1000 1023" || die "sysctl"
	pin_gw_napi || die "threaded NAPI"
	# Replies to every inside host: static neighbours, no ARP to fail.
	mac=$(ns_mac "$NS_LAN1" eth0)
	for ((i = 3; i <= 253; i++)); do
		echo "neigh replace 10.77.1.$i lladdr $mac dev lan1"
	done | ip -n "$NS_GW" -batch - || die "neighbours"
	mkdir -p "$BPFMASQ_BPFFS/bench" || die "pin dir"
	ip netns exec "$NS_WAN" "$GEN" sink eth0 "$BPFMASQ_BPFFS/bench/wan" || die "sink on wan"
	ip netns exec "$NS_LAN1" "$GEN" sink eth0 "$BPFMASQ_BPFFS/bench/lan" || die "sink on lan1"
	LAN_MAC=$mac
	WAN_MAC=$(ns_mac "$NS_WAN" eth0)
	GW_LAN_MAC=$(ns_mac "$NS_GW" lan1)
	GW_WAN_MAC=$(ns_mac "$NS_GW" "$TOPO_WAN_IF")
}

# ---- the gateway's configurations ------------------------------------------

CONFIGS=(plain nft bpfmasq_tc bpfmasq_xdp bpfmasq_fast xdp_fwd)

bmq() { timeout 60 ip netns exec "$NS_GW" "$BMQ" "$@" </dev/null; }

cfg_up() {
	case $1 in
	plain)
		# No NAT: the server needs a route back to the inside.
		ip -n "$NS_WAN" route add "$TOPO_INTERNAL" via "$TOPO_WAN_GW"
		;;
	nft)
		ip netns exec "$NS_GW" nft -f - <<-EOF
			table ip bmqbench {
				chain post {
					type nat hook postrouting priority srcnat;
					oifname "$TOPO_WAN_IF" ip saddr $TOPO_INTERNAL masquerade
				}
			}
		EOF
		;;
	bpfmasq_tc | bpfmasq_xdp | bpfmasq_fast)
		local mode=tc
		local -a fast=()
		[[ $1 != bpfmasq_tc ]] && mode=native
		# The fast path on lan1: both ends' sinks run XDP, so their
		# veths take redirected frames.
		[[ $1 == bpfmasq_fast ]] && fast=(--fast-path lan1)
		bmq attach "$TOPO_WAN_IF" --internal "$TOPO_INTERNAL" --mode "$mode" \
			--ports 1024-65535 --max-sessions "$MAX_SESSIONS" "${fast[@]}" \
			"${BMQ_EXTRA[@]}" >/dev/null
		;;
	xdp_fwd)
		ip netns exec "$NS_GW" "$GEN" fwd lan1 "$TOPO_WAN_IF" "$WAN_MAC" &&
			ip netns exec "$NS_GW" "$GEN" fwd "$TOPO_WAN_IF" lan1 "$LAN_MAC"
		;;
	esac
}

cfg_down() {
	case $1 in
	plain) ip -n "$NS_WAN" route del "$TOPO_INTERNAL" via "$TOPO_WAN_GW" ;;
	nft) ip netns exec "$NS_GW" nft delete table ip bmqbench ;;
	bpfmasq_*) bmq detach "$TOPO_WAN_IF" >/dev/null ;;
	xdp_fwd)
		ip -n "$NS_GW" link set dev lan1 xdp off &&
			ip -n "$NS_GW" link set dev "$TOPO_WAN_IF" xdp off
		;;
	esac
}

# cfg_flush CONFIG: a fresh bpfmasq for each workload. Not `bpfmasq flush`:
# that quarantines the released ports (RFC 6888 REQ-8), so the next workload
# would not keep its inside ports, and the replies, addressed to those,
# would find no session. nft's state is kept apart by the remote ports.
cfg_flush() {
	case $1 in
	bpfmasq_*) cfg_down "$1" && cfg_up "$1" ;;
	esac
}

# sessions CONFIG: the translation state's size, for the log.
sessions() {
	case $1 in
	nft) ip netns exec "$NS_GW" cat /proc/sys/net/netfilter/nf_conntrack_count ;;
	bpfmasq_*) bmq status "$TOPO_WAN_IF" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["sessions"])' ;;
	*) echo - ;;
	esac
}

# ---- traffic ----------------------------------------------------------------

# The generator's arguments for one side of a workload: FLOWS is 1flow,
# 65k or one; DIR out (from the inside hosts) or in (the remote's replies).
# Without NAT (plain, xdp_fwd) replies go to the inside addresses.
gen_args() {
	local cfg=$1 flows=$2 dir=$3 nat=1
	[[ $cfg == plain || $cfg == xdp_fwd ]] && nat=0
	local -a f
	case $flows in
	1flow) f=(--hosts 1 --ports 1 --remotes 1 --port-base "$PORT_BASE" --remote-base "$R_1FLOW") ;;
	65k) f=(--hosts "$HOSTS" --ports "$HOST_PORTS" --port-stride "$HOST_PORTS" --remotes 2
		--port-base "$PORT_BASE" --remote-base "$R_65K") ;;
	one) f=(--hosts 1 --ports "$ONE_PORTS" --remotes 1 --port-base "$PORT_BASE" --remote-base "$R_ONE") ;;
	1m) f=(--hosts "$HOSTS" --ports "$HOST_PORTS" --port-stride "$HOST_PORTS" --remotes "$SCALE_REMOTES"
		--port-base "$PORT_BASE" --remote-base "$R_1M") ;;
	esac
	local src=$HOST_BASE
	[[ $flows == one ]] && src=$ONE_HOST
	if [[ $dir == out ]]; then
		echo eth0 "$NS_LAN1" --smac "$LAN_MAC" --dmac "$GW_LAN_MAC" --src "$src" \
			--dst "$TOPO_WAN_ADDR" --vary src "${f[@]}"
	elif ((nat)); then
		# bpfmasq picks external ports at random: replies go to the
		# ones it chose (mapped_ports); nft keeps the inside ports.
		[[ $cfg == bpfmasq_* ]] && f+=(--mapped "$RES_DIR/mapped" --inside "$src")
		echo eth0 "$NS_WAN" --smac "$WAN_MAC" --dmac "$GW_WAN_MAC" --src "$TOPO_WAN_ADDR" \
			--dst "$TOPO_WAN_GW" --vary none --reply "${f[@]}"
	else
		echo eth0 "$NS_WAN" --smac "$WAN_MAC" --dmac "$GW_WAN_MAC" --src "$TOPO_WAN_ADDR" \
			--dst "$src" --vary dst --reply "${f[@]}"
	fi
}

# gen_start SECS CFG FLOWS DIR: a generator in the background, on GEN_CPU,
# for at most SECS seconds; its pid is appended to GEN_PIDS.
GEN_PIDS=()
gen_start() {
	local secs=$1 dev ns
	local -a a
	read -r -a a <<<"$(gen_args "$2" "$3" "$4")"
	dev=${a[0]} ns=${a[1]}
	TOPO_BG_LOG=$RES_DIR/gen.log topo_bg "$ns" taskset -c "$GEN_CPU" \
		"$GEN" send "$dev" "$secs" "${a[@]:2}"
	GEN_PIDS+=("$TOPO_BG_PID")
}

gen_stop() {
	local pid
	for pid in "${GEN_PIDS[@]}"; do
		_topo_kill "$pid"
		wait "$pid" 2>/dev/null
	done
	GEN_PIDS=()
}

# warm_up CFG FLOWS: the workload's flows out, so that every session exists
# before a window starts. The gateway takes a few per cent of what is sent,
# at random, and a new session costs more than an existing one: bpfmasq's
# count of sessions says when every flow got through (bounded).
warm_up() {
	local cfg=$1 flows=$2 rounds=${3:-5} want i n
	case $flows in
	1flow) want=1 ;;
	65k) want=$((HOSTS * HOST_PORTS * 2)) ;;
	one) want=$ONE_PORTS ;;
	1m) want=1000000 ;;
	esac
	for ((i = 0; i < rounds; i++)); do
		gen_start "$WARMUP" "$cfg" "$flows" out
		sleep "$WARMUP"
		gen_stop
		[[ $cfg == bpfmasq_* ]] || return 0
		n=$(sessions "$cfg") || return 0
		((n >= want)) && return 0
	done
	log "$cfg $flows: only $n of $want sessions after the warm-up"
}

# mapped_ports: bpfmasq's external port of each inside address and port,
# for the reply generator (bmqgen send --mapped).
mapped_ports() {
	bmq conns "$TOPO_WAN_IF" --json | python3 -c '
import json, sys
for c in json.load(sys.stdin):
    if c["proto"] == "udp" and c["direction"] == "out":
        a, p = c["inside"].split(":")
        print(a, p, c["outside"].split(":")[1])
' >"$RES_DIR/mapped" || log "cannot read the sessions"
}

# measure WORKLOAD CFG FLOWS DIR...: warm up (the workload's flows out, so
# that every session exists), then the generators of DIR... (out, in, or
# both for a mix) and REPS windows at the sinks that receive them.
measure() {
	local wl=$1 cfg=$2 flows=$3
	shift 3
	cfg_flush "$cfg" || die "$cfg: fresh instance failed"
	warm_up "$cfg" "$flows"
	[[ $cfg == bpfmasq_* && " $* " == *" in "* ]] && mapped_ports
	windows "$wl" "$cfg" "$flows" "$@"
}

# windows WORKLOAD CFG FLOWS DIR...: the measurement itself, on the state
# there is.
windows() {
	local wl=$1 cfg=$2 flows=$3 secs d n pps busy ns lines offered line
	shift 3
	local -a pins=() rows=()
	n=$(sessions "$cfg")
	lines=$(wc -l <"$RES_DIR/gen.log")
	secs=$(((REPS * WINDOW_MS) / 1000 + 3))
	for d; do
		gen_start "$secs" "$cfg" "$flows" "$d"
		[[ $d == out ]] && pins+=("$BPFMASQ_BPFFS/bench/wan")
		[[ $d == in ]] && pins+=("$BPFMASQ_BPFFS/bench/lan")
	done
	sleep 0.3
	while read -r pps busy ns; do
		rows+=("$wl $cfg $pps $busy $ns")
		log "$wl $cfg: $pps pps, CPU $GW_CPU busy $busy, gateway $ns ns/packet, sessions $n"
	done < <("$GEN" rate "$WINDOW_MS" "$REPS" "$GW_TIDS" "${pins[@]}")
	gen_stop
	# What the generators offered, for every window: they print it as
	# they stop (bmqgen send ends on SIGTERM with its count).
	offered=$(tail -n +$((lines + 1)) "$RES_DIR/gen.log" |
		awk '/^sent / { s += $(NF - 1) } END { printf "%.0f", s }')
	log "$wl $cfg: the generators offered $offered pps"
	for line in "${rows[@]}"; do
		echo "$line $offered" >>"$RAW"
	done
}

WORKLOADS=(
	"udp_1flow_out 1flow out"
	"udp_65k_out 65k out"
	"udp_64k_1host_out one out"
	"udp_1flow_reply 1flow in"
	"udp_65k_reply 65k in"
	"udp_65k_mix 65k out in"
)
# The short profile: one of each kind.
((QUICK)) && WORKLOADS=("${WORKLOADS[1]}" "${WORKLOADS[2]}" "${WORKLOADS[4]}" "${WORKLOADS[5]}")

run_udp() {
	local cfg w
	for cfg in "${CONFIGS[@]}"; do
		cfg_up "$cfg" || die "$cfg: setup failed"
		for w in "${WORKLOADS[@]}"; do
			# shellcheck disable=SC2086 # a workload is words
			measure ${w%% *} "$cfg" ${w#* }
		done
		cfg_down "$cfg" || die "$cfg: teardown failed"
	done
}

# ---- bulk TCP ----------------------------------------------------------------

# softirq_jiffies N: CPU N's softirq time so far (USER_HZ, 100 a second).
softirq_jiffies() { awk -v c="cpu$1" '$1 == c { print $8; exit }' /proc/stat; }

# tcp_setup: the gateway's receive work in the softirq of its own CPU. The
# veth hands TSO packets to the peer's backlog on the sending CPU (not to
# NAPI, even with GRO on), so GRO goes off and RPS moves the gateway's
# backlog to its CPU, the end hosts' to the other one; softirq time on the
# gateway's CPU is meant to be the gateway's; it also holds whatever
# softirq other work on the machine raises there, and with bpfmasq's XDP
# on the WAN veth that side polls in a NAPI thread (system time), so the
# figure is rough. The sinks go: XDP on a veth takes its peer's GSO away.
tcp_setup() {
	local dev ns
	for ns in "$NS_WAN" "$NS_LAN1"; do
		ip -n "$ns" link set dev eth0 xdp off || return 1
		ip netns exec "$ns" sh -c "echo $((1 << GEN_CPU)) >/sys/class/net/eth0/queues/rx-0/rps_cpus" ||
			return 1
	done
	for dev in lan1 "$TOPO_WAN_IF"; do
		ip netns exec "$NS_GW" ethtool -K "$dev" gro off >/dev/null || return 1
		ip netns exec "$NS_GW" sh -c "echo $((1 << GW_CPU)) >/sys/class/net/$dev/queues/rx-0/rps_cpus" ||
			return 1
	done
}

# tcp_offload on|off: the end hosts' and the gateway's TX checksum offload,
# and with it TSO/GSO. The gateway's GRO stays on: without it the gateway's
# receive work would run on the sender's CPU (see pin_gw_napi).
tcp_offload() {
	topo_offload "$1" && topo_gw_offload "$1"
}

# tcp_bulk CFG STREAMS OFFLOAD: iperf3 from lan1 to the server for
# TCP_SECS, both pinned to the generator's CPU; the gateway's work is in
# softirq on the other (tcp_setup). Records Gbit/s and that softirq time
# per Gbit.
tcp_bulk() {
	local cfg=$1 p=$2 off=$3 json bps j0 j1 port=5201
	TOPO_BG_LOG=$RES_DIR/iperf3.log topo_bg "$NS_WAN" timeout $((TCP_SECS + 15)) taskset -c "$GEN_CPU" iperf3 -s -1 -p "$port"
	local srv=$TOPO_BG_PID
	sleep 0.3
	j0=$(softirq_jiffies "$GW_CPU")
	json=$(timeout $((TCP_SECS + 10)) ip netns exec "$NS_LAN1" taskset -c "$GEN_CPU" \
		iperf3 -c "$TOPO_WAN_ADDR" -p "$port" -t "$TCP_SECS" -P "$p" -J 2>/dev/null)
	j1=$(softirq_jiffies "$GW_CPU")
	wait "$srv" 2>/dev/null
	bps=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"])' <<<"$json" 2>/dev/null) ||
		{ log "tcp $cfg P$p offload $off: iperf3 failed"; return 0; }
	# The CPU time is over the whole client run (a little more than
	# TCP_SECS), the bits over TCP_SECS: a slight overestimate, alike for all.
	python3 - "$cfg" "$p" "$off" "$bps" "$TCP_SECS" $((j1 - j0)) >>"$RES_DIR/tcp.txt" <<-'EOF'
		import sys
		cfg, p, off, bps, secs, jiffies = sys.argv[1:]
		gbit = float(bps) * float(secs) / 1e9
		print("tcp_bulk_P%s_offload_%s %s %.3f %.4f" % (p, off, cfg, float(bps) / 1e9,
		      int(jiffies) / 100 / gbit))
	EOF
	log "tcp P$p offload $off $cfg: $(tail -n 1 "$RES_DIR/tcp.txt" | cut -d' ' -f3-) (Gbit/s, gateway CPU s/Gbit)"
}

# tcp_conns CFG: new TCP connections for CONN_SECS, one after the other
# from lan1 and from lan2 at once (connrate.py; the server closes first, so
# no client runs out of ports in TIME_WAIT), the end hosts on the
# generator's CPU, which they saturate. Records connections a second, those
# lost (failed, or over a second), and the gateway CPU's softirq time per
# thousand (rough, as for bulk TCP). Each configuration its own server
# port: the server keeps every connection in TIME_WAIT for a minute, and a
# SYN from a NAT's port that the previous configuration used for another
# inside host (whose timestamps run on another clock) fails the server's
# PAWS check and waits for its retransmission (TcpExtPAWSTimewait).
tcp_conns() {
	local cfg=$1 port=8300 j0 j1 ns out ok=0 lost=0 o l c
	local -a pids=()
	for c in "${CONFIGS[@]}"; do
		[[ $c == "$cfg" ]] && break
		port=$((port + 1))
	done
	topo_bg "$NS_WAN" timeout $((CONN_SECS + 10)) taskset -c "$GEN_CPU" \
		python3 "$BENCH_DIR/connrate.py" serve "$port" $((CONN_SECS + 3))
	sleep 0.5
	j0=$(softirq_jiffies "$GW_CPU")
	for ns in "$NS_LAN1" "$NS_LAN2"; do
		ip netns exec "$ns" timeout $((CONN_SECS + 10)) taskset -c "$GEN_CPU" \
			python3 "$BENCH_DIR/connrate.py" connect "$TOPO_WAN_ADDR" "$port" \
			"$CONN_SECS" >"$RES_DIR/conns.$cfg.${ns##*-}" &
		pids+=($!)
	done
	wait "${pids[@]}"
	j1=$(softirq_jiffies "$GW_CPU")
	for ns in "$NS_LAN1" "$NS_LAN2"; do
		read -r _ o _ l <"$RES_DIR/conns.$cfg.${ns##*-}" || continue
		ok=$((ok + o)) lost=$((lost + l))
	done
	# Connections a second, lost, and ms of softirq per thousand.
	out=$(awk -v ok="$ok" -v lost="$lost" -v secs="$CONN_SECS" -v j=$((j1 - j0)) \
		'BEGIN { printf "%.0f %d %.3f", ok / secs, lost, ok ? j / 100 * 1e6 / ok : 0 }')
	echo "tcp_conns $cfg $out" >>"$RES_DIR/conns.txt"
	log "tcp connections $cfg: $ok made, $lost lost in ${CONN_SECS}s"
}

run_tcp() {
	local cfg off p
	tcp_setup || return 1
	for cfg in plain nft bpfmasq_tc bpfmasq_xdp; do
		cfg_up "$cfg" || die "$cfg: setup failed"
		for off in "${TCP_OFFLOADS[@]}"; do
			tcp_offload "$off" || die "offload $off"
			for p in 1 4; do
				cfg_flush "$cfg" || die "$cfg: fresh instance failed"
				tcp_bulk "$cfg" "$p" "$off"
			done
		done
		tcp_offload on || die "offload on"
		cfg_flush "$cfg" || die "$cfg: fresh instance failed"
		tcp_conns "$cfg"
		cfg_down "$cfg" || die "$cfg: teardown failed"
	done
}

# ---- scale -------------------------------------------------------------------

# memlock: bytes of memory charged to bpfmasq's pinned maps (bpftool's
# bytes_memlock, which for the preallocated tables is their full size).
memlock() {
	local f
	find "$BPFMASQ_BPFFS/bpfmasq/$TOPO_WAN_IF" -type f 2>/dev/null | while read -r f; do
		bpftool -j map show pinned "$f" 2>/dev/null
		echo
	done | python3 -c '
import json, sys
print(sum(json.loads(l).get("bytes_memlock", 0) for l in sys.stdin if l.strip()))'
}

# scale NAME VALUE UNIT: one result line of the scale runs.
scale() {
	echo "$1 $2 $3" >>"$RES_DIR/scale.txt"
	log "scale: $*"
}

# now_ns: a monotonic clock for timing one command.
now_ns() { date +%s%N; }

# run_scale: memory per session at two table sizes, 1,048,000 live
# sessions, the data path's cost with them (udp_1m_out), and one collector
# pass over them live and once they have all expired.
run_scale() {
	local cfg=bpfmasq_tc small big n t0 t1
	MAX_SESSIONS=65536 cfg_up "$cfg" || die "scale: attach"
	small=$(memlock)
	cfg_down "$cfg" || die "scale: detach"
	MAX_SESSIONS=$SCALE_MAX cfg_up "$cfg" || die "scale: attach"
	big=$(memlock)
	scale scale.memlock_65536 "$small" bytes
	scale scale.memlock_per_session_65536 $((small / 65536)) bytes
	scale "scale.memlock_$SCALE_MAX" "$big" bytes
	scale "scale.memlock_per_session_$SCALE_MAX" $((big / SCALE_MAX)) bytes
	scale scale.memlock_per_added_session $(((big - small) / (SCALE_MAX - 65536))) bytes
	# Many rounds: a million new sessions, of which the gateway takes a
	# few per cent of what is sent, at random.
	WARMUP=3 warm_up "$cfg" 1m 12
	n=$(sessions "$cfg")
	scale scale.sessions_live "$n" sessions
	MAX_SESSIONS=$SCALE_MAX windows udp_1m_out "$cfg" 1m out
	t0=$(now_ns)
	bmq gc "$TOPO_WAN_IF" >"$RES_DIR/gc_live.txt" || log "gc failed"
	t1=$(now_ns)
	scale scale.gc_pass_live $(((t1 - t0) / 1000000)) ms
	scale scale.sessions_after_gc_live "$(sessions "$cfg")" sessions
	# The same instance with a 1 s UDP timeout (attach updates in place):
	# every session has expired.
	BMQ_EXTRA=(--timeout-udp 1)
	MAX_SESSIONS=$SCALE_MAX cfg_up "$cfg" || die "scale: timeout"
	BMQ_EXTRA=()
	sleep 2
	t0=$(now_ns)
	bmq gc "$TOPO_WAN_IF" >"$RES_DIR/gc_expired.txt" || log "gc failed"
	t1=$(now_ns)
	scale scale.gc_pass_expired $(((t1 - t0) / 1000000)) ms
	scale scale.sessions_after_gc_expired "$(sessions "$cfg")" sessions
	cfg_down "$cfg" || die "scale: detach"
}

run_prog_bench() {
	log "prog_bench $PROG_RUNS"
	"$PROG_BENCH" "$PROG_RUNS" >"$RES_DIR/prog_bench.txt" || log "prog_bench failed"
}

main() {
	[[ $(id -u) == 0 ]] || die "run as root (sudo make bench)"
	[[ -x $GEN && -x $BMQ && -x $PROG_BENCH ]] || die "build first (make bench builds)"
	command -v nft >/dev/null || die "nft is not installed (package nftables)"
	mkdir -p "$RES_DIR" || die "$RES_DIR"
	: >"$RAW"
	: >"$RES_DIR/gen.log"
	: >"$RES_DIR/tcp.txt"
	: >"$RES_DIR/conns.txt"
	: >"$RES_DIR/iperf3.log"
	: >"$RES_DIR/scale.txt"
	setup
	log "$( ((QUICK)) && echo quick: )$REPS windows of $WINDOW_MS ms after a ${WARMUP}s warm-up; generator on CPU $GEN_CPU, gateway on CPU $GW_CPU"
	run_udp
	log "64-byte UDP done at ${SECONDS}s"
	# The fill alone takes longer than the short profile.
	if ((!QUICK)); then
		run_scale
		log "scale done at ${SECONDS}s"
	fi
	# Last: it takes the generator's path away (tcp_setup).
	run_tcp || die "bulk TCP"
	log "bulk TCP done at ${SECONDS}s"
	run_prog_bench
	if ! python3 "$BENCH_DIR/report.py" "$RAW" "$RES_DIR/prog_bench.txt" \
		"$RES_DIR/tcp.txt" "$RES_DIR/scale.txt" "$RES_DIR/conns.txt" \
		>"$RESULTS.tmp"; then
		die "report"
	fi
	mv "$RESULTS.tmp" "$RESULTS" || die "$RESULTS"
	cat "$RESULTS"
	log "results in $RESULTS"
}

[[ ${BASH_SOURCE[0]} == "$0" ]] && main
