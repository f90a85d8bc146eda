#!/bin/sh
# admin_ops.sh - anvil-admin's inventory and maintenance commands against
# the store the web server is using at the same time (lighttpd, CGI shape:
# each validation is its own detached "anvil-validate" process, which this
# test kills to leave a challenge stuck in "processing").
#
# certbot issues certificates for data; then: stats, accounts, orders,
# authz, certs list (each filter), show, export (JSON, CSV per RFC 4180),
# revoke from the server side (anvil-crl lists it), sweep of a stuck
# challenge (not before 3 x timeout, then invalid with its authorization
# and order), sweep of long-expired orders and spent nonces (run with the
# clock moved 40 days on by a small LD_PRELOAD shim built here), db check
# (sound store; a copy with a damaged file fails naming it), db backup
# while certbot issues (restored into a new data folder, certs list there
# shows the certificates), accounts deactivate (certbot refused after).
# Human output and --json output (read with python3) are both checked.
. "$(dirname "$0")/lib.sh"
BASEPORT=30000
ANVIL_WEB=lighttpd-cgi
. "$(dirname "$0")/server.sh"
CRL="$top_builddir/anvil-crl"
PY=/usr/bin/python3
start_servers

AD() { "$ADMIN" --config "$CONF" "$@"; }
# pyj EXPR: evaluates a Python expression on the JSON document in $T/out
# (as d) and prints it.
pyj() { "$PY" -c "import json,sys; d=json.load(open(sys.argv[1])); print($1)" "$T/out"; }
# expect_json EXPR DESC: EXPR (Python, d is $T/out's JSON) is true.
expect_json() {
	if [ "$(pyj "bool($1)" 2>&1)" = True ]; then ok "$2"; else
		fail "$2: not ($1)"; sed 's/^/    /' "$T/out" | head -40; fi
}
expect_no() {
	if grep -qF -- "$1" "$T/out"; then fail "$2: output has \"$1\""; sed 's/^/    /' "$T/out"; else ok "$2"; fi
}

CB="$T/certbot"
certbot_run() {
	REQUESTS_CA_BUNDLE="$CA_PEM" timeout 180 certbot --non-interactive \
	    --server "$DIR_URL" --config-dir "$CB" --work-dir "$CB" \
	    --logs-dir "$CB" --agree-tos -m ops@example.org "$@"
}
issue() { # NAME DOMAIN...
	n=$1; shift
	args=""
	for d in "$@"; do args="$args -d $d"; done
	# shellcheck disable=SC2086
	certbot_run certonly --standalone --http-01-address 127.0.0.1 \
	    --http-01-port "$HTTP01_PORT" --cert-name "$n" $args
}
expect_exit 0 "certbot issues one" issue one one.admin.example.test
expect_exit 0 "certbot issues two (two names)" issue two two.admin.example.test www.two.admin.example.test
s1=$(cert_serial "$CB/live/one/cert.pem")
s2=$(cert_serial "$CB/live/two/cert.pem")
[ -n "$s1" ] && [ -n "$s2" ] && ok "serials $s1 $s2" || fail "no serials"

# ---------------------------------------------------------------- stats
expect_exit 0 "stats" AD stats
grep -Eq '^certificates +issued +2 *$' "$T/out" && ok "stats: 2 certificates issued (aligned columns)" ||
    { fail "stats human"; cat "$T/out"; }
grep -Eq '^kind +status +count *$' "$T/out" && ok "stats: header" || fail "stats header"
expect_exit 0 "--json stats" AD --json stats
expect_json 'd["certificates"]["issued"] == 2 and d["certificates"]["revoked"] == 0' "stats JSON: 2 issued, 0 revoked"
expect_json 'd["accounts"]["valid"] == 1 and d["orders"]["valid"] == 2' "stats JSON: 1 valid account, 2 valid orders"
expect_json 'd["certificates"]["expiring_30d"] == 0 and d["authorizations"]["valid"] == 3' "stats JSON: none expiring, 3 valid authorizations"

