#!/bin/sh
# conformance.sh - RFC 8555 §6 and §7, one MUST per row: conformance.py's
# table against Anvil behind lighttpd (FastCGI), its http-01 answered by
# the script itself, the store compared around refused requests as in
# protocol.sh.
. "$(dirname "$0")/lib.sh"
BASEPORT=16000
. "$(dirname "$0")/server.sh"
start_servers

DIR_URL="$DIR_URL" CA_PEM="$CA_PEM" HTTP01_PORT="$HTTP01_PORT" \
    TLSALPN01_PORT="$TLSALPN01_PORT" DNS_PORT="$DNS_PORT" \
    MGMT_PORT="$MGMT_PORT" DATA="$DATA" \
    timeout 120 /usr/bin/python3 "$top_srcdir/tests/integration/conformance.py"
rc=$?
if [ "$rc" -ne 0 ]; then
	fail "conformance.py exited $rc"
	echo "--- lighttpd error.log (last 40 lines)"
	tail -n 40 "$DATA/lighttpd/error.log" 2>/dev/null
fi
finish
