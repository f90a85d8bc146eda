#!/bin/sh
# eab.sh - External Account Binding with eab_required = true: keys made by
# anvil-admin while the server runs; certbot and lego register with them;
# HS256/HS384/HS512; a wrong MAC, a reused single-use key, a disabled key
# and an expired-by-design unknown key are refused and store nothing.
. "$(dirname "$0")/lib.sh"
BASEPORT=31000
EXTRA_CONF="[accounts]
eab_required = true"
. "$(dirname "$0")/server.sh"
start_servers
PY=/usr/bin/python3
EC="$top_srcdir/tests/integration/eab_client.py"

curl -s --cacert "$CA_PEM" "$DIR_URL" | grep -q '"externalAccountRequired": true' &&
    ok "directory meta says externalAccountRequired" || fail "meta lacks externalAccountRequired"

# mkkey ARGS...: sets KID and HMAC from "anvil-admin --json eab create".
mkkey() {
	"$ADMIN" --config "$CONF" --json eab create "$@" >"$T/key.json" || { fail "eab create $*"; return 1; }
	KID=$($PY -c 'import json,sys; print(json.load(open(sys.argv[1]))["kid"])' "$T/key.json")
	HMAC=$($PY -c 'import json,sys; print(json.load(open(sys.argv[1]))["hmac_key"])' "$T/key.json")
}

expect_exit 0 "no binding refused" $PY "$EC" "$DIR_URL" "$CA_PEM" none x x HS256
cat "$T/out"
for alg in HS256 HS384 HS512; do
	mkkey --alg $alg
	expect_exit 0 "$alg key binds an account" $PY "$EC" "$DIR_URL" "$CA_PEM" good "$KID" "$HMAC" $alg
done
mkkey
expect_exit 0 "wrong MAC refused" $PY "$EC" "$DIR_URL" "$CA_PEM" badmac "$KID" "$HMAC" HS256
expect_exit 0 "unknown key id refused" $PY "$EC" "$DIR_URL" "$CA_PEM" refused "no-such-kid" "$HMAC" HS256
mkkey --single-use
expect_exit 0 "single-use key binds once" $PY "$EC" "$DIR_URL" "$CA_PEM" good "$KID" "$HMAC" HS256
expect_exit 0 "single-use key refused the second time" $PY "$EC" "$DIR_URL" "$CA_PEM" refused "$KID" "$HMAC" HS256
mkkey --expires 30
expect_exit 0 "anvil-admin eab disable" "$ADMIN" --config "$CONF" eab disable "$KID"
expect_exit 0 "disabled key refused" $PY "$EC" "$DIR_URL" "$CA_PEM" refused "$KID" "$HMAC" HS256
expect_exit 2 "eab create --alg HS1 refused" "$ADMIN" --config "$CONF" eab create --alg HS1
expect_exit 1 "disabling an unknown key fails" "$ADMIN" --config "$CONF" eab disable nope

expect_exit 0 "ca show while serving" "$ADMIN" --config "$CONF" ca show
expect_out "subject: CN=Anvil Private CA,O=Anvil" "ca show: subject"
expect_out "sha256_fingerprint: " "ca show: fingerprint"
fp=$(certtool --fingerprint --hash sha256 --infile "$CA_PEM" 2>/dev/null | tr -d ':' | tr A-F a-f)
expect_out "$fp" "ca show: the fingerprint is the CA certificate's"
expect_exit 2 "ca with no subcommand" "$ADMIN" --config "$CONF" ca

# Real clients.
mkkey
CB="$T/certbot"
certbot_run() {
	REQUESTS_CA_BUNDLE="$CA_PEM" timeout 180 certbot --non-interactive \
	    --server "$DIR_URL" --config-dir "$CB" --work-dir "$CB" \
	    --logs-dir "$CB" --agree-tos -m ops@example.org "$@"
}
expect_exit 1 "certbot without EAB is refused" certbot_run register
grep -q "externalAccountRequired" "$CB/letsencrypt.log" && ok "certbot was told externalAccountRequired" ||
    fail "no externalAccountRequired in certbot's log"
expect_exit 0 "certbot registers with --eab-kid/--eab-hmac-key" certbot_run register \
    --eab-kid="$KID" --eab-hmac-key="$HMAC"
expect_exit 0 "certbot issues with its EAB account" certbot_run certonly --standalone \
    --http-01-address 127.0.0.1 --http-01-port "$HTTP01_PORT" -d eab.example.test --cert-name eab
verify_chain "$CB/live/eab/fullchain.pem" "certbot with EAB"