# ---------------------------------------------------------------- accounts
expect_exit 0 "accounts list" AD accounts list
grep -Eq '^id +status +created +orders +certs +contact' "$T/out" && ok "accounts list: header" || fail "accounts list header"
expect_out "mailto:ops@example.org" "accounts list: contact shown"
expect_exit 0 "--json accounts list" AD --json accounts list
expect_json 'len(d) == 1 and d[0]["status"] == "valid" and d[0]["certs"] == 2 and d[0]["orders"] == 2' "accounts JSON: one valid account, 2 orders, 2 certificates"
ACC=$(pyj 'd[0]["id"]')
expect_exit 0 "accounts show" AD accounts show "$ACC"
expect_out "id: $ACC" "accounts show: id line"
expect_out "status: valid" "accounts show: status line"
expect_exit 0 "--json accounts show" AD --json accounts show "$ACC"
expect_json 'len(d["orders"]) == 2 and len(d["certificates"]) == 2 and "jwk" in d and "v" not in d' "accounts show JSON: orders, certificates, key"
expect_exit 1 "accounts show of an unknown id" AD accounts show nosuchaccount
expect_out "no account" "unknown account named"

# ---------------------------------------------------------------- certificates
expect_exit 0 "certs list" AD certs list
grep -Eq '^serial +status +not_after +names +account' "$T/out" && ok "certs list: header" || fail "certs list header"
grep -q "^$s1 .*valid.*one.admin.example.test" "$T/out" && ok "certs list: one" || fail "certs list lacks $s1"
grep -q "^$s2 .*two.admin.example.test, www.two.admin.example.test" "$T/out" && ok "certs list: two with both names" ||
    fail "certs list lacks $s2"
expect_exit 0 "--json certs list" AD --json certs list
expect_json "sorted(c['serial'] for c in d) == sorted(['$s1', '$s2'])" "certs JSON: both serials"
expect_json "all(c['account'] == '$ACC' and c['status'] == 'valid' and 'pem' not in c for c in d)" "certs JSON: account, status, no PEM"
expect_json "all(c['profile'] == 'classic' for c in d)" "certs JSON: issued with the default profile, classic"
expect_exit 0 "certs list --name www.two" AD --json certs list --name WWW.two.admin.example.test
expect_json "[c['serial'] for c in d] == ['$s2']" "--name matches case-insensitively, one certificate"
expect_exit 0 "certs list --name unknown" AD --json certs list --name nothing.example.test
expect_json 'd == []' "--name with no match: empty"
expect_exit 0 "certs list --account" AD --json certs list --account "$ACC"
expect_json 'len(d) == 2' "--account: both"
expect_exit 0 "certs list --account other" AD --json certs list --account nosuchaccount
expect_json 'd == []' "--account other: none"
expect_exit 0 "certs list --expiring-before 2000-01-01" AD --json certs list --expiring-before 2000-01-01
expect_json 'd == []' "--expiring-before the past: none"
expect_exit 0 "certs list --expiring-before 2999-01-01" AD --json certs list --expiring-before 2999-01-01
expect_json 'len(d) == 2' "--expiring-before the far future: both"
expect_exit 0 "certs list --revoked (none yet)" AD --json certs list --revoked
expect_json 'd == []' "--revoked: none yet"
expect_exit 2 "--expiring-before with a bad date" AD certs list --expiring-before 2025-13-40
expect_exit 2 "certs with a bad subcommand" AD certs bogus

expect_exit 0 "certs show" AD certs show "$s1"
expect_out "serial: $s1" "certs show: serial"
expect_out "status: valid" "certs show: status"
expect_out "names: one.admin.example.test" "certs show: names"
expect_out "sha256: " "certs show: fingerprint"
expect_out "-----BEGIN CERTIFICATE-----" "certs show: PEM"
colon=$(echo "$s2" | tr a-f A-F | sed 's/../&:/g; s/:$//')
expect_exit 0 "--json certs show with an upper-case, colon serial" AD --json certs show "$colon"
expect_json "d['serial'] == '$s2' and d['names'] == ['two.admin.example.test', 'www.two.admin.example.test'] and d['subject'] != ''" "certs show JSON"
ORDER=$(pyj 'd["order"]')
expect_exit 1 "certs show of an unknown serial" AD certs show 00ff
expect_out "no certificate" "unknown serial named"

# ---------------------------------------------------------------- orders, authz
expect_exit 0 "orders show" AD orders show "$ORDER"
expect_out "status: valid" "orders show: valid"
expect_out "identifiers: dns:two.admin.example.test, dns:www.two.admin.example.test" "orders show: identifiers"
expect_out "authorizations:" "orders show: authorization table"
expect_exit 0 "--json orders show" AD --json orders show "$ORDER"
expect_json "d['account'] == '$ACC' and d['certificate'] == '$s2' and len(d['authorizations']) == 2 and all(a['status'] == 'valid' for a in d['authorizations'])" "orders show JSON: 2 valid authorizations, the certificate"
AUTHZ=$(pyj 'd["authorizations"][0]["id"]')
expect_exit 0 "authz show" AD authz show "$AUTHZ"
expect_out "status: valid" "authz show: valid"
grep -Eq '^[A-Za-z0-9_-]+ +http-01 +valid' "$T/out" && ok "authz show: http-01 valid in the challenge table" || { fail "authz challenge table"; cat "$T/out"; }
expect_exit 0 "--json authz show" AD --json authz show "$AUTHZ"
expect_json "d['orders'] == ['$ORDER'] and sorted(c['type'] for c in d['challenges']) == ['dns-01', 'http-01', 'tls-alpn-01']" "authz show JSON: its order, three challenges"
expect_exit 1 "orders show of an unknown id" AD orders show nosuchorder
expect_exit 2 "orders without show" AD orders list

