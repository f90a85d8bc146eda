#!/bin/sh
# crash.sh - SIGKILL of anvil FastCGI workers at random moments of full
# issuance flows (crash.py: 25 kills within 60 s, 4 client threads that
# retry): afterwards every order is consistent with the certificates, every
# certificate a client received is in the store, a final flow succeeds and
# the store opens (anvil-crl while serving; anvil-admin init once the
# server is stopped). Figures are the "figure:" lines (tests/RELIABILITY.md).
. "$(dirname "$0")/lib.sh"
BASEPORT=19000
. "$(dirname "$0")/server.sh"
command -v db5.3_dump >/dev/null || { echo "SKIP: db5.3_dump missing"; exit 77; }
ANVIL_WEB=lighttpd-fcgi
start_servers

DIR_URL="$DIR_URL" CA_PEM="$CA_PEM" HTTP01_PORT="$HTTP01_PORT" DATA="$DATA" \
    CONF="$CONF" ANVIL="$top_builddir/anvil" \
    LIGHTTPD_PID_FILE="$DATA/lighttpd/lighttpd.pid" \
    timeout 400 /usr/bin/python3 "$top_srcdir/tests/integration/crash.py"
rc=$?
if [ "$rc" -ne 0 ]; then
	fail "crash.py exited $rc"
	echo "--- lighttpd error.log (last 40 lines)"
	tail -n 40 "$DATA/lighttpd/error.log" 2>/dev/null
fi
expect_exit 0 "the store opens after the kills (anvil-crl, server running)" \
    timeout 60 "$top_builddir/anvil-crl" --config "$CONF" --out "$T/crl-after"
stop_servers_keep() {
	lp=$(cat "$DATA/lighttpd/lighttpd.pid" 2>/dev/null)
	[ -n "$lp" ] && kill "$lp" 2>/dev/null
	n=0
	while [ -n "$lp" ] && kill -0 "$lp" 2>/dev/null && [ $n -lt 100 ]; do
		sleep 0.1; n=$((n + 1))
	done
}
stop_servers_keep
expect_exit 0 "anvil-admin init on the store after the kills" \
    timeout 60 "$ADMIN" --config "$CONF" init
finish
