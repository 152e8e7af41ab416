#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# tcp_echo.sh [LOG] - socat EXEC handler of the tests' TCP service: greets the
# client with the address socat accepted it from (what the NAT made of it),
# records that in LOG, then echoes every line back as "echo LINE".
# A script rather than an inline SYSTEM: string, because socat 1.7 strips
# quotes from its address arguments.
echo "peer $SOCAT_PEERADDR:$SOCAT_PEERPORT"
if [ -n "${1:-}" ]; then
	echo "$SOCAT_PEERADDR:$SOCAT_PEERPORT" >>"$1"
fi
while IFS= read -r l; do
	printf 'echo %s\n' "$l"
done