# ---------------------------------------------------------------- export
AD certs export --format csv >"$T/certs.csv" 2>"$T/err"
[ $? -eq 0 ] && ok "certs export --format csv" || { fail "csv export"; cat "$T/err"; }
head -1 "$T/certs.csv" | grep -q '^serial,status,names,not_before,not_after,issued,account,order,revoked_at,revocation_reason,revoked_by,profile'"$(printf '\r')"'$' &&
    ok "CSV: header line, CRLF" || { fail "CSV header"; head -1 "$T/certs.csv" | od -c | head; }
grep -qF '"two.admin.example.test, www.two.admin.example.test"' "$T/certs.csv" && ok "CSV: a field with a comma is quoted" ||
    { fail "CSV quoting"; cat "$T/certs.csv"; }
"$PY" - "$T/certs.csv" "$s1" "$s2" >"$T/out" 2>&1 <<'EOF'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1], newline="")))
assert len(rows) == 2, rows
by = {r["serial"]: r for r in rows}
assert set(by) == {sys.argv[2], sys.argv[3]}, by
assert by[sys.argv[3]]["names"] == "two.admin.example.test, www.two.admin.example.test"
assert all(r["status"] == "valid" and r["revoked_at"] == "" for r in rows)
print("csv ok")
EOF
expect_out "csv ok" "CSV: Python's csv module reads both rows back"
expect_exit 0 "certs export --format json --name one" AD certs export --format json --name one.admin.example.test
"$PY" -c 'import json,sys; d=json.load(open(sys.argv[1])); sys.stdout.write(d[0]["pem"])' "$T/out" >"$T/exported.pem"
cmp -s "$T/exported.pem" "$CB/live/one/cert.pem" && ok "JSON export: the PEM is certbot's certificate" ||
    { fail "exported PEM differs"; diff "$T/exported.pem" "$CB/live/one/cert.pem" | head; }
expect_exit 2 "certs export --format xml" AD certs export --format xml

# ---------------------------------------------------------------- revoke
expect_exit 2 "revoke with a bad reason" AD revoke "$s1" --reason bogus
expect_exit 2 "revoke with removeFromCRL" AD revoke "$s1" --reason 8
expect_exit 2 "revoke without a serial" AD revoke
expect_exit 1 "revoke of an unknown serial" AD revoke 00ff
expect_exit 0 "revoke one (superseded)" AD revoke "$s1" --reason superseded
expect_out "revoked $s1 (reason 4, superseded)" "revoke: what was done"
expect_exit 1 "revoke again" AD revoke "$s1" --reason keyCompromise
expect_out "already revoked" "second revoke: already revoked"
expect_out "by operator" "second revoke: who revoked it"
expect_exit 0 "--json certs list --revoked" AD --json certs list --revoked
expect_json "[c['serial'] for c in d] == ['$s1'] and d[0]['revocation_reason'] == 'superseded' and d[0]['revoked_by'] == 'operator'" "--revoked: only one, superseded, by the operator"
expect_exit 1 "certbot cannot revoke it again" certbot_run revoke --cert-path "$CB/live/one/cert.pem" --no-delete-after-revoke
# (certbot 2.1 may print an AttributeError of its own; its log has the reply.)
grep -q "urn:ietf:params:acme:error:alreadyRevoked" "$CB/letsencrypt.log" &&
    ok "the server says alreadyRevoked" || fail "certbot output: $(tail -3 "$T/out")"
expect_exit 0 "anvil-crl" "$CRL" --config "$CONF" --out "$T/pub"
certtool --crl-info --infile "$T/pub/anvil.crl.pem" >"$T/info" 2>&1
grep -qi "Serial Number (hex): $s1" "$T/info" && ok "anvil-crl lists the server-side revocation" || fail "$s1 not in the CRL"
grep -qi "Serial Number (hex): $s2" "$T/info" && fail "unrevoked serial listed" || ok "unrevoked serial absent"
openssl crl -inform DER -in "$T/pub/anvil.crl" -noout -text 2>&1 | grep -A4 "Serial Number: $(echo "$s1" | tr a-f A-F)" |
    grep -q Superseded && ok "CRL entry has reason superseded" || fail "CRL reason"

