#!/bin/sh
# pg.sh - issue 23: Anvil behind lighttpd (FastCGI) with its records in a
# real PostgreSQL the test starts (tests/pg-start.sh, Debian's server on a
# unix socket in a temporary folder). anvil-admin init makes the schema;
# certbot registers, issues (http-01) and revokes; the rows are in the
# database and none in data_dir; db check is clean. The database stopped
# under the running host gives 503 with Retry-After, and the first request
# once it is back succeeds on the worker's new connection. A schema from a
# newer Anvil is refused with a message, and db migrate reports it current.
# db export / db import move the store into Berkeley DB and back.
. "$(dirname "$0")/lib.sh"
BASEPORT=11000
PGSTART="$top_srcdir/tests/pg-start.sh"

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

EXTRA_CONF="[store]
backend = postgresql
conninfo = $PGCI
connect_timeout = 2"
. "$(dirname "$0")/server.sh"
trap 'stop_servers; sh "$PGSTART" stop "$PGDIR"' EXIT
start_servers
grep -q "^store: postgresql, schema version [1-9]" "$T/init.out" &&
    ok "init made the PostgreSQL schema" || fail "init: $(cat "$T/init.out")"

CB="$T/certbot"
mkdir -p "$CB"
certbot_run() {
	REQUESTS_CA_BUNDLE="$CA_PEM" timeout 180 certbot --non-interactive \
	    --server "$DIR_URL" --config-dir "$CB" --work-dir "$CB" \
	    --logs-dir "$CB" --agree-tos -m ops@example.org "$@"
}
expect_exit 0 "certbot register" certbot_run register
expect_exit 0 "certbot http-01 issue" certbot_run certonly --standalone \
    --http-01-address 127.0.0.1 --http-01-port "$HTTP01_PORT" \
    -d www.example.test --cert-name web
live="$CB/live/web"
verify_chain "$live/fullchain.pem" "certbot on PostgreSQL"
serial=$(cert_serial "$live/cert.pem" | tr 'A-F' 'a-f' | sed 's/^0*//')

n=$(psql_q "SELECT count(*) FROM records WHERE kind = 4")
[ "$n" = 1 ] && ok "one certificate row in PostgreSQL" ||
    fail "certificate rows: $n"
psql_q "SELECT id FROM records WHERE kind = 4" | sed 's/^0*//' |
    grep -qx "$serial" && ok "the row holds certbot's serial" ||
    fail "serial $serial not in: $(psql_q "SELECT id FROM records WHERE kind = 4")"
[ "$(psql_q "SELECT count(*) FROM records WHERE kind = 0")" = 1 ] &&
    ok "one account row" || fail "account rows wrong"
[ ! -e "$DATA/store" ] && ok "no Berkeley DB store in data_dir" ||
    fail "$DATA/store exists"

expect_exit 0 "certbot revoke" certbot_run revoke --cert-path "$live/cert.pem" \
    --reason keycompromise --no-delete-after-revoke
[ "$(psql_q "SELECT count(*) FROM records WHERE kind = 4 AND revoked")" = 1 ] &&
    ok "the certificate row is revoked" || fail "revoked column not set"
expect_exit 0 "db check on PostgreSQL" "$ADMIN" --config "$CONF" db check
expect_out "PostgreSQL store is sound" "db check says what it checked"

# renewal-info reads the store on every GET: the probe of the outage.
ari="https://127.0.0.1:$HTTPS_PORT/acme/renewal-info/$(cert_id "$live/cert.pem")"
probe() {
	curl -s -D "$T/hdr" -o "$T/body" --max-time 10 --cacert "$CA_PEM" "$ari"
	sed -n 's/^HTTP\/[0-9.]* \([0-9]*\).*/\1/p' "$T/hdr" | tail -1
}
[ "$(probe)" = 200 ] && ok "renewal-info answers" || fail "renewal-info: $(cat "$T/hdr")"
sh "$PGSTART" pause "$PGDIR" && ok "PostgreSQL stopped" || fail "pause"
code=$(probe)
[ "$code" = 503 ] && ok "503 while the database is away" ||
    fail "got $code while the database is away: $(cat "$T/body")"
