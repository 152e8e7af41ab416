#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# tests/run.sh BUILD_DIR - what `make test` runs (as root).
#
#   1. BUILD_DIR/prog_test: the BPF program tests (BPF_PROG_TEST_RUN on
#      hand-built packets); prints "PASS name" / "FAIL name" lines and
#      "N passed, N failed".
#   2. tests/net/run.sh BUILD_DIR: the network scenarios, same format.
#
# Adds the counts up and ends with exactly one line "N passed, N failed";
# exit status 1 if anything failed. A suite that is missing, crashes or
# prints no summary counts as one failure, so it can never pass silently.
#
# Environment: PROG_TEST_TIMEOUT (s, default 600), NET_TESTS_TIMEOUT (s,
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
trap 'exit 130' INT
trap 'exit 143' TERM

summary_re='^([0-9]+) passed, ([0-9]+) failed$'

# run_suite NAME TIMEOUT CMD...: run one suite, its output shown as it comes
# (its own summary line relabelled "NAME: ..." so that the last line of
# this script is the only bare summary), and add its counts.
run_suite() {
	local name=$1 limit=$2 out=$tmp/$1.out rc p f line
	shift 2
	echo "== $name"
	# --foreground: a Ctrl-C reaches the suite, which cleans up after itself.
	timeout --foreground -k 10 "$limit" "$@" </dev/null 2>&1 | tee "$out" |
		sed -E "s/$summary_re/$name: \\1 passed, \\2 failed/"
	rc=${PIPESTATUS[0]}
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

if [[ -x $build/prog_test ]]; then
	run_suite prog_test "${PROG_TEST_TIMEOUT:-600}" "$build/prog_test"
else
	echo "== prog_test"
	echo "FAIL prog_test ($build/prog_test is missing: run make first)"
	failed=$((failed + 1))
fi

if [[ -x $build/bpfmasq ]]; then
	# Split on blanks without glob expansion.
	read -r -a pats <<<"${TEST_NET_PATTERN:-}"
	run_suite net "${NET_TESTS_TIMEOUT:-1500}" "$here/net/run.sh" "$build" "${pats[@]}"
else
	echo "== net"
	echo "FAIL net ($build/bpfmasq is missing: run make first)"
	failed=$((failed + 1))
fi

echo "$passed passed, $failed failed"
[[ $failed == 0 ]]