# ---------------------------------------------------------------- metrics
# stats --format prometheus for node_exporter's textfile collector, from
# the same cron entry as anvil-crl (etc/anvil-crl.cron): promtool's lint,
# the same counts as --json stats, the CRL's age, one file and no other.
expect_exit 0 "anvil-crl into crl_dir" "$CRL" --config "$CONF" --quiet
mkdir -p "$T/textfile"
expect_exit 0 "stats --format prometheus --output" AD stats --format prometheus \
    --output "$T/textfile/anvil.prom"
if promtool check metrics <"$T/textfile/anvil.prom" >"$T/lint" 2>&1; then
	ok "promtool check metrics: no problem"
else
	fail "promtool check metrics: $(cat "$T/lint")"
fi
AD --json stats >"$T/out" 2>&1
"$PY" - "$T/out" "$T/textfile/anvil.prom" "$DATA/ocsp" <<'EOP' && ok "metrics match --json stats" || fail "metrics differ from stats"
import json, os, re, sys, time
d = json.load(open(sys.argv[1]))
m = {}
for line in open(sys.argv[2]):
    if not line.startswith("#"):
        k, v = line.rsplit(" ", 1)
        m[k] = float(v)
want = {'anvil_certificates_issued': d["certificates"]["issued"],
        'anvil_certificates{state="revoked"}': d["certificates"]["revoked"],
        'anvil_certificates{state="active"}': d["certificates"]["active"],
        'anvil_certificates_expiring{within="30d"}': d["certificates"]["expiring_30d"],
        'anvil_accounts{status="valid"}': d["accounts"]["valid"],
        'anvil_orders{status="valid"}': d["orders"]["valid"],
        'anvil_authorizations{status="valid"}': d["authorizations"]["valid"],
        'anvil_crl_published': 1}
bad = [k for k, v in want.items() if m.get(k) != v]
if m.get('anvil_challenges{type="http-01",status="valid"}', 0) < 2:
    bad.append("http-01 valid challenges")
if not 0 <= m.get("anvil_crl_age_seconds", -1) < 120:
    bad.append("CRL age")
if m.get("anvil_crl_next_update_seconds", 0) <= time.time():
    bad.append("CRL nextUpdate")
if m.get("anvil_store_bytes", 0) <= 0:
    bad.append("store size")
# OCSP freshness: anvil-crl pre-signed up to two answers (SHA-1 and
# SHA-256 CertIDs) per unexpired certificate a moment ago: a request whose
# base64 no file name can hold is answered live (src/publish/ocsp.c), the
# SHA-1 one always has a file.
files = sum(len(f) for _, _, f in os.walk(sys.argv[3]))
if m.get("anvil_ocsp_enabled") != 1:
    bad.append("OCSP enabled")
if not (m.get("anvil_ocsp_presigned_answers") == files and
        d["certificates"]["issued"] <= files <= 2 * d["certificates"]["issued"]):
    bad.append("OCSP answers %s, files %d" %
               (m.get("anvil_ocsp_presigned_answers"), files))
if m.get("anvil_ocsp_presigned_stale") != 0:
    bad.append("OCSP stale")
if not 0 <= m.get("anvil_ocsp_presigned_oldest_age_seconds", -1) < 120:
    bad.append("OCSP oldest age")
if m.get("anvil_ocsp_presigned_oldest_next_update_seconds", 0) <= time.time():
    bad.append("OCSP oldest nextUpdate")
if m.get("anvil_ocsp_responder_not_after_seconds", 0) <= time.time() + 86400:
    bad.append("OCSP responder notAfter")
print(bad)
sys.exit(1 if bad else 0)
EOP
# An answer anvil-crl did not refresh for longer than [ocsp]
# validity_hours (24) is past its nextUpdate: the metrics count it.
old=$(find "$DATA/ocsp" -type f | head -n 1)
touch -d "@$(($(date +%s) - 25 * 3600))" "$old"
AD stats --format prometheus >"$T/prom" 2>&1
grep -qx "anvil_ocsp_presigned_stale 1" "$T/prom" &&
    ok "an answer older than validity_hours counts as stale" ||
    fail "stale OCSP answer: $(grep anvil_ocsp "$T/prom")"
