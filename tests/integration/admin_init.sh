#!/bin/sh
# admin_init.sh - anvil-admin init through its command line: creates a CA
# and a store from a config, keeps them on a second run, refuses partial
# state and bad configs with the documented exit codes.
. "$(dirname "$0")/lib.sh"

data="$T/data"
conf="$T/anvil.conf"
cat >"$conf" <<EOC
[server]
base_url = https://127.0.0.1:8443/acme
data_dir = $data
[ca]
key_type = ed25519
common_name = Init Test CA
EOC

expect_exit 0 "--help" "$ADMIN" --help
expect_out "Exit status" "--help documents exit codes"
expect_exit 2 "no command" "$ADMIN" --config "$conf"
expect_exit 2 "unknown command" "$ADMIN" --config "$conf" frobnicate
expect_out "unknown command" "unknown command named"

expect_exit 0 "init creates" "$ADMIN" --config "$conf" init
expect_out "CA initialised: $data/ca.pem" "init says where the CA is"
[ -f "$data/ca.key" ] && ok "key written" || fail "no key"
mode=$(stat -c %a "$data/ca.key")
[ "$mode" = 600 ] && ok "key mode 0600" || fail "key mode $mode"
[ -d "$data/store" ] && ok "store created" || fail "no store folder"
certtool -i --infile "$data/ca.pem" >"$T/info" 2>&1 || fail "certtool cannot read the CA"
grep -q "Subject: CN=Init Test CA" "$T/info" && ok "CA subject" || fail "CA subject wrong"
grep -q "Certificate Authority (CA): TRUE" "$T/info" && ok "CA basicConstraints" || fail "not a CA"
grep -q "EdDSA (Ed25519)" "$T/info" && ok "Ed25519 key" || fail "key type wrong"
certtool --verify --load-ca-certificate "$data/ca.pem" --infile "$data/ca.pem" >/dev/null 2>&1 &&
    ok "CA self-signature verifies" || fail "CA does not verify itself"

fp1=$(certtool --fingerprint --hash sha256 --infile "$data/ca.pem" 2>/dev/null)
expect_exit 0 "second init keeps the CA" "$ADMIN" --config "$conf" init
fp2=$(certtool --fingerprint --hash sha256 --infile "$data/ca.pem" 2>/dev/null)
[ -n "$fp1" ] && [ "$fp1" = "$fp2" ] && ok "same CA after second init" || fail "CA changed: $fp1 / $fp2"
# The order people type: the global option after the command.
expect_exit 0 "init --config FILE (option after the command)" \
    env ANVIL_CONFIG="$T/none.conf" "$ADMIN" init --config "$conf"
expect_out "CA initialised: $data/ca.pem" "init --config FILE reads FILE, not the default"
expect_exit 2 "init --config without its file" "$ADMIN" init --config
expect_out "--config needs a file" "the missing file is named"

mv "$data/ca.pem" "$T/ca.pem.saved"
expect_exit 1 "key without certificate refused" "$ADMIN" --config "$conf" init
expect_out "$data/ca.pem is missing" "message names the missing certificate"
[ ! -e "$data/ca.pem" ] && ok "nothing created in partial state" || fail "a certificate appeared"
mv "$T/ca.pem.saved" "$data/ca.pem"
mv "$data/ca.key" "$T/ca.key.saved"
expect_exit 1 "certificate without key refused" "$ADMIN" --config "$conf" init
expect_out "$data/ca.key is missing" "message names the missing key"
mv "$T/ca.key.saved" "$data/ca.key"

printf '[server]\nbase_url = https://a.test\ndata_dir = %s\nbogus = 1\n' "$data" >"$T/bad.conf"
expect_exit 3 "unknown key refused" "$ADMIN" --config "$T/bad.conf" init
expect_out "$T/bad.conf:4: unknown key \"bogus\"" "file:line names the bad key"
expect_exit 3 "missing config refused" "$ADMIN" --config "$T/none.conf" init
expect_out "$T/none.conf" "missing config named"
export ANVIL_CONFIG="$conf"
expect_exit 0 "ANVIL_CONFIG is read" "$ADMIN" init
unset ANVIL_CONFIG

printf '[server]\nbase_url = https://a.test\ndata_dir = %s/other\n[ca]\nkey_type = rsa:1024\n' "$T" >"$T/kt.conf"
expect_exit 3 "bad key type refused" "$ADMIN" --config "$T/kt.conf" init
expect_out "ec:P-256, P-256, ec:P-384" "accepted key types listed"

finish
