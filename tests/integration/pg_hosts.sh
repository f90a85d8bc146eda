#!/bin/sh
# pg_hosts.sh - issue 23: three Anvil hosts (each its own lighttpd with
# its own FastCGI workers) on one PostgreSQL, behind HAProxy sending
# requests round-robin, one request per backend connection, so that every
# flow crosses hosts: an order created on one host is finalized on another.
# certbot issues, renews and revokes and lego issues and revokes through
# HAProxy; 16 concurrent replays of one nonce across the hosts let exactly
# one through (pg_hosts.py, with races.py's client); every host served
# requests and none answered 5xx; the certificates are rows of the shared
# database, and db check is clean. Then bench/acmeload runs flows on all
# hosts while host a's FastCGI workers are killed (SIGKILL) and PostgreSQL
# is stopped and started: every failure is a 503, no certificate is lost
# or doubled, db check is clean and certbot issues afterwards. The hosts
# share data_dir (CA key, nonce key) and the database, as README "Growing
# past one machine" sets up. Each host runs in a network namespace the test
# makes when this machine allows it (root, ip netns, veth pairs), else on
# a loopback port of its own in the root namespace; the "mode:" line of
# the output says which and why.
. "$(dirname "$0")/lib.sh"
BASEPORT=11500
PGSTART="$top_srcdir/tests/pg-start.sh"
command -v haproxy >/dev/null || { echo "SKIP: haproxy missing (Debian: haproxy)"; exit 77; }

PGCI=$(sh "$PGSTART" start 2>"$T/pg-start.err")
rc=$?
if [ "$rc" -eq 77 ]; then
	cat "$T/pg-start.err"
	echo "SKIP: PostgreSQL is not installed (Debian: postgresql)"
	exit 77
fi
if [ "$rc" -ne 0 ]; then
	cat "$T/pg-start.err"
	echo "FAIL: PostgreSQL did not start"
	exit 1