expect_exit 0 "anvil-crl refreshes it" "$CRL" --config "$CONF" --quiet
AD stats --format prometheus >"$T/prom" 2>&1
grep -qx "anvil_ocsp_presigned_stale 0" "$T/prom" && ok "after anvil-crl no answer is stale" ||
    fail "after anvil-crl: $(grep anvil_ocsp "$T/prom")"
[ "$(ls -A "$T/textfile")" = anvil.prom ] && ok "the textfile folder holds the metrics file alone" ||
    fail "textfile folder: $(ls -A "$T/textfile")"
expect_exit 2 "stats --output without prometheus" AD stats --output "$T/textfile/x.prom"
expect_exit 1 "stats --output into a missing folder" AD stats --format prometheus \
    --output "$T/nowhere/anvil.prom"
grep -q "$T/nowhere/anvil.prom" "$T/out" && ok "the failure names the file" ||
    fail "stats --output failure: $(cat "$T/out")"

# ---------------------------------------------------------------- sweep: stuck
# An http-01 target that accepts and never answers; certbot (manual mode,
# a hook that does nothing) asks for validation; the validation runner
# (src/acme/runner.c) is killed while it waits. Its claim on the queue
# entry is abandoned 3 x timeout + 5 s after it was taken.
"$PY" - "$HTTP01_PORT" >"$T/hang.log" 2>&1 <<'EOF' &
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen(16)
held = []
while True:
    c, _ = s.accept()
    held.append(c)
    print("accepted", flush=True)
EOF
hang=$!
PIDS="$PIDS $hang"
REQUESTS_CA_BUNDLE="$CA_PEM" timeout 120 certbot --non-interactive \
    --server "$DIR_URL" --config-dir "$CB" --work-dir "$CB" --logs-dir "$CB" \
    certonly --manual --preferred-challenges http --manual-auth-hook /bin/true \
    -d stuck.admin.example.test --cert-name stuck >"$T/stuck.out" 2>&1 &
cbpid=$!	# timeout's: it passes the TERM on to certbot
# The validation runners of this server: "anvil-validate" processes with
# our config (idle ones from earlier validations too). Once the target has
# the validation's connection, all of them are killed. One pgrep, not a
# process per /proc entry: on a loaded machine that scan outlasted the
# validation's timeout.
find_validators() {
	for vp in $(pgrep -x anvil-validate); do
		{ tr '\0' '\n' <"/proc/$vp/environ"; } 2>/dev/null | grep -qxF "ANVIL_CONFIG=$CONF" || continue
		echo "$vp"
	done
}
n=0
while [ $n -lt 300 ] && ! grep -q accepted "$T/hang.log"; do
	sleep 0.1; n=$((n + 1))
done
vpids=$(find_validators)
if grep -q accepted "$T/hang.log" && [ -n "$vpids" ]; then
	# shellcheck disable=SC2086
	kill -9 $vpids
	killed_at=$(date +%s)
	ok "validation runners killed while one waited on the target:" $vpids
else
	fail "no validation reached the target"; cat "$T/stuck.out"
	killed_at=$(date +%s)
fi
kill "$cbpid" 2>/dev/null; wait "$cbpid" 2>/dev/null
kill "$hang" 2>/dev/null

expect_exit 0 "sweep before 3 x timeout" AD sweep
expect_out "sweep: 0 stuck challenge(s) failed" "a young processing challenge is left alone"
expect_exit 0 "stats while one is stuck" AD --json stats
expect_json 'd["orders"]["pending"] == 1' "the stuck order is pending"
wait_until=$((killed_at + 21))
while [ "$(date +%s)" -lt $wait_until ]; do sleep 1; done
expect_exit 0 "sweep after 3 x timeout + 5 s" AD sweep
expect_out "set invalid: validation did not finish (the process died)" "sweep: the stuck challenge is failed"
expect_out "sweep: 1 stuck challenge(s) failed" "sweep: summary counts it"
CH=$(sed -n 's/^challenge \([^ ]*\) (http-01 for dns:stuck.admin.example.test.*/\1/p' "$T/out")
SAZ=$(sed -n 's/.*; authorization \([^ ]*\) invalid.*/\1/p' "$T/out")
SOR=$(sed -n 's/.*; order \([^ ]*\) invalid$/\1/p' "$T/out")
[ -n "$CH" ] && [ -n "$SAZ" ] && [ -n "$SOR" ] && ok "sweep names the challenge, authorization and order" ||
    { fail "sweep output"; cat "$T/out"; }
