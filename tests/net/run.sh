#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# tests/net/run.sh BUILD_DIR [PATTERN...]
#
# Runs the network scenarios (tests/net/t_*.sh), each in a topology of its
# own and in a process of its own under `timeout`, NET_JOBS at a time
# (default: CPUs + 1; those registered with net_test_alone alone), and
# prints "PASS name (Ns)" / "FAIL name (Ns)" per scenario as each ends and
# "N passed, N failed" at the end. PATTERNs
# (bash globs) select scenarios by name, e.g. 'tcp_basic*' or '*.xdp*'
# (scenarios that run in both ingress modes are named NAME.tc[.VARIANT]
# and NAME.xdp[.VARIANT]).
# NET_VERBOSE=1 prints every scenario's log, not only the failed ones'.
#
# After a scenario, `bpfmasq check --pools` runs on every instance still
# attached (check_attached in lib.sh); a violation fails the scenario.
# Each scenario's topology is torn down by the scenario process's EXIT trap,
# and again by this runner afterwards (the names are known in advance), so
# nothing is left behind even when a scenario hangs and has to be killed.
set -u

NET_TEST_TIMEOUT=${NET_TEST_TIMEOUT:-90}

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=SCRIPTDIR/lib.sh
source "$here/lib.sh"
for f in "$here"/t_*.sh; do
	# shellcheck source=/dev/null
	source "$f"
done
# All of them share one shell: a function defined twice would silently
# replace the first one's.
dup_fns=$(grep -ho '^[a-zA-Z_][a-zA-Z0-9_]*()' "$here"/lib.sh "$here"/t_*.sh \
	"$REPO_DIR/tools/topo.sh" | sort | uniq -d)
if [[ -n $dup_fns ]]; then
	echo "tests/net: functions defined in more than one file: $dup_fns" >&2
	exit 2
fi

if [[ $# -lt 1 ]]; then
	echo "usage: $0 BUILD_DIR [PATTERN...]" >&2
	exit 2
fi
BPFMASQ_BIN=$(realpath -m "$1/bpfmasq")
export BPFMASQ_BIN
shift

# ---- one scenario, in this process (internal) ------------------------------
if [[ ${1:-} == --one ]]; then
	name=$2
	for entry in "${NET_TESTS[@]}"; do
		read -r -a words <<<"$entry"
		[[ ${words[0]} == "$name" ]] || continue
		trap topo_cleanup EXIT
		# A signal ends the scenario; the EXIT trap still cleans up.
		trap 'exit 143' TERM
		trap 'exit 130' INT
		topo_init || exit 1
		topo_create || {
			echo "    FAIL: could not build the topology"
			exit 1
		}
		"${words[@]:1}"
		rc=$?
		# Whatever the scenario left attached must be consistent.
		check_attached || rc=1
		exit $rc
	done
	echo "no such scenario: $name" >&2
	exit 1
fi

# ---- the runner ------------------------------------------------------------
if [[ $(id -u) != 0 ]]; then
	echo "tests/net/run.sh: network tests need root (namespaces, BPF)" >&2
	exit 2
fi

selected() {
	local p
	[[ $# -eq 1 ]] && return 0
	for p in "${@:2}"; do
		# shellcheck disable=SC2053
		[[ $1 == $p ]] && return 0
	done
	return 1
}

# Scenarios spend most of their time waiting (for a timeout, a GC pass, a
# reply), so NET_JOBS of them run at once, each in its own namespaces and
# bpffs; those registered with net_test_alone (CPU-bound, or measuring
# rates) run with nothing beside them.
NET_JOBS=${NET_JOBS:-$(($(nproc) + 1))}
[[ $NET_JOBS =~ ^[1-9][0-9]*$ ]] || {
	echo "tests/net/run.sh: NET_JOBS must be a positive number, not '$NET_JOBS'" >&2
	exit 2
}

logdir=$(mktemp -d /tmp/bpfmasq-netlog.XXXXXX)
# Per running scenario, by the pid of its process.
declare -A job_name=() job_prefix=() job_tmp=() job_start=()

# sweep PID: remove what the scenario run by PID may have left.
sweep() {
	(TOPO_PREFIX=${job_prefix[$1]} TOPO_TMP=${job_tmp[$1]} topo_cleanup)
	unset "job_name[$1]" "job_prefix[$1]" "job_tmp[$1]" "job_start[$1]"
}

on_signal() {
	local pid
	for pid in "${!job_name[@]}"; do
		kill -TERM "$pid" 2>/dev/null
	done
	for pid in "${!job_name[@]}"; do
		wait "$pid" 2>/dev/null
		sweep "$pid"
	done
	rm -rf -- "$logdir"
	echo "interrupted" >&2
	exit 130
}
trap on_signal INT TERM

passed=0
failed=0
n=0

# start NAME: run one scenario in the background, under `timeout`.
start() {
	local name=$1 pid tmp
	n=$((n + 1))
	tmp=$(mktemp -d /tmp/bpfmasq-topo.XXXXXX)
	TOPO_PREFIX=bmq$$t$n TOPO_TMP=$tmp \
		timeout -k 10 "$NET_TEST_TIMEOUT" "$0" "${BPFMASQ_BIN%/bpfmasq}" --one "$name" \
		>"$logdir/$name.log" 2>&1 </dev/null &
	pid=$!
	job_name[$pid]=$name
	job_prefix[$pid]=bmq$$t$n
	job_tmp[$pid]=$tmp
	job_start[$pid]=$SECONDS
}

# reap: wait for any one running scenario, clean up after it and report.
reap() {
	local pid rc name log secs
	wait -n -p pid "${!job_name[@]}"
	rc=$?
	name=${job_name[$pid]}
	log=$logdir/$name.log
	secs=$((SECONDS - job_start[$pid]))
	sweep "$pid"
	[[ $rc == 124 || $rc == 137 ]] && echo "    FAIL: timed out after ${NET_TEST_TIMEOUT}s" >>"$log"
	if [[ $rc == 0 ]]; then
		passed=$((passed + 1))
		echo "PASS net.$name (${secs}s)"
		[[ ${NET_VERBOSE:-0} == 1 ]] && sed 's/^/  /' "$log"
	else
		failed=$((failed + 1))
		echo "FAIL net.$name (${secs}s)"
		sed 's/^/  /' "$log"
	fi
}

for entry in "${NET_TESTS[@]}"; do
	read -r -a words <<<"$entry"
	name=${words[0]}
	selected "$name" "$@" || continue
	if [[ -n ${NET_ALONE[$name]:-} ]]; then
		while ((${#job_name[@]} > 0)); do reap; done
		start "$name"
		reap
		continue
	fi
	while ((${#job_name[@]} >= NET_JOBS)); do reap; done
	start "$name"
done
while ((${#job_name[@]} > 0)); do reap; done
rm -rf -- "$logdir"
echo "$passed passed, $failed failed"
[[ $failed == 0 ]]