fi
PGDIR=${PGCI#host=}
PGDIR=${PGDIR%% *}
trap 'sh "$PGSTART" stop "$PGDIR"; rm -rf "$T"' EXIT
psql_q() { psql "$PGCI" -XAtqc "$1"; }

. "$(dirname "$0")/server.sh"
HOSTS="a b c"
PORT_a=$((BASEPORT + 2)) PUB_a=$((BASEPORT + 4))
PORT_b=$((BASEPORT + 3)) PUB_b=$((BASEPORT + 5))
PORT_c=$((BASEPORT + 7)) PUB_c=$((BASEPORT + 8))
STATS_PORT=$((BASEPORT + 6))

# Network namespaces: host h runs in anvil-pgh-<pid>-h, joined to the
# root namespace by a veth pair, 10.O.N.1/30 the root end and 10.O.N.2/30
# its own (N = 1, 2, 3), with O such that no route or address here is in
# 10.O.0.0/16; lighttpd listens on 10.O.N.2 and reaches PostgreSQL over
# its unix socket, a file the same in every namespace. HAProxy, the
# clients and the validation responders stay in the root namespace: the
# responders listen on VAL_ADDR, 10.O.0.1, added to host a's root end,
# which every namespace's default route reaches, and the DNS answerer says
# every name is at VAL_ADDR. The names carry this shell's pid, so that
# runs of other tests at the same time cannot clash.
NETNS="" VETHS="" NS_SAID=""
ns_cleanup() {
	for v in $VETHS; do ip link del "$v" 2>/dev/null; done
	for n in $NETNS; do ip netns del "$n" 2>/dev/null; done
	VETHS="" NETNS=""
}
trap 'stop_servers; ns_cleanup; sh "$PGSTART" stop "$PGDIR"' EXIT
trap 'exit 1' HUP INT TERM
# ns_setup: makes the namespaces or says on stderr why it cannot.
ns_setup() {
	command -v ip >/dev/null || { echo "no ip command" >&2; return 1; }
	o=$(($$ % 150 + 100)) i=0
	while ip -4 route show table all | grep -q "10\.$o\." ||
	    ip -4 addr show | grep -q "inet 10\.$o\."; do
		i=$((i + 1))
		[ $i -lt 150 ] || { echo "no free 10.x.0.0/16" >&2; return 1; }
		o=$(((o - 99) % 150 + 100))
	done
	n=0
	for h in $HOSTS; do
		n=$((n + 1))
		ns=anvil-pgh-$$-$h r=pgh$$${h}r e=pgh$$${h}n
		ip netns add "$ns" || return 1
		NETNS="$NETNS $ns"
		ip link add "$r" type veth peer name "$e" || return 1
		VETHS="$VETHS $r"
		ip link set "$e" netns "$ns" &&
		    ip addr add "10.$o.$n.1/30" dev "$r" &&
		    ip link set "$r" up &&
		    ip -n "$ns" addr add "10.$o.$n.2/30" dev "$e" &&
		    ip -n "$ns" link set "$e" up &&
		    ip -n "$ns" link set lo up &&
		    ip -n "$ns" route add default via "10.$o.$n.1" &&
		    ip netns exec "$ns" true || return 1
		eval "ADDR_$h=10.$o.$n.2 NS_$h=$ns"
		NS_SAID="$NS_SAID $h in $ns on 10.$o.$n.2,"
	done
	ip addr add "10.$o.0.1/32" dev "pgh$$${HOSTS%% *}r" || return 1
	VAL_ADDR=10.$o.0.1
}
if ns_setup 2>"$T/ns.err"; then
	MODE=netns
	echo "mode: network namespaces:$NS_SAID responders on $VAL_ADDR"
else
	ns_cleanup
	MODE=loopback
	VAL_ADDR=127.0.0.1
	for h in $HOSTS; do eval "ADDR_$h=127.0.0.1 NS_$h=''"; done
	echo "mode: loopback ports in the root namespace (no network namespaces here: $(tail -n 1 "$T/ns.err"))"
fi

mkdir -p "$DATA"
chmod 700 "$DATA"
cat >"$CONF" <<EOC
[server]
base_url = https://127.0.0.1:$HTTPS_PORT/acme
data_dir = $DATA
[validation]
http_port = $HTTP01_PORT
tls_port = $TLSALPN01_PORT
dns_resolver = $VAL_ADDR@$DNS_PORT
timeout = 5
allow_networks = $VAL_ADDR/32
[issuance]
crl_url = http://127.0.0.1:$PUBLISH_PORT/crl/anvil.crl
[store]
backend = postgresql
conninfo = $PGCI
connect_timeout = 2
EOC
expect_exit 0 "anvil-admin init on PostgreSQL" "$ADMIN" --config "$CONF" init
pebble-challtestsrv -dns01 "$VAL_ADDR:$DNS_PORT" -http01 "" -https01 "" \
    -tlsalpn01 "" -management "127.0.0.1:$MGMT_PORT" -defaultIPv6 "" \
    -defaultIPv4 "$VAL_ADDR" >"$T/challtestsrv.log" 2>&1 &
PIDS="$PIDS $!"
BACKENDS=""
for h in $HOSTS; do
	eval "port=\$PORT_$h pub=\$PUB_$h addr=\$ADDR_$h ns=\$NS_$h"
	run=""
	[ -z "$ns" ] || run="ip netns exec $ns"
	# ip netns exec and env exec what they run, and run-lighttpd.sh
	# execs lighttpd: $! is lighttpd.
	# shellcheck disable=SC2086
	$run env ANVIL_PORT="$port" ANVIL_BIND="$addr" \
	    ANVIL_PUBLISH_PORT="$pub" ANVIL_BUILDDIR="$top_builddir" \
	    ANVIL_LIGHTTPD_DIR="$DATA/lighttpd-$h" ANVIL_DIRECTORY_URL="$DIR_URL" \
	    sh "$top_srcdir/scripts/run-lighttpd.sh" "$DATA" fcgi \
	    >"$T/serve-$h.out" 2>&1 &
	PIDS="$PIDS $!"
	pid=$!
	eval "LIGHTTPD_$h=$pid"
	if wait_for "https://$addr:$port/acme/directory" 20; then
		ok "host $h serves on $addr:$port"
	else
		cat "$T/serve-$h.out" "$DATA/lighttpd-$h/error.log" 2>/dev/null
		fail "host $h did not start"
		finish
	fi
	if [ "$MODE" = netns ]; then
		[ "$(ip netns identify "$pid")" = "$ns" ] &&
		    ! curl -s -o /dev/null --max-time 2 --cacert "$CA_PEM" \
		    "https://127.0.0.1:$port/acme/directory" &&
		    ok "host $h runs in $ns, out of the root namespace's reach" ||
		    fail "host $h is not alone in $ns"
	fi
	BACKENDS="$BACKENDS
	server $h $addr:$port ssl verify required ca-file $CA_PEM"
done

# HAProxy terminates TLS with host a's certificate (127.0.0.1, from the CA)
# and sends each request to the next host over TLS that it verifies.
cat "$DATA/lighttpd-a/chain.pem" "$DATA/lighttpd-a/tls.key" >"$T/lb.pem"
chmod 600 "$T/lb.pem"
cat >"$T/haproxy.cfg" <<EOC
global
	maxconn 1000
defaults
	mode http
	timeout connect 5s
	timeout client 120s
	timeout server 120s
	option http-server-close
frontend acme
	bind 127.0.0.1:$HTTPS_PORT ssl crt $T/lb.pem
	default_backend hosts
frontend stats
	bind 127.0.0.1:$STATS_PORT
	stats enable
	stats uri /stats
backend hosts
	balance roundrobin
	http-reuse never$BACKENDS
EOC
haproxy -f "$T/haproxy.cfg" -db >"$T/haproxy.log" 2>&1 &
PIDS="$PIDS $!"
wait_for "$DIR_URL" 20 && ok "HAProxy in front of the hosts" ||
    { cat "$T/haproxy.log"; fail "HAProxy did not start"; finish; }

CB="$T/certbot"
mkdir -p "$CB"
certbot_run() {
	REQUESTS_CA_BUNDLE="$CA_PEM" timeout 180 certbot --non-interactive \
	    --server "$DIR_URL" --config-dir "$CB" --work-dir "$CB" \
	    --logs-dir "$CB" --agree-tos -m ops@example.org "$@"
}
expect_exit 0 "certbot register across hosts" certbot_run register
expect_exit 0 "certbot http-01 issue across hosts" certbot_run certonly \
    --standalone --http-01-address "$VAL_ADDR" --http-01-port "$HTTP01_PORT" \
    -d www.example.test --cert-name web
live="$CB/live/web"
verify_chain "$live/fullchain.pem" "certbot across hosts"
s1=$(cert_serial "$live/cert.pem")
expect_exit 0 "certbot renew across hosts" certbot_run renew --force-renewal \
    --no-random-sleep-on-renew --cert-name web --standalone \
    --http-01-address "$VAL_ADDR" --http-01-port "$HTTP01_PORT"
s2=$(cert_serial "$live/cert.pem")
[ -n "$s2" ] && [ "$s1" != "$s2" ] && ok "renewal is a new certificate" ||
    fail "renewal serial $s1 / $s2"
expect_exit 0 "certbot revoke across hosts" certbot_run revoke \
    --cert-path "$live/cert.pem" --reason keycompromise --no-delete-after-revoke

lego_cmd() {
	LEGO_CA_CERTIFICATES="$CA_PEM" timeout 180 lego --accept-tos \
	    --email ops-lego@example.org --server "$DIR_URL" --path "$T/lego" \
	    --domains l.example.test --http --http.port "$VAL_ADDR:$HTTP01_PORT" "$@"
}
expect_exit 0 "lego issue across hosts" lego_cmd run
verify_chain "$T/lego/certificates/l.example.test.crt" "lego across hosts"
expect_exit 0 "lego revoke across hosts" lego_cmd revoke --reason 4

DIR_URL="$DIR_URL" CA_PEM="$CA_PEM" HTTP01_PORT="$HTTP01_PORT" DATA="$DATA" \
    NONCE_CLIENTS=16 ROUNDS=3 PYTHONPATH="$top_srcdir/tests/integration" \
    timeout 300 /usr/bin/python3 "$top_srcdir/tests/integration/pg_hosts.py" ||
    fail "pg_hosts.py"

# Every host took requests, in turn; none answered 5xx.
curl -s --max-time 5 "http://127.0.0.1:$STATS_PORT/stats;csv" >"$T/stats.csv"
/usr/bin/python3 - "$T/stats.csv" >"$T/stats.out" <<'EOP'
import csv, sys
rows = list(csv.reader(open(sys.argv[1])))
head = [h.lstrip("# ") for h in rows[0]]
for r in rows[1:]:
    d = dict(zip(head, r))
    if d.get("pxname") == "hosts" and d.get("svname") not in ("FRONTEND", "BACKEND"):
        print(d["svname"], d["stot"], d["hrsp_5xx"] or "0")
EOP
cat "$T/stats.out"
per=$(awk '{printf "%s%s: %s", n++ ? ", " : "", $1, $2}' "$T/stats.out")
least=$(awk 'NR == 1 || $2 < m {m = $2} END {print m + 0}' "$T/stats.out")
most=$(awk '$2 > m {m = $2} END {print m + 0}' "$T/stats.out")
f5=$(awk '{s += $3} END {print s + 0}' "$T/stats.out")
[ "$(wc -l <"$T/stats.out")" -eq "$(echo $HOSTS | wc -w)" ] &&
    [ "$least" -ge 20 ] && ok "every host served requests ($per)" ||
    fail "requests per host: $per"
[ $((most - least)) -le 2 ] && ok "round-robin: requests went to the hosts in turn" ||
    fail "hosts unbalanced: $per"
[ "$f5" -eq 0 ] && ok "no 5xx from any host" || fail "$f5 5xx replies"

n=$(psql_q "SELECT count(*) FROM records WHERE kind = 4")
[ "$n" = 3 ] && ok "three certificate rows in the shared database" ||
    fail "certificate rows: $n (certbot 2, lego 1)"
[ "$(psql_q "SELECT count(*) FROM records WHERE kind = 4 AND revoked")" = 2 ] &&
    ok "two of them revoked" || fail "revoked rows wrong"
expect_exit 0 "db check on the shared database" "$ADMIN" --config "$CONF" db check

# Load on all hosts (bench/acmeload, full flows through HAProxy) while
# host a's FastCGI workers are killed with SIGKILL and then PostgreSQL is
# stopped and started again: requests may fail meanwhile, but no record is
# lost or doubled, and flows succeed again afterwards.
if [ -f "$top_srcdir/bench/acmeload.c" ] &&
    make -C "$top_srcdir/bench" acmeload >"$T/make.log" 2>&1; then
	before=$(psql_q "SELECT count(*) FROM records WHERE kind = 4")
	timeout -k 5 150 "$top_srcdir/bench/acmeload" -u "$DIR_URL" \
	    --cacert "$CA_PEM" --http01-port "$HTTP01_PORT" \
	    --http01-address "$VAL_ADDR" --mode flows -c 4 \
	    -t 24 -n 100000 --timeout 20 --poll-max 20 >"$T/load.out" 2>&1 &
	load=$!
	sleep 6
	workers=$(pgrep -P "$LIGHTTPD_a" -d ' ' || true)
	# shellcheck disable=SC2086
	[ -n "$workers" ] && kill -9 $workers &&
	    ok "killed host a's FastCGI workers mid-load ($workers)" ||
	    fail "no FastCGI workers under host a's lighttpd"
	sleep 4
	sh "$PGSTART" pause "$PGDIR" && ok "PostgreSQL stopped mid-load" ||
	    fail "pause"
	sleep 2
	sh "$PGSTART" resume "$PGDIR" && ok "PostgreSQL started again" ||
	    fail "resume"
	wait "$load"
	r=$(grep '^RESULT' "$T/load.out" || true)
	echo "    $r"
	grep '  error x' "$T/load.out" | sed 's/^/    /'
	nok=$(echo "$r" | tr ' ' '\n' | sed -n 's/^ok=//p')
	# Anvil's failures are 503s while the database is away; a request a
	# killed worker was serving gets lighttpd's own error (no problem
	# document), at most one per killed worker. A nonce spent by a
	# statement whose connection the restart cut may come back badNonce,
	# which the client retries with a new one (RFC 8555 §6.5).
	other=$(grep '  error x' "$T/load.out" | grep -v 'HTTP 503 serverInternal' |
	    grep -v 'HTTP 5[0-9][0-9]$' | grep -v '(retried) badNonce$' || true)
	[ -z "$other" ] && ok "Anvil's failures were all 503 serverInternal" ||
	    fail "failures other than 503: $other"
	bare=$(grep '  error x' "$T/load.out" | grep 'HTTP 5[0-9][0-9]$' |
	    sed 's/.*error x\([0-9]*\):.*/\1/' | awk '{ s += $1 } END { print s + 0 }')
	nw=$(echo "$workers" | wc -w)
	[ "$bare" -le "$nw" ] &&
	    ok "$bare request(s) lost with the $nw killed workers, no more" ||
	    fail "$bare web-server errors for $nw killed workers"
	[ "${nok:-0}" -gt 0 ] && ok "flows completed under load ($nok)" ||
	    fail "no flow completed: $(tail -5 "$T/load.out")"
	after=$(psql_q "SELECT count(*) FROM records WHERE kind = 4")
	[ $((after - before)) -ge "${nok:-0}" ] &&
	    ok "every certificate received is in the database ($((after - before)) rows for $nok flows)" ||
	    fail "$nok flows but $((after - before)) new certificate rows"
	dup=$(psql_q "SELECT count(*) FROM (SELECT rec::json->>'order' FROM records WHERE kind = 4 GROUP BY 1 HAVING count(*) > 1) d")
	[ "$dup" = 0 ] && ok "no order has two certificates" || fail "$dup orders with two certificates"
	lost=$(psql_q "SELECT count(*) FROM records o WHERE o.kind = 1 AND o.rec::json->>'status' = 'valid' AND NOT EXISTS (SELECT 1 FROM records c WHERE c.kind = 4 AND c.id = o.rec::json->>'certificate')")
	[ "$lost" = 0 ] && ok "every valid order's certificate is there" || fail "$lost valid orders without their certificate"
	expect_exit 0 "db check after the load" "$ADMIN" --config "$CONF" db check
	expect_exit 0 "certbot issues after the outage" certbot_run certonly \
	    --standalone --http-01-address "$VAL_ADDR" --http-01-port "$HTTP01_PORT" \
	    -d after.example.test --cert-name after
else
	echo "SKIP (part): bench/acmeload not buildable here (a dist tree?)"
fi
finish