expect_exit 0 "authz show of the stuck one" AD --json authz show "$SAZ"
expect_json "d['status'] == 'invalid' and [c for c in d['challenges'] if c['id'] == '$CH'][0]['status'] == 'invalid' and [c for c in d['challenges'] if c['id'] == '$CH'][0]['error'] == 'validation did not finish (the process died)'" "challenge and authorization invalid with the message"
expect_exit 0 "orders show of the stuck one" AD --json orders show "$SOR"
expect_json "d['status'] == 'invalid' and d['error']['type'] == 'urn:ietf:params:acme:error:serverInternal' and 'process died' in d['error']['detail']" "its order invalid with a serverInternal error"
expect_exit 0 "--json sweep again" AD --json sweep
expect_json 'd["challenges_failed"] == [] and d["orders_dropped"] == [] and d["errors"] == 0' "sweep JSON: nothing more to do"

# ---------------------------------------------------------------- sweep: old
# anvil-admin with time() 40 days on: orders expire after 7 days, so the
# invalid one is 33 days past; nonces last an hour.
cat >"$T/shift.c" <<'EOF'
#include <stdlib.h>
#include <time.h>
time_t time(time_t *t)
{
	struct timespec ts;
	const char *s = getenv("ANVIL_TEST_TIME_SHIFT");
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += s ? atol(s) : 0;
	if (t)
		*t = ts.tv_sec;
	return ts.tv_sec;
}
EOF
if ${CC:-cc} -shared -fPIC -o "$T/shift.so" "$T/shift.c" 2>"$T/cc.out"; then
	later() { LD_PRELOAD="$T/shift.so" ANVIL_TEST_TIME_SHIFT=$((40 * 86400)) \
	    ASAN_OPTIONS="${ASAN_OPTIONS:-}:verify_asan_link_order=0" AD "$@"; }
	expect_exit 0 "sweep 40 days on" later sweep
	expect_out "order $SOR (invalid, expired" "sweep: the long-expired invalid order is dropped"
	expect_out "dropped with 1 authorization(s) and 3 challenge(s)" "with its authorization and its three challenges"
	grep -Eq 'sweep: 0 stuck challenge\(s\) failed, [1-9][0-9]* expired nonce\(s\) dropped, 1 order\(s\), 1 authorization\(s\) and 3 challenge\(s\) dropped' "$T/out" &&
	    ok "sweep: spent nonces dropped too" || { fail "sweep summary"; cat "$T/out"; }
	expect_exit 1 "the dropped order is gone" AD orders show "$SOR"
	expect_exit 1 "the dropped authorization is gone" AD authz show "$SAZ"
	expect_exit 0 "the valid order stays" AD orders show "$ORDER"
	expect_exit 0 "--json sweep 40 days on again" later --json sweep
	expect_json 'd["orders_dropped"] == [] and d["nonces_purged"] == 0' "sweep JSON: nothing left to drop"
else
	fail "cannot build the time shim"; cat "$T/cc.out"
fi

# ---------------------------------------------------------------- db check
expect_exit 0 "db check while the server serves" AD db check
expect_out "is sound" "db check: sound"
grep -q "anvil-admin: db check:" "$T/out" && fail "db check wrote progress without a terminal" ||
    ok "db check: no progress line without a terminal (cron)"
# On a terminal (script(1) gives it one) it says how far it is.
script -q -e -c "$ADMIN --config $CONF db check" "$T/pty" >/dev/null 2>&1
tr '\r' '\n' <"$T/pty" | grep -q "^anvil-admin: db check: certs.db [0-9]*/[0-9]* (" &&
    ok "db check: a progress line on a terminal" || fail "db check on a terminal: $(tr '\r' '\n' <"$T/pty" | head -5)"
script -q -e -c "$ADMIN --config $CONF db backup $T/bk-pty" "$T/pty" >/dev/null 2>&1
tr '\r' '\n' <"$T/pty" | grep -q "^anvil-admin: db backup: copying" &&
    ok "db backup: a progress line on a terminal" || fail "db backup on a terminal: $(tr '\r' '\n' <"$T/pty" | head -5)"
expect_exit 0 "--json db check" AD --json db check
expect_json 'd["ok"] is True' "db check JSON: ok"
ls -a "$DATA" | grep -q '^\.anvil-check' && fail "db check left its snapshot" || ok "db check removed its snapshot"

