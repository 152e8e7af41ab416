#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# tests/run.sh BUILD_DIR - what `make test` runs (as root).
#
#   1. BUILD_DIR/prog_test: the BPF program tests (BPF_PROG_TEST_RUN on
#      hand-built packets); prints "PASS name" / "FAIL name" lines and
#      "N passed, N failed".
#   2. tests/net/run.sh BUILD_DIR: the network scenarios, same format,
#      side by side with 1 (whose output is shown after theirs).
#
# Adds the counts up and ends with exactly one line "N passed, N failed";
# exit status 1 if anything failed. A suite that is missing, crashes or
# prints no summary counts as one failure, so it can never pass silently.
#
# Environment: PROG_TEST_TIMEOUT (s, default 900), NET_TESTS_TIMEOUT (s,
# default 1500) bound each suite; NET_VERBOSE=1 shows every scenario's log;
# TEST_NET_PATTERN selects network scenarios (globs, e.g. 'tcp_*' or '*.xdp*').
set -u

if [[ $# -ne 1 ]]; then
	echo "usage: $0 BUILD_DIR" >&2
	exit 2
fi
build=$1
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

if [[ $(id -u) != 0 ]]; then
	echo "tests/run.sh: the tests need root (network namespaces, BPF programs, bpffs)." >&2
	echo "Run: sudo make test" >&2
	exit 1
fi

passed=0
failed=0
tmp=$(mktemp -d /tmp/bpfmasq-tests.XXXXXX)
trap 'rm -rf -- "$tmp"' EXIT
# A background job ignores SIGINT: a signal is passed on to each suite,
# which cleans up after itself.
stop_suites() {
	local f
	for f in "$tmp"/*.pid; do
		[[ -e $f ]] && kill -TERM "$(cat "$f")" 2>/dev/null
	done
	wait
	exit "$1"
}
trap 'stop_suites 130' INT
trap 'stop_suites 143' TERM

summary_re='^([0-9]+) passed, ([0-9]+) failed$'

# suite_run NAME TIMEOUT CMD...: run one suite, its output into
# $tmp/NAME.out (and shown as it comes with SHOW=1, its own summary line
# relabelled "NAME: ..." so that the last line of this script is the only
# bare summary); its exit status into $tmp/NAME.rc.
suite_run() {
	local name=$1 limit=$2 out=$tmp/$1.out pid
	shift 2
	timeout -k 10 "$limit" "$@" </dev/null >"$out" 2>&1 &
	pid=$!
	echo "$pid" >"$tmp/$name.pid"
	if [[ ${SHOW:-0} == 1 ]]; then
		tail -n +1 --pid="$pid" -f "$out" |
			sed -u -E "s/$summary_re/$name: \\1 passed, \\2 failed/"
	fi
	wait "$pid"
	echo $? >"$tmp/$name.rc"
	rm -f -- "$tmp/$name.pid"
}

# suite_count NAME LIMIT: add the counts of a suite that has run (its
# output shown first unless it was shown as it came, with SHOW=1).
suite_count() {
	local name=$1 limit=$2 out=$tmp/$1.out rc p f line
	rc=$(cat "$tmp/$name.rc" 2>/dev/null || echo 1)
	line=$(grep -E "$summary_re" "$out" | tail -n 1)
	if [[ -z $line ]]; then
		# No summary: count what it did report, plus the crash itself.
		p=$(grep -c '^PASS ' "$out")
		f=$(grep -c '^FAIL ' "$out")
		echo "FAIL $name (exit status $rc, no summary line)"
		f=$((f + 1))
	else
		[[ $line =~ $summary_re ]]
		p=${BASH_REMATCH[1]}
		f=${BASH_REMATCH[2]}
		if [[ $rc != 0 && $f == 0 ]]; then
			echo "FAIL $name (exit status $rc despite no failed test)"
			f=1
		fi
	fi
	[[ $rc == 124 || $rc == 137 ]] && echo "FAIL $name: timed out after ${limit}s"
	passed=$((passed + p))
	failed=$((failed + f))
}

# The two suites run side by side: the program tests keep one CPU busy
# in the verifier, the network scenarios mostly wait.
echo "== prog_test (beside the network scenarios; its output follows theirs)"
if [[ -x $build/prog_test ]]; then
	suite_run prog_test "${PROG_TEST_TIMEOUT:-900}" "$build/prog_test" &
	prog_pid=$!
else
	echo "FAIL prog_test ($build/prog_test is missing: run make first)"
	failed=$((failed + 1))
	prog_pid=
fi

echo "== net"
if [[ -x $build/bpfmasq ]]; then
	# Split on blanks without glob expansion.
	read -r -a pats <<<"${TEST_NET_PATTERN:-}"
	SHOW=1 suite_run net "${NET_TESTS_TIMEOUT:-1500}" "$here/net/run.sh" "$build" "${pats[@]}"
	suite_count net "${NET_TESTS_TIMEOUT:-1500}"
else
	echo "FAIL net ($build/bpfmasq is missing: run make first)"
	failed=$((failed + 1))
fi

if [[ -n $prog_pid ]]; then
	wait "$prog_pid"
	echo "== prog_test"
	sed -E "s/$summary_re/prog_test: \\1 passed, \\2 failed/" "$tmp/prog_test.out"
	suite_count prog_test "${PROG_TEST_TIMEOUT:-900}"
fi

echo "$passed passed, $failed failed"
[[ $failed == 0 ]]
