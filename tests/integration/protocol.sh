#!/bin/sh
# protocol.sh - RFC 8555 conformance of Anvil behind lighttpd (FastCGI),
# driven by protocol.py, a small ACME client that sends deliberately wrong
# requests as well as right ones: directory and nonces, every JWS check,
# accounts, key rollover, orders and identifiers, http-01 (answered by the
# script itself), finalize and CSR checks, certificate download, revocation.
# After each refused request that could have written something it compares
# the store's record files ($DATA/store, read with db5.3_dump from Debian's
# db5.3-util; the checks are skipped without it) before and after.
. "$(dirname "$0")/lib.sh"
BASEPORT=23000
# Directory meta from anvil.conf: protocol.py (test_profiles) expects
# these values.
EXTRA_CONF="[server]
terms_of_service = https://127.0.0.1/terms-v1
website = https://127.0.0.1/about-anvil
caa_identities = anvil.test, ca.anvil.test"
. "$(dirname "$0")/server.sh"
start_servers

DIR_URL="$DIR_URL" CA_PEM="$CA_PEM" HTTP01_PORT="$HTTP01_PORT" \
    TLSALPN01_PORT="$TLSALPN01_PORT" DNS_PORT="$DNS_PORT" \
    MGMT_PORT="$MGMT_PORT" DATA="$DATA" \
    timeout 120 /usr/bin/python3 "$top_srcdir/tests/integration/protocol.py"
rc=$?
if [ "$rc" -ne 0 ]; then
	fail "protocol.py exited $rc"
	echo "--- lighttpd error.log (last 40 lines)"
	tail -n 40 "$DATA/lighttpd/error.log" 2>/dev/null
fi
finish
