#!/bin/sh
# rollover.sh - CA rollover (issue 20 part 3) with Debian's certbot and
# lego against Anvil behind lighttpd (FastCGI): certificates issued before
# `anvil-admin ca rollover`, the rollover while the server runs, then
# certificates from generation 2 whose default chain (through the
# cross-certificate) verifies against ca.pem and whose alternate chain
# (RFC 8555 7.4.2 Link rel="alternate") certbot and lego pick with
# --preferred-chain; renewal advise --ca-generation 1 opens the ARI window
# of the pre-rollover certificates, which still verify and are revoked
# through ACME (certbot) and anvil-admin revoke. Then anvil-crl
# signs one CRL per generation, each with that generation's key, and
# OCSP answers (live and pre-signed) come from the generation that issued
# the certificate: openssl verify -crl_check and openssl ocsp check both.
. "$(dirname "$0")/lib.sh"
BASEPORT=12000
. "$(dirname "$0")/server.sh"
CRL="$top_builddir/anvil-crl"
OCSP_URL="http://127.0.0.1:$PUBLISH_PORT/acme/ocsp"
EXTRA_CONF="ocsp_url = $OCSP_URL"
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

# ARI: the window of every generation 1 certificate opens at once; the
# renewalInfo URL still answers for the old key identifier.
RI=$(echo "$DIR_URL" | sed 's|/directory$|/renewal-info|')
# ri_start FILE: seconds from now to the start of the suggested window.
ri_start() {
	curl -s --max-time 10 --cacert "$CA_PEM" "$RI/$(cert_id "$1")" |
	    /usr/bin/python3 -c 'import datetime,json,sys
d = json.load(sys.stdin)
s = datetime.datetime.strptime(d["suggestedWindow"]["start"][:19], "%Y-%m-%dT%H:%M:%S")
s = s.replace(tzinfo=datetime.timezone.utc)
print(int((s - datetime.datetime.now(datetime.timezone.utc)).total_seconds()))'
}
expect_exit 0 "renewal advise --ca-generation 1" "$ADMIN" --config "$CONF" \
    renewal advise --ca-generation 1
expect_out "for 2 certificates" "both pre-rollover certificates advised"
a=$(ri_start "$CB/live/old/cert.pem"); b=$(ri_start "$CB/live/alt/cert.pem")
[ -n "$a" ] && [ "$a" -le 0 ] && ok "ARI: a generation 1 certificate renews now" ||
    fail "ARI of the generation 1 certificate: \"$a\""
[ -n "$b" ] && [ "$b" -gt 86400 ] && ok "ARI: a generation 2 certificate keeps its window" ||
    fail "ARI of the generation 2 certificate: \"$b\""

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

# CRL and OCSP per generation. A generation 2 certificate revoked too.
expect_exit 0 "ACME revoke of a generation 2 certificate" certbot_run revoke \
    --cert-path "$CB/live/new/cert.pem" --reason superseded --no-delete-after-revoke
openssl x509 -in "$CB/live/alt/cert.pem" -noout -ext crlDistributionPoints 2>/dev/null |
    grep -q "/crl/anvil-g2.crl" && ok "generation 2 certificate names anvil-g2.crl" ||
    fail "CRL DP: $(openssl x509 -in "$CB/live/alt/cert.pem" -noout -ext crlDistributionPoints 2>&1)"
openssl x509 -in "$CB/live/old/cert.pem" -noout -ext crlDistributionPoints 2>/dev/null |
    grep -q "/crl/anvil.crl" && ok "generation 1 certificate names anvil.crl" ||
    fail "CRL DP of the old certificate"
pub="$T/pub"
expect_exit 0 "anvil-crl signs a CRL per generation" "$CRL" --config "$CONF" --out "$pub"
expect_out "CRL 1 written to $pub/anvil.crl " "generation 1's CRL, as before"
expect_out "CRL 1 of CA generation 2 written to $pub/anvil-g2.crl " "generation 2's CRL"
grep -q "retired" "$T/out" && fail "generation 1 retired with live certificates" ||
    ok "generation 1 with live certificates is not retired"
certtool --verify-crl --load-ca-certificate "$CA_PEM" --infile "$pub/anvil.crl.pem" >"$T/v" 2>&1 &&
    ok "anvil.crl verifies with ca.pem" || { fail "anvil.crl signature"; cat "$T/v"; }
certtool --verify-crl --load-ca-certificate "$DATA/ca-g2.pem" --infile "$pub/anvil-g2.crl.pem" >"$T/v" 2>&1 &&
    ok "anvil-g2.crl verifies with ca-g2.pem" || { fail "anvil-g2.crl signature"; cat "$T/v"; }
s_new=$(cert_serial "$CB/live/new/cert.pem")
certtool --crl-info --infile "$pub/anvil.crl.pem" >"$T/c1" 2>&1
certtool --crl-info --infile "$pub/anvil-g2.crl.pem" >"$T/c2" 2>&1
grep -qi "Serial Number (hex): $s_old" "$T/c1" && grep -qi "Serial Number (hex): $s_oldlego" "$T/c1" &&
    ! grep -qi "Serial Number (hex): $s_new" "$T/c1" && ok "anvil.crl lists generation 1's revocations only" ||
    { fail "anvil.crl entries"; cat "$T/c1"; }
grep -qi "Serial Number (hex): $s_new" "$T/c2" && ! grep -qi "Serial Number (hex): $s_old" "$T/c2" &&
    ok "anvil-g2.crl lists generation 2's revocation only" || { fail "anvil-g2.crl entries"; cat "$T/c2"; }