grep -qi '^Retry-After: [0-9]' "$T/hdr" && ok "with Retry-After" ||
    fail "no Retry-After: $(cat "$T/hdr")"
grep -q "serverInternal" "$T/body" && ok "a problem document" ||
    fail "body: $(cat "$T/body")"
sh "$PGSTART" resume "$PGDIR" && ok "PostgreSQL started again" || fail "resume"
code=$(probe)
[ "$code" = 200 ] && ok "the first request after the outage succeeds" ||
    fail "got $code after the outage: $(cat "$T/body")"

# A backend killed with SIGKILL: PostgreSQL restarts the others without a
# new postmaster, and spends not yet flushed are gone (pg_replay.py).
# Killing the server's backend takes root (it runs as postgres).
if [ "$(id -u)" = 0 ]; then
	cat >"$T/crash.sh" <<EOS
psql "$PGCI" -XAtqc "SELECT pg_sleep(60)" >/dev/null 2>&1 &
bg=\$!
n=0 pid=""
while [ -z "\$pid" ] && [ \$n -lt 100 ]; do
	pid=\$(psql "$PGCI" -XAtqc "SELECT pid FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(60)'")
	[ -n "\$pid" ] || sleep 0.1
	n=\$((n + 1))
done
[ -n "\$pid" ] && kill -9 \$pid || exit 1
wait \$bg
n=0
until psql "$PGCI" -XAtqc "SELECT 1" >/dev/null 2>&1 || [ \$n -ge 100 ]; do
	sleep 0.1; n=\$((n + 1))
done
psql "$PGCI" -XAtqc "SELECT 1" >/dev/null
EOS
	DIR_URL="$DIR_URL" CA_PEM="$CA_PEM" CRASH_CMD="sh '$T/crash.sh'" \
	    timeout 120 /usr/bin/python3 "$top_srcdir/tests/integration/pg_replay.py"
	rc=$?
	[ "$rc" -eq 0 ] && ok "nonces across a backend's crash (pg_replay.py)" ||
	    fail "pg_replay.py exited $rc"
else
	echo "SKIP-PART: killing a PostgreSQL backend needs root"
fi

psql_q "INSERT INTO schema_version (version) VALUES (99)"
expect_exit 1 "a newer schema is refused" "$ADMIN" --config "$CONF" stats
expect_out "newer than this Anvil" "the refusal says why"
psql_q "DELETE FROM schema_version WHERE version = 99"
expect_exit 0 "db migrate on a current schema" "$ADMIN" --config "$CONF" db migrate
expect_out "up to date" "db migrate says it is current"
expect_exit 1 "db backup points at pg_dump" "$ADMIN" --config "$CONF" db backup "$T/bk"
expect_out "pg_dump" "the refusal names pg_dump"

# anvil-crl on two hosts at once (each its own data_dir and lock, one
# database): the CRL numbers of both are one sequence, never one twice.
mkdir -m 700 "$T/hostb"
cp "$DATA/ca.key" "$DATA/ca.pem" "$DATA/nonce.key" "$T/hostb/"
sed "s|^data_dir = .*|data_dir = $T/hostb|" "$CONF" >"$T/hostb.conf"
CRL="$top_builddir/anvil-crl"
: >"$T/crlnums"
i=0
while [ $i -lt 5 ]; do
	i=$((i + 1))
	"$CRL" --config "$CONF" >"$T/crla.$i" 2>&1 & a=$!
	"$CRL" --config "$T/hostb.conf" >"$T/crlb.$i" 2>&1 & b=$!
	wait $a || fail "anvil-crl on host a, round $i: $(cat "$T/crla.$i")"
	wait $b || fail "anvil-crl on host b, round $i: $(cat "$T/crlb.$i")"
	sed -n 's/^CRL \([0-9]*\) written.*/\1/p' "$T/crla.$i" "$T/crlb.$i" >>"$T/crlnums"
