#!/bin/sh
# rollover.sh - CA rollover (issue 20 part 3) with Debian's certbot and
# lego against Anvil behind lighttpd (FastCGI): certificates issued before
# `anvil-admin ca rollover`, the rollover while the server runs, then
# certificates from generation 2 whose default chain (through the
# cross-certificate) verifies against ca.pem and whose alternate chain
# (RFC 8555 7.4.2 Link rel="alternate") certbot and lego pick with
# --preferred-chain; the pre-rollover certificates still verify and are
# revoked through ACME (certbot) and anvil-admin revoke.
. "$(dirname "$0")/lib.sh"
BASEPORT=12000
. "$(dirname "$0")/server.sh"
start_servers

G1="Anvil Private CA"
G2="Anvil Private CA G2"
CB="$T/certbot"
mkdir -p "$CB"
certbot_run() {
	REQUESTS_CA_BUNDLE="$CA_PEM" timeout 180 certbot --non-interactive \
	    --server "$DIR_URL" --config-dir "$CB" --work-dir "$CB" \
	    --logs-dir "$CB" --agree-tos -m ops@example.org "$@"
}
certbot_issue() {
	name=$1; shift
	certbot_run certonly --standalone --http-01-address 127.0.0.1 \
	    --http-01-port "$HTTP01_PORT" -d "$name.roll.example.test" \
	    --cert-name "$name" "$@"
}
# lego_run NAME [PREFERRED-CHAIN]
lego_run() {
	set -- "$1" "${2:-}"
	if [ -n "$2" ]; then set -- "$1" --preferred-chain "$2"; else set -- "$1"; fi
	name=$1; shift
	LEGO_CA_CERTIFICATES="$CA_PEM" timeout 180 lego --accept-tos \
	    --email ops-lego@example.org --server "$DIR_URL" --path "$T/lego-$name" \
	    --domains "$name.roll.example.test" --http \
	    --http.port "127.0.0.1:$HTTP01_PORT" run "$@"
}
# issuer_cns FILE: the issuer CN of every certificate in the PEM FILE.
issuer_cns() {
	certtool -i --infile "$1" 2>/dev/null | sed -n 's/^[[:space:]]*Issuer: .*CN=\([^,]*\).*/\1/p'
}
# verify_with ANCHOR FILE DESC: FILE (leaf and chain) verifies with
# openssl against ANCHOR alone.
verify_with() {
	awk 'n { print } /END CERTIFICATE/ { n = 1 }' "$2" >"$T/untrusted.pem"
	if openssl verify -CAfile "$1" -untrusted "$T/untrusted.pem" "$2" \
	    >"$T/ov" 2>&1; then ok "$3: openssl verify"
	else fail "$3: openssl verify"; cat "$T/ov"; fi
}

# Before the rollover: one certificate each from certbot and lego.
expect_exit 0 "certbot register" certbot_run register
expect_exit 0 "certbot issues before the rollover" certbot_issue old
verify_chain "$CB/live/old/fullchain.pem" "pre-rollover certbot certificate"
expect_exit 0 "lego issues before the rollover" lego_run oldlego
old_lego="$T/lego-oldlego/certificates/oldlego.roll.example.test.crt"
verify_chain "$old_lego" "pre-rollover lego certificate"
s_old=$(cert_serial "$CB/live/old/cert.pem")
s_oldlego=$(cert_serial "$old_lego")

# The rollover, while the server runs: no restart.
expect_exit 0 "anvil-admin ca rollover" "$ADMIN" --config "$CONF" ca rollover
expect_out "renewal advise" "rollover says how to renew the old generation's certificates"
[ "$(stat -c %a "$DATA/ca-g2.key")" = 600 ] && ok "generation 2 key is 0600" ||
    fail "generation 2 key mode $(stat -c %a "$DATA/ca-g2.key")"
expect_exit 0 "ca show after rollover" "$ADMIN" --config "$CONF" ca show
expect_out "newest_generation: 2" "ca show names generation 2 the newest"
expect_out "CN=$G2" "ca show lists generation 2"
expect_out "subject: CN=$G1," "ca show top level stays generation 1"
issuer_cns "$DATA/ca-g2-cross.pem" | grep -qx "$G1" &&
    ok "cross-certificate issued by generation 1" || fail "cross-certificate issuer"
