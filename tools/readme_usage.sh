#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# tools/readme_usage.sh BPFMASQ [--update] - README.md's usage block is the
# output of `bpfmasq --help`, between the lines
#
#	<!-- usage: the output of bpfmasq help, written by make readme -->
#	```
#	...
#	```
#
# Without --update, exits 1 (showing the difference) when the two disagree;
# with it, rewrites the block (`make readme`).
set -u

bin=$1
readme=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/README.md
marker='<!-- usage: the output of bpfmasq help, written by make readme -->'

help=$("$bin" --help) || {
	echo "readme_usage: '$bin --help' failed" >&2
	exit 1
}
grep -qxF "$marker" "$readme" || {
	echo "readme_usage: no usage marker in $readme" >&2
	exit 1
}
# The README with the block between the marker's fences replaced by $help.
new=$(HELP=$help MARKER=$marker awk '
	!state && $0 == ENVIRON["MARKER"] { print; state = 1; next }
	state == 1 && /^```/ { print; print ENVIRON["HELP"]; state = 2; next }
	state == 2 && /^```/ { print; state = 3; next }
	state == 2 { next }
	{ print }
	END { if (state != 3) exit 1 }
' "$readme") || {
	echo "readme_usage: no \`\`\` block after the usage marker in $readme" >&2
	exit 1
}
if [[ ${2:-} == --update ]]; then
	printf '%s\n' "$new" >"$readme"
	exit 0
fi
if ! diff -u "$readme" <(printf '%s\n' "$new") >&2; then
	echo "readme_usage: README.md's usage differs from 'bpfmasq --help' (above); run 'make readme'" >&2
	exit 1
fi