done
n=$(wc -l <"$T/crlnums"); u=$(sort -un "$T/crlnums" | wc -l)
[ "$n" = 10 ] && [ "$u" = 10 ] &&
    ok "10 CRLs signed on two hosts at once, 10 distinct numbers" ||
    fail "CRL numbers from two hosts: $(tr '\n' ' ' <"$T/crlnums")"
for h in a b; do
	sed -n 's/^CRL \([0-9]*\) written.*/\1/p' "$T"/crl$h.[1-5] >"$T/seq.$h"
	sort -n -c "$T/seq.$h" 2>/dev/null && [ "$(sort -un "$T/seq.$h" | wc -l)" = 5 ] &&
	    ok "host $h's CRL numbers strictly increase" ||
	    fail "host $h's numbers: $(tr '\n' ' ' <"$T/seq.$h")"
done

# The store moved into Berkeley DB files and back into a second schema:
# each export of an imported store is the same file, db check is clean on
# every side, and a second import into a store with records is refused.
mkdir -p "$T/bdb"
chmod 700 "$T/bdb"
cp "$DATA/ca.key" "$DATA/ca.pem" "$T/bdb/"
printf '[server]\nbase_url = https://127.0.0.1:%s/acme\ndata_dir = %s\n' \
    "$HTTPS_PORT" "$T/bdb" >"$T/bdb.conf"
psql_q "CREATE SCHEMA back"
printf '[server]\nbase_url = https://127.0.0.1:%s/acme\ndata_dir = %s\n[store]\nbackend = postgresql\nconninfo = %s options=-csearch_path=back\n' \
    "$HTTPS_PORT" "$T/bdb" "$PGCI" >"$T/back.conf"
expect_exit 0 "db export from PostgreSQL" "$ADMIN" --config "$CONF" db export "$T/pg.exp"
[ "$(stat -c %a "$T/pg.exp")" = 600 ] && ok "the export is 0600" || fail "export mode"
expect_exit 0 "init of a Berkeley DB store" "$ADMIN" --config "$T/bdb.conf" init
expect_exit 0 "db import into Berkeley DB" "$ADMIN" --config "$T/bdb.conf" db import "$T/pg.exp"
expect_exit 1 "a second import is refused" "$ADMIN" --config "$T/bdb.conf" db import "$T/pg.exp"
expect_out "already holds records" "the refusal says why"
expect_exit 0 "db check of the Berkeley DB copy" "$ADMIN" --config "$T/bdb.conf" db check
expect_exit 0 "db export from Berkeley DB" "$ADMIN" --config "$T/bdb.conf" db export "$T/bdb.exp"
cmp -s "$T/pg.exp" "$T/bdb.exp" && ok "same records, counters and statuses in both" ||
    fail "exports differ: $(diff "$T/pg.exp" "$T/bdb.exp" | head -5)"
expect_exit 0 "init of a second PostgreSQL schema" "$ADMIN" --config "$T/back.conf" init
expect_exit 0 "db import back into PostgreSQL" "$ADMIN" --config "$T/back.conf" db import "$T/bdb.exp"
expect_exit 0 "db check of the copy in PostgreSQL" "$ADMIN" --config "$T/back.conf" db check
expect_exit 0 "db export of the copy" "$ADMIN" --config "$T/back.conf" db export "$T/back.exp"
cmp -s "$T/pg.exp" "$T/back.exp" && ok "the round trip changed nothing" ||
    fail "round trip differs: $(diff "$T/pg.exp" "$T/back.exp" | head -5)"
grep -c '"kind":"cert"' "$T/back.exp" | grep -qx 1 && ok "the certificate made the trip" ||
    fail "no certificate in the export"

finish
