#!/bin/sh
# validators.sh - challenge validation never occupies a process that
# answers requests: 4 x N challenges against a black-holed
# http-01 target through lighttpd + FastCGI (N = its four FastCGI
# processes), with directory latency, the validation process cap, the
# queue bound and every challenge's end checked by validators.py; then
# the SIGTERM behaviour of an idle FastCGI worker.
. "$(dirname "$0")/lib.sh"
BASEPORT=17000
VALIDATORS=3
VTIMEOUT=2
QUEUE_MAX=16
VALIDATION_TIMEOUT=$VTIMEOUT
EXTRA_VALIDATION="validators = $VALIDATORS
queue_max = $QUEUE_MAX"
. "$(dirname "$0")/server.sh"
start_servers

DIR_URL="$DIR_URL" CA_PEM="$CA_PEM" HTTP01_PORT="$HTTP01_PORT" \
    TLSALPN01_PORT="$TLSALPN01_PORT" DNS_PORT="$DNS_PORT" \
    MGMT_PORT="$MGMT_PORT" DATA="$DATA" CONF="$CONF" ADMIN="$ADMIN" WORKERS=4 \
    VALIDATORS=$VALIDATORS QUEUE_MAX=$QUEUE_MAX VTIMEOUT=$VTIMEOUT \
    timeout 150 /usr/bin/python3 "$top_srcdir/tests/integration/validators.py"
rc=$?
[ "$rc" -eq 0 ] || { fail "validators.py exited $rc"; tail -n 40 "$DATA/lighttpd/error.log" 2>/dev/null; }

# ---------------------------------------------------------------- SIGTERM
# lighttpd's FastCGI processes of this server, idle now: each must leave
# promptly on SIGTERM (the web server retiring it), store closed.
workers=""
for d in /proc/[0-9]*; do
	[ "$(cat "$d/comm" 2>/dev/null)" = anvil ] || continue
	{ tr '\0' '\n' <"$d/environ"; } 2>/dev/null | grep -qxF "ANVIL_CONFIG=$CONF" || continue
	workers="$workers ${d#/proc/}"
done
[ -n "$workers" ] && ok "FastCGI workers found:$workers" || fail "no FastCGI worker found"
for p in $workers; do
	kill -TERM "$p"
	n=0
	while [ -d "/proc/$p" ] && [ "$(cut -d' ' -f3 "/proc/$p/stat" 2>/dev/null)" != Z ] && [ $n -lt 20 ]; do
		sleep 0.1; n=$((n + 1))
	done
	if [ $n -lt 20 ]; then ok "idle worker $p left within $((n * 100)) ms of SIGTERM"
	else fail "idle worker $p still there 2 s after SIGTERM"; kill -9 "$p"; fi
done
grep -q "died with" "$DATA/lighttpd/error.log" 2>/dev/null &&
    fail "a worker died with the store open" || ok "no worker left the store open"
finish