mkkey
expect_exit 0 "lego registers with --eab --kid --hmac and issues" env LEGO_CA_CERTIFICATES="$CA_PEM" \
    timeout 180 lego --accept-tos --email ops@example.org --server "$DIR_URL" --path "$T/lego" \
    --eab --kid="$KID" --hmac="$HMAC" --domains lego-eab.example.test \
    --http --http.port "127.0.0.1:$HTTP01_PORT" run
verify_chain "$T/lego/certificates/lego-eab.example.test.crt" "lego with EAB"

# Name policy: per EAB key and global, changed while the server runs.
mkkey
expect_exit 0 "policy allow for one key" "$ADMIN" --config "$CONF" policy --eab "$KID" allow ok.example.test
expect_out '"ok.example.test"' "policy shows the allowed name"
expect_exit 2 "a bad pattern is refused" "$ADMIN" --config "$CONF" policy allow 'bad name!'
expect_exit 1 "policy for an unknown key is refused" "$ADMIN" --config "$CONF" policy --eab nope allow x.test
lego_key() {
	LEGO_CA_CERTIFICATES="$CA_PEM" timeout 180 lego --accept-tos --email pol@example.org \
	    --server "$DIR_URL" --path "$T/lego-pol" --eab --kid="$KID" --hmac="$HMAC" \
	    --http --http.port "127.0.0.1:$HTTP01_PORT" "$@" run
}
expect_exit 0 "policy-limited key gets a name inside its list" lego_key --domains www.ok.example.test
expect_exit 1 "policy-limited key cannot get a name outside its list" lego_key --domains other.example.test
expect_out "rejectedIdentifier" "refused with rejectedIdentifier"
expect_exit 0 "global deny" "$ADMIN" --config "$CONF" policy deny bad.ok.example.test
expect_exit 1 "a globally denied name is refused even inside the key's list" lego_key --domains bad.ok.example.test
expect_out "rejectedIdentifier" "global deny gives rejectedIdentifier"
expect_exit 0 "policy remove" "$ADMIN" --config "$CONF" policy remove bad.ok.example.test
expect_exit 0 "the name is allowed again" lego_key --domains bad.ok.example.test
expect_exit 0 "--json policy show" "$ADMIN" --config "$CONF" --json policy show
$PY -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["deny"] == [] and d["scope"] == "global"' "$T/out" &&
    ok "global policy is empty again" || fail "policy show: $(cat "$T/out")"

# Certificate profiles per EAB key: its accounts get only the listed ones,
# and an order naming none (lego names none) the first listed when the
# server's default is not listed.
expect_exit 0 "policy allow-profile for one key" "$ADMIN" --config "$CONF" policy --eab "$KID" allow-profile shortlived
expect_out '"shortlived"' "policy shows the key's profile"
expect_exit 2 "allow-profile of a profile anvil.conf lacks" "$ADMIN" --config "$CONF" policy --eab "$KID" allow-profile nope
expect_exit 2 "allow-profile without --eab" "$ADMIN" --config "$CONF" policy allow-profile shortlived
expect_exit 0 "the key's order gets the key's profile" lego_key --domains short.ok.example.test
$PY - "$T/lego-pol/certificates/short.ok.example.test.crt" <<'EOP' && ok "shortlived certificate: 7 days, no subject CN" || fail "the key's profile was not applied"
import sys
from cryptography import x509
c = x509.load_pem_x509_certificate(open(sys.argv[1], "rb").read())
after = getattr(c, "not_valid_after_utc", None) or c.not_valid_after
before = getattr(c, "not_valid_before_utc", None) or c.not_valid_before
assert (after - before).days == 7, after - before
assert not c.subject.get_attributes_for_oid(x509.oid.NameOID.COMMON_NAME)
EOP
expect_exit 0 "policy remove-profile" "$ADMIN" --config "$CONF" policy --eab "$KID" remove-profile shortlived
expect_exit 1 "remove-profile of a profile not listed" "$ADMIN" --config "$CONF" policy --eab "$KID" remove-profile shortlived

expect_exit 0 "eab list" "$ADMIN" --config "$CONF" eab list
expect_out "kid" "eab list has a header"
grep -q "disabled" "$T/out" && ok "eab list shows the disabled key" || fail "no disabled key listed"
grep -q "$HMAC" "$T/out" && fail "eab list shows a secret" || ok "eab list shows no HMAC key"
expect_exit 0 "eab list --json" "$ADMIN" --config "$CONF" --json eab list
$PY -c 'import json,sys; rows=json.load(open(sys.argv[1])); assert len(rows) >= 8; assert any(r["accounts"] == 1 for r in rows)' "$T/out" &&
    ok "eab list --json: every key, bound accounts counted" || fail "eab list --json: $(cat "$T/out")"
finish