# ---------------------------------------------------------------- db backup
AD --json certs list >"$T/out" 2>&1
pre=$(pyj "' '.join(sorted(c['serial'] for c in d))")
# A certificate being issued while the backup runs.
issue three three.admin.example.test >"$T/three.out" 2>&1 &
cb3=$!
sleep 1
expect_exit 0 "db backup while certbot issues" AD db backup "$T/backup/"
expect_out "holds a recovered copy" "db backup: what it did"
expect_exit 0 "db check while certbot issues" AD db check
wait $cb3 && ok "certbot issues three during the backup" || { fail "certbot three"; tail "$T/three.out"; }
AD --json certs list >"$T/out" 2>&1
post=$(pyj "' '.join(sorted(c['serial'] for c in d))")
ls "$T/backup" | grep -q partial && fail "partial folder left" || ok "no partial folder left"
ls "$T"/backup.partial-* >/dev/null 2>&1 && fail "partial sibling left" || ok "no partial sibling left"
expect_exit 1 "db backup into a folder that is not empty" AD db backup "$T/backup"
expect_out "not empty" "non-empty target refused"
expect_exit 2 "db without a subcommand" AD db

# Restore: a new data folder from the backup and the CA files.
R="$T/restored"
mkdir -p "$R"
chmod 700 "$R"
cp -a "$T/backup" "$R/store"
cp -p "$DATA/ca.pem" "$DATA/ca.key" "$R/"
sed "s|^data_dir = .*|data_dir = $R|" "$CONF" >"$R/anvil.conf"
expect_exit 0 "certs list in the restored data folder" "$ADMIN" --config "$R/anvil.conf" --json certs list
restored=$(pyj "' '.join(sorted(c['serial'] for c in d))")
"$PY" - "$pre" "$restored" "$post" >"$T/out" 2>&1 <<'EOF'
import sys
pre, got, post = (set(a.split()) for a in sys.argv[1:])
assert pre <= got <= post, (pre, got, post)
print("restored %d of %d" % (len(got), len(post)))
EOF
expect_out "restored" "the restored store has every certificate of before the backup (and none that did not exist)"
expect_exit 0 "certs list (human) in the restored folder" "$ADMIN" --config "$R/anvil.conf" certs list
expect_out "$s1" "restored: one listed"
expect_out "$s2" "restored: two listed"
expect_exit 0 "accounts show in the restored folder" "$ADMIN" --config "$R/anvil.conf" accounts show "$ACC"
expect_exit 0 "db check of the restored store" "$ADMIN" --config "$R/anvil.conf" db check