# AIA caIssuers of a generation 2 certificate: its cross-certificate,
# published by anvil-crl (default folder) over plain HTTP, chains to ca.pem.
expect_exit 0 "anvil-crl into the served folder" "$CRL" --config "$CONF"
aia=$(openssl x509 -in "$CB/live/alt/cert.pem" -noout -ext authorityInfoAccess 2>/dev/null |
    sed -n 's/.*CA Issuers - URI:\(.*\)/\1/p')
case $aia in */crl/ca-g2-cross.crt) ok "AIA caIssuers names ca-g2-cross.crt" ;;
*) fail "AIA caIssuers: \"$aia\"" ;; esac
if curl -s --max-time 10 -o "$T/aia.der" "$aia" &&
    openssl x509 -inform DER -in "$T/aia.der" -out "$T/aia.pem" 2>/dev/null &&
    openssl verify -CAfile "$CA_PEM" "$T/aia.pem" >/dev/null 2>&1 &&
    openssl verify -CAfile "$CA_PEM" -untrusted "$T/aia.pem" "$CB/live/alt/cert.pem" >/dev/null 2>&1
then ok "the fetched caIssuers certificate completes the chain to ca.pem"
else fail "caIssuers $aia does not complete the chain"; fi

# crl_verify ANCHOR CRL FILE WANT DESC: openssl verify -crl_check of the
# leaf in FILE (chain after it) says WANT ("OK" or "certificate revoked").
crl_verify() {
	awk 'n { print } /END CERTIFICATE/ { n = 1 }' "$3" >"$T/untrusted.pem"
	openssl verify -crl_check -CAfile "$1" -CRLfile "$2" -untrusted "$T/untrusted.pem" \
	    "$3" >"$T/cv" 2>&1
	grep -q "$4" "$T/cv" && ok "$5: openssl verify -crl_check: $4" ||
	    { fail "$5: openssl verify -crl_check"; cat "$T/cv"; }
}
crl_verify "$CA_PEM" "$pub/anvil.crl.pem" "$CB/live/old/fullchain.pem" "certificate revoked" \
    "pre-rollover certificate"
crl_verify "$CA_PEM" "$pub/anvil-g2.crl.pem" "$CB/live/new/fullchain.pem" "certificate revoked" \
    "revoked generation 2 certificate, default chain"
crl_verify "$CA_PEM" "$pub/anvil-g2.crl.pem" "$CB/live/dflt/fullchain.pem" ": OK" \
    "good generation 2 certificate, default chain"
crl_verify "$DATA/ca-g2.pem" "$pub/anvil-g2.crl.pem" "$CB/live/alt/fullchain.pem" ": OK" \
    "good generation 2 certificate, alternate chain"

# ocsp_check DESC ISSUER CERT ANCHOR STATUS: a live POST answer (with a
# nonce) for CERT under ISSUER verifies against ANCHOR and says STATUS.
# CERT may be -serial 0x..., for a CertID of ISSUER's name and key.
ocsp_check() {
	case $3 in -serial*) what="-serial ${3#-serial }" ;; *) what="-cert $3" ;; esac
	# shellcheck disable=SC2086
	if openssl ocsp -issuer "$2" $what -url "$OCSP_URL" -CAfile "$4" \
	    >"$T/oc" 2>&1 && grep -q "Response verify OK" "$T/oc" &&
	    grep -q ": $5\$" "$T/oc"; then ok "$1: OCSP $5"
	else fail "$1: OCSP not a verified $5"; sed 's/^/    /' "$T/oc"; fi
}
ocsp_check "pre-rollover certificate" "$CA_PEM" "$CB/live/old/cert.pem" "$CA_PEM" revoked
ocsp_check "generation 2 certificate" "$DATA/ca-g2.pem" "$CB/live/alt/cert.pem" \
    "$DATA/ca-g2.pem" good
ocsp_check "revoked generation 2 certificate" "$DATA/ca-g2.pem" "$CB/live/new/cert.pem" \
    "$DATA/ca-g2.pem" revoked
ocsp_check "generation 1 serial under generation 2's name" "$DATA/ca-g2.pem" \
    "-serial 0x$s_old" "$DATA/ca-g2.pem" unknown
# Pre-signed by anvil-crl, served by lighttpd: generation 2's answer.
openssl ocsp -issuer "$DATA/ca-g2.pem" -sha1 -cert "$CB/live/alt/cert.pem" -no_nonce \
    -reqout "$T/alt.req" >/dev/null 2>&1
b64=$(base64 -w0 "$T/alt.req")
curl -s --max-time 10 -o "$T/alt.der" "$OCSP_URL/$b64"
case $b64 in */) ok "pre-signed: request ends in / (answered live)" ;;
*) cmp -s "$T/alt.der" "$DATA/ocsp/$(printf '%s' "$b64" | tr -s /)" &&
	ok "pre-signed answer of generation 2 served" || fail "no pre-signed generation 2 answer" ;;
esac
openssl ocsp -respin "$T/alt.der" -issuer "$DATA/ca-g2.pem" -sha1 -cert "$CB/live/alt/cert.pem" \
    -CAfile "$DATA/ca-g2.pem" -no_nonce >"$T/oc" 2>&1 && grep -q "Response verify OK" "$T/oc" &&
    grep -q ": good\$" "$T/oc" && ok "pre-signed generation 2 answer verifies, good" ||
    { fail "pre-signed generation 2 answer"; cat "$T/oc"; }
finish
