#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# udp_echo.sh - socat UDP4-RECVFROM,fork handler: answers the one datagram
# it is given with "peer ADDR:PORT LINE", the source socat received it from.
IFS= read -r l
printf 'peer %s:%s %s\n' "$SOCAT_PEERADDR" "$SOCAT_PEERPORT" "$l"