# A copy of the restored store (not in use) with certs.db damaged past its
# first page.
D="$T/damaged"
mkdir -p "$D/store"
chmod 700 "$D"
cp -p "$R"/store/*.db "$R"/store/log.* "$D/store/"
cp -p "$DATA/ca.pem" "$DATA/ca.key" "$D/"
sed "s|^data_dir = .*|data_dir = $D|" "$CONF" >"$D/anvil.conf"
size=$(stat -c %s "$D/store/certs.db")
printf 'this page is damaged this page is damaged this page is damaged' |
    dd of="$D/store/certs.db" bs=1 seek=$((4096 + 600)) conv=notrunc 2>/dev/null
[ "$(stat -c %s "$D/store/certs.db")" -eq "$size" ] && ok "certs.db damaged in place" || fail "damage changed the size"
expect_exit 1 "db check of the damaged copy" "$ADMIN" --config "$D/anvil.conf" db check
expect_out "certs.db" "db check names the damaged file"
expect_no "accounts.db" "db check does not blame the sound files"
ls -a "$D" | grep -q '^\.anvil-check' && fail "snapshot left after a failed check" || ok "snapshot removed after a failed check"

# An index entry that no record accounts for, written with db5.3_load
# (Debian's db5.3-util; skipped without it) into another copy.
if command -v db5.3_load >/dev/null 2>&1 && command -v db5.3_dump >/dev/null 2>&1; then
	X="$T/stale"
	mkdir -p "$X/store"
	chmod 700 "$X"
	cp -p "$R"/store/*.db "$R"/store/log.* "$X/store/"
	cp -p "$DATA/ca.pem" "$DATA/ca.key" "$X/"
	sed "s|^data_dir = .*|data_dir = $X|" "$CONF" >"$X/anvil.conf"
	db5.3_dump -h "$X/store" idx_revoked.db >"$T/rev.dump"
	rm "$X/store/idx_revoked.db"
	sed '/^DATA=END/i\ 6465616462656566\n 31' "$T/rev.dump" | db5.3_load -h "$X/store" idx_revoked.db
	expect_exit 1 "db check with a stale index entry" "$ADMIN" --config "$X/anvil.conf" db check
	expect_out "idx_revoked.db: 2 entries, the records account for 1" "db check finds the index entry without a record"
else
	echo "skip: db5.3_load not installed, no stale index check"
fi

# ---------------------------------------------------------------- deactivate
expect_exit 0 "accounts deactivate" AD accounts deactivate "$ACC"
expect_out "deactivated" "deactivate: what was done"
expect_exit 1 "accounts deactivate again" AD accounts deactivate "$ACC"
expect_out "already revoked" "deactivate again: says so"
expect_exit 0 "--json accounts list after" AD --json accounts list
expect_json 'd[0]["status"] == "revoked"' "the account's status is revoked (server-side, RFC 8555 7.1.6)"
expect_exit 0 "--json stats after" AD --json stats
expect_json 'd["accounts"]["revoked"] == 1 and d["accounts"]["valid"] == 0 and d["certificates"]["revoked"] == 1' "stats JSON: the revoked account and certificate"
expect_exit 1 "certbot cannot order with the deactivated account" issue four four.admin.example.test
grep -q '"detail": "account is not valid, it is revoked"' "$CB/letsencrypt.log" &&
    ok "the server refuses the account: unauthorized" || fail "certbot: $(tail -3 "$T/out")"

# ---------------------------------------------------------------- progress
# renewal advise over the whole store: a progress line on a terminal,
# none in cron.
expect_exit 0 "renewal advise --issued-before (no terminal)" AD renewal advise \
    --issued-before "$(date -u -d tomorrow +%Y-%m-%d)"
grep -q "anvil-admin: renewal advise:" "$T/out" && fail "renewal advise wrote progress without a terminal" ||
    ok "renewal advise: no progress line without a terminal"
script -q -e -c "$ADMIN --config $CONF renewal advise --issued-before $(date -u -d tomorrow +%Y-%m-%d)" \
    "$T/pty" >/dev/null 2>&1
tr '\r' '\n' <"$T/pty" | grep -q "^anvil-admin: renewal advise: [0-9]*/[0-9]* (" &&
    ok "renewal advise: a progress line on a terminal" ||
    fail "renewal advise on a terminal: $(tr '\r' '\n' <"$T/pty" | head -5)"

# ---------------------------------------------------------------- audit
# Every event once (each CGI request is its own process appending to
# data_dir/audit.log): one account.created per account, one
# order.finalized per certificate issued, the server-side revocation and
# deactivation by the operator; no key, PEM or JWS in the file.
expect_exit 0 "--json stats for the audit" AD --json stats
issued=$(pyj 'd["certificates"]["issued"]')
accounts=$(pyj 'sum(d["accounts"].values())')
expect_exit 0 "--json audit" AD --json audit
expect_json "sorted(e['serial'] for e in d if e['event'] == 'order.finalized') == sorted(set(e['serial'] for e in d if e['event'] == 'order.finalized')) and len([e for e in d if e['event'] == 'order.finalized']) == $issued" "audit: one order.finalized per certificate ($issued)"
expect_json "len([e for e in d if e['event'] == 'account.created']) == $accounts" "audit: one account.created per account ($accounts)"
expect_json "[e['by'] for e in d if e['event'] == 'certificate.revoked' and e['serial'] == '$s1'] == ['operator']" "audit: the operator's revocation of $s1"
expect_json "[e['by'] for e in d if e['event'] == 'account.deactivated' and e['account'] == '$ACC'] == ['operator']" "audit: the operator's deactivation"
expect_json "all(e['identifiers'] and e['account'] and e['profile'] for e in d if e['event'] == 'order.finalized')" "audit: finalized orders carry identifiers, account and profile"
expect_exit 0 "audit --serial" AD audit --serial "$s2"
expect_out "order.finalized" "audit --serial: the order that issued $s2"
grep -Eq 'BEGIN|"kty"|"jwk"|"signature"|"protected"|"payload"|"hmac"' "$DATA/audit.log" &&
    fail "audit.log holds key or JWS material" || ok "audit.log holds no key or JWS material"
[ "$(stat -c %a "$DATA/audit.log")" = 600 ] && ok "audit.log is 0600" ||
    fail "audit.log mode $(stat -c %a "$DATA/audit.log")"

# ---------------------------------------------------------------- usage
expect_exit 2 "accounts without a subcommand" AD accounts
expect_exit 2 "stats with an argument" AD stats now
expect_exit 2 "sweep with an argument" AD sweep now
"$ADMIN" --help >"$T/out" 2>&1
expect_out "Exit status: 0 success, 1 the operation failed, 2 usage error" "--help documents the exit codes"
expect_out "db backup DIR" "--help lists db backup"
finish
