#!/bin/sh
# races.sh - concurrency on one store behind lighttpd (FastCGI), driven by
# races.py: one nonce sent by 16 clients at the same instant (exactly one
# accepted), two finalize requests for one order at the same instant
# (exactly one certificate), then 20 s of mixed load: 4 threads of full
# issuance flows through the FastCGI workers, the anvil program run as a
# CGI, anvil-crl (and anvil-admin sweep when it exists) in parallel; no
# hang, no 5xx, no lost or duplicated certificate, CRL numbers increase.
# The store is read with db5.3_dump (Debian: db5.3-util). Figures are the
# "figure:" lines (tests/RELIABILITY.md).
. "$(dirname "$0")/lib.sh"
BASEPORT=32000
. "$(dirname "$0")/server.sh"
command -v db5.3_dump >/dev/null || { echo "SKIP: db5.3_dump missing"; exit 77; }
ANVIL_WEB=lighttpd-fcgi
start_servers

DIR_URL="$DIR_URL" CA_PEM="$CA_PEM" HTTP01_PORT="$HTTP01_PORT" DATA="$DATA" \
    CONF="$CONF" ANVIL="$top_builddir/anvil" ANVIL_CRL="$top_builddir/anvil-crl" \
    ANVIL_ADMIN="$ADMIN" \
    timeout 300 /usr/bin/python3 "$top_srcdir/tests/integration/races.py"
rc=$?
if [ "$rc" -ne 0 ]; then
	fail "races.py exited $rc"
	echo "--- lighttpd error.log (last 40 lines)"
	tail -n 40 "$DATA/lighttpd/error.log" 2>/dev/null
fi
expect_exit 0 "the store opens after the races (anvil-crl)" \
    "$top_builddir/anvil-crl" --config "$CONF" --out "$T/crl-after"
finish
