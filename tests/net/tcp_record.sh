#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# tcp_record.sh LOG - socat EXEC handler: records who connected, says nothing.
echo "$SOCAT_PEERADDR:$SOCAT_PEERPORT" >>"$1"
