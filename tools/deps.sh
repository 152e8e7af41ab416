#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# tools/deps.sh GROUP... - install the Debian packages of these groups of
# tools/packages.txt (build, test, lint) that are missing.
# tools/deps.sh --list GROUP... - print them, one a line, and do nothing.
#
# A no-op, and quiet, when everything is installed; otherwise it runs
# apt-get update and apt-get install for the missing packages only, as root
# (not as root, it names them and fails). The Makefile's deps stamps and
# .ci/run call it.
set -euo pipefail

list=$(dirname "${BASH_SOURCE[0]}")/packages.txt
groups=(build test lint)

usage() {
	echo "usage: $0 [--list] GROUP... (groups: ${groups[*]})" >&2
	exit 2
}

only_list=0
if [[ ${1:-} == --list ]]; then
	only_list=1
	shift
fi
[[ $# -ge 1 ]] || usage
for g; do
	[[ " ${groups[*]} " == *" $g "* ]] || usage
done

if ! command -v dpkg-query >/dev/null; then
	echo "$0: not a Debian system: install the packages of $list (groups: $*) yourself" >&2
	exit 0
fi
arch=$(dpkg --print-architecture)

# The packages of the groups asked for, on this architecture.
pkgs=()
while read -r group pkg archs; do
	[[ -n $group && $group != '#'* ]] || continue
	[[ " $* " == *" $group "* ]] || continue
	archs=${archs%%#*}
	if [[ -n ${archs//[[:space:]]/} && " $archs " != *" $arch "* ]]; then
		continue
	fi
	pkgs+=("$pkg")
done <"$list"

if ((only_list)); then
	printf '%s\n' "${pkgs[@]}"
	exit 0
fi

# One dpkg-query for all; it fails when it knows some of them not at all.
installed=" $({ dpkg-query -W -f='${Package} ${db:Status-Status}\n' "${pkgs[@]}" 2>/dev/null || true; } |
	awk '$2 == "installed" { printf "%s ", $1 }')"
missing=()
for p in "${pkgs[@]}"; do
	[[ $installed == *" $p "* ]] || missing+=("$p")
done
((${#missing[@]})) || exit 0

if [[ $(id -u) != 0 ]]; then
	echo "$0: missing Debian packages ($*): ${missing[*]}" >&2
	echo "run as root, or: sudo apt-get install ${missing[*]}" >&2
	exit 1
fi

echo "installing the missing packages ($*): ${missing[*]}"
# One installer at a time (make -j may start several).
exec 9<"$list"
flock 9
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends "${missing[@]}"
