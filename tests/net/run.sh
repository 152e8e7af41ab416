#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# tests/net/run.sh BUILD_DIR [PATTERN...]
#
# Runs the network scenarios (tests/net/t_*.sh), each in a topology of its
# own and in a process of its own under `timeout`, and prints "PASS name" /
# "FAIL name" per scenario and "N passed, N failed" at the end. PATTERNs
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

logdir=$(mktemp -d /tmp/bpfmasq-netlog.XXXXXX)
child=
cur_prefix=
cur_tmp=

sweep() {
	[[ -n $cur_prefix ]] || return 0
	(TOPO_PREFIX=$cur_prefix TOPO_TMP=$cur_tmp topo_cleanup)
	cur_prefix=
}

on_signal() {
	[[ -n $child ]] && kill -TERM "$child" 2>/dev/null && wait "$child" 2>/dev/null
	sweep
	rm -rf -- "$logdir"
	echo "interrupted" >&2
	exit 130
}
trap on_signal INT TERM

passed=0
failed=0
n=0
for entry in "${NET_TESTS[@]}"; do
	read -r -a words <<<"$entry"
	name=${words[0]}
	selected "$name" "$@" || continue
	n=$((n + 1))
	cur_prefix=bmq$$t$n
	cur_tmp=$(mktemp -d /tmp/bpfmasq-topo.XXXXXX)
	log=$logdir/$name.log
	start=$SECONDS
	# In the background and waited for, so that a signal reaches on_signal
	# at once instead of after the scenario.
	TOPO_PREFIX=$cur_prefix TOPO_TMP=$cur_tmp \
		timeout -k 10 "$NET_TEST_TIMEOUT" "$0" "${BPFMASQ_BIN%/bpfmasq}" --one "$name" \
		>"$log" 2>&1 </dev/null &
	child=$!
	wait "$child"
	rc=$?
	child=
	sweep
	[[ $rc == 124 || $rc == 137 ]] && echo "    FAIL: timed out after ${NET_TEST_TIMEOUT}s" >>"$log"
	if [[ $rc == 0 ]]; then
		passed=$((passed + 1))
		echo "PASS net.$name ($((SECONDS - start))s)"
		[[ ${NET_VERBOSE:-0} == 1 ]] && sed 's/^/  /' "$log"
	else
		failed=$((failed + 1))
		echo "FAIL net.$name ($((SECONDS - start))s)"
		sed 's/^/  /' "$log"
	fi
done
rm -rf -- "$logdir"
echo "$passed passed, $failed failed"
[[ $failed == 0 ]]