expect_exit 1 "a broken cas.json stops ca show, naming it" sh -c \
    "cp '$DATA/cas.json' '$T/cas.save' && printf '{\"newest\": 99}' >'$DATA/cas.json' &&
    '$ADMIN' --config '$CONF' ca show; rc=\$?; cp '$T/cas.save' '$DATA/cas.json'; exit \$rc"
expect_out "$DATA/cas.json: \"newest\" must be" "the error names cas.json"

# After: the default chain runs through the cross-certificate to ca.pem.
expect_exit 0 "certbot issues after the rollover (default chain)" certbot_issue new
verify_chain "$CB/live/new/fullchain.pem" "default chain against ca.pem"
verify_with "$CA_PEM" "$CB/live/new/fullchain.pem" "default chain against ca.pem"
issuer_cns "$CB/live/new/cert.pem" | grep -qx "$G2" &&
    ok "new certificate issued by generation 2" || fail "new certificate issuer: $(issuer_cns "$CB/live/new/cert.pem")"
[ "$(issuer_cns "$CB/live/new/chain.pem" | tail -1)" = "$G1" ] &&
    ok "default chain tops out at generation 1" || fail "default chain: $(issuer_cns "$CB/live/new/chain.pem")"

# The alternate chain, chosen by the issuer of its topmost certificate.
expect_exit 0 "certbot --preferred-chain picks the alternate" certbot_issue alt \
    --preferred-chain "$G2"
[ "$(issuer_cns "$CB/live/alt/chain.pem")" = "$G2" ] &&
    ok "certbot: chain is generation 2's own certificate" ||
    fail "certbot alternate chain: $(issuer_cns "$CB/live/alt/chain.pem")"
cmp -s "$CB/live/alt/chain.pem" "$DATA/ca-g2.pem" && ok "certbot: alternate is ca-g2.pem" ||
    fail "certbot: alternate chain differs from ca-g2.pem"
verify_with "$DATA/ca-g2.pem" "$CB/live/alt/fullchain.pem" "alternate chain against ca-g2.pem"
expect_exit 0 "certbot --preferred-chain for a chain that does not exist" certbot_issue dflt \
    --preferred-chain "No Such CA"
[ "$(issuer_cns "$CB/live/dflt/chain.pem" | tail -1)" = "$G1" ] &&
    ok "certbot: no match keeps the default chain" || fail "certbot dflt chain: $(issuer_cns "$CB/live/dflt/chain.pem")"

expect_exit 0 "lego --preferred-chain picks the alternate" lego_run altlego "$G2"
alt_lego="$T/lego-altlego/certificates/altlego.roll.example.test.crt"
[ "$(issuer_cns "$alt_lego" | tail -1)" = "$G2" ] &&
    [ "$(grep -c 'BEGIN CERTIFICATE' "$alt_lego")" = 2 ] &&
    ok "lego: leaf and generation 2's own certificate" ||
    fail "lego alternate chain: $(issuer_cns "$alt_lego")"
verify_with "$DATA/ca-g2.pem" "$alt_lego" "lego alternate chain against ca-g2.pem"
expect_exit 0 "lego without a preference" lego_run newlego
new_lego="$T/lego-newlego/certificates/newlego.roll.example.test.crt"
[ "$(issuer_cns "$new_lego" | tail -1)" = "$G1" ] && ok "lego: default chain tops out at generation 1" ||
    fail "lego default chain: $(issuer_cns "$new_lego")"
verify_with "$CA_PEM" "$new_lego" "lego default chain against ca.pem"

# Pre-rollover certificates: still verify, still revocable both ways.
verify_chain "$CB/live/old/fullchain.pem" "pre-rollover certbot certificate after rollover"
verify_with "$CA_PEM" "$old_lego" "pre-rollover lego certificate after rollover"
expect_exit 0 "ACME revoke of a pre-rollover certificate" certbot_run revoke \
    --cert-path "$CB/live/old/cert.pem" --reason keycompromise --no-delete-after-revoke
expect_exit 0 "anvil-admin revoke of a pre-rollover certificate" "$ADMIN" --config "$CONF" \
    revoke "$s_oldlego" --reason superseded
for s in "$s_old" "$s_oldlego"; do
	"$ADMIN" --config "$CONF" --json certs show "$s" >"$T/show.json" 2>&1
	/usr/bin/python3 -c 'import json,sys
d = json.load(open(sys.argv[1]))
sys.exit(0 if d["status"] == "revoked" else 1)' "$T/show.json" &&
	    ok "certificate $s is revoked" || { fail "certs show $s"; cat "$T/show.json"; }
done
finish
