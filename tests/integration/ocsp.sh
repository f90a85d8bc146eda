#!/bin/sh
# ocsp.sh - the OCSP responder (RFC 6960, RFC 5019) behind the shipped web
# server config (lighttpd FastCGI by default; ocsp-apache.sh runs it under
# Apache): certbot issues two certificates carrying the OCSP URL; then
# ocsptool (GnuTLS) and openssl ocsp check good, revoked (with reason) and
# unknown answers, by GET and by POST, live (no pre-signed file yet) and
# pre-signed (served by the web server from anvil-crl's folder), before
# and after anvil-admin revoke and an ACME revoke; another issuer's
# request is unauthorized, garbage malformedRequest; a responder rotation
# keeps every answer verifiable.
. "$(dirname "$0")/lib.sh"
: "${BASEPORT:=19500}"
. "$(dirname "$0")/server.sh"
CRL="$top_builddir/anvil-crl"
case ${ANVIL_WEB:-lighttpd-fcgi} in
# lighttpd serves <prefix> on the plain-HTTP listener too: OCSP there, as
# RFC 5019 5 wants. Apache's plain listener publishes files only.
lighttpd-*) OCSP_URL="http://127.0.0.1:$PUBLISH_PORT/acme/ocsp" ;;
*) OCSP_URL="https://127.0.0.1:$HTTPS_PORT/acme/ocsp" ;;
esac
EXTRA_CONF="ocsp_url = $OCSP_URL"
start_servers

CB="$T/certbot"
certbot_run() {
	REQUESTS_CA_BUNDLE="$CA_PEM" timeout 180 certbot --non-interactive \
	    --server "$DIR_URL" --config-dir "$CB" --work-dir "$CB" \
	    --logs-dir "$CB" --agree-tos -m ops@example.org "$@"
}
for n in one two three; do
	expect_exit 0 "certbot issues $n" certbot_run certonly --standalone \
	    --http-01-address 127.0.0.1 --http-01-port "$HTTP01_PORT" \
	    -d "$n.ocsp.example.test" --cert-name "$n"
done
ONE="$CB/live/one/cert.pem"; TWO="$CB/live/two/cert.pem"; THREE="$CB/live/three/cert.pem"
uri=$(openssl x509 -in "$ONE" -noout -ocsp_uri)
[ "$uri" = "$OCSP_URL" ] && ok "AIA carries the OCSP URL" || fail "AIA OCSP: \"$uri\""

# A certificate of this CA's key the store does not know (unknown), and
# one of another CA (unauthorized).
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$T/stray.key" -subj /CN=stray -days 1 -out "$T/stray-self.pem" 2>/dev/null
openssl x509 -in "$T/stray-self.pem" -CA "$CA_PEM" -CAkey "$DATA/ca.key" \
    -set_serial 0x5151 -days 1 -out "$T/stray.pem" 2>/dev/null
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$T/other.key" -subj /CN=other -days 1 -out "$T/other-ca.pem" 2>/dev/null
openssl x509 -in "$T/stray-self.pem" -CA "$T/other-ca.pem" -CAkey "$T/other.key" \
    -set_serial 0x77 -days 1 -out "$T/other.pem" 2>/dev/null

CURL="curl -s --max-time 10 --cacert $CA_PEM"

# req NAME CERT DIGEST [ISSUER]: the RFC 5019 request (no nonce) into
# $T/NAME.req; its base64 in $B64.
req() {
	openssl ocsp -issuer "${4:-$CA_PEM}" "-$3" -cert "$2" -no_nonce \
	    -reqout "$T/$1.req" >/dev/null 2>&1
	B64=$(base64 -w0 "$T/$1.req")
}

# get NAME CERT DIGEST: GET <url>/<base64>, answer in $T/NAME.der and the
# headers in $T/NAME.hdr; PRESIGNED=1 when the bytes are the file
# anvil-crl wrote for that request (its name: runs of '/' as one); LIVE=1
# when no file can hold it (base64 ending in '/', src/publish/ocsp.c).
get() {
	req "$1" "$2" "$3"
	$CURL -D "$T/$1.hdr" -o "$T/$1.der" "$OCSP_URL/$B64"
	PRESIGNED=0; LIVE=0
	FILE="$DATA/ocsp/$(printf '%s' "$B64" | tr -s /)"
	case $B64 in */) LIVE=1 ;; esac
	[ -f "$FILE" ] && cmp -s "$FILE" "$T/$1.der" && PRESIGNED=1
	grep -qi "^content-type: application/ocsp-response" "$T/$1.hdr" ||
	    fail "$1: content type $(grep -i content-type "$T/$1.hdr")"
}

# check_both NAME CERT STATUS [REASON]: openssl and ocsptool verify the
# answer $T/NAME.der against the CA and read STATUS (and REASON).
check_both() {
	if openssl ocsp -respin "$T/$1.der" -issuer "$CA_PEM" "-${DIG:-sha1}" -cert "$2" \
	    -CAfile "$CA_PEM" -no_nonce >"$T/$1.ossl" 2>&1 &&
	    grep -q "Response verify OK" "$T/$1.ossl" &&
	    grep -q ": $3\$" "$T/$1.ossl"; then
		ok "$1: openssl verifies, $3"
	else
		fail "$1: openssl: not a verified $3"; sed 's/^/    /' "$T/$1.ossl"
	fi
	if [ -n "${4:-}" ]; then
		grep -q "Reason: $4" "$T/$1.ossl" && ok "$1: reason $4" ||
		    { fail "$1: reason $4 missing"; sed 's/^/    /' "$T/$1.ossl"; }
	fi
	if ocsptool -e --load-trust "$CA_PEM" --infile "$T/$1.der" >"$T/$1.gt" 2>&1 &&
	    grep -q "Verifying OCSP Response: Success" "$T/$1.gt" &&
	    grep -q "Certificate Status: $3" "$T/$1.gt"; then
		ok "$1: ocsptool verifies, $3"
	else
		fail "$1: ocsptool: not a verified $3"; sed 's/^/    /' "$T/$1.gt"
	fi
}

# post NAME CERT STATUS [REASON]: POST with a nonce, by each tool itself.
post() {
	if openssl ocsp -issuer "$CA_PEM" -cert "$2" -url "$OCSP_URL" \
	    -CAfile "$CA_PEM" -respout "$T/$1.der" >"$T/$1.ossl" 2>&1 &&
	    grep -q "Response verify OK" "$T/$1.ossl" &&
	    grep -q ": $3\$" "$T/$1.ossl" && ! grep -q "WARNING" "$T/$1.ossl"; then
		ok "$1: openssl ocsp POST (nonce checked): $3"
	else
		fail "$1: openssl ocsp POST: not a verified $3"; sed 's/^/    /' "$T/$1.ossl"
	fi
	[ -z "${4:-}" ] || { grep -q "Reason: $4" "$T/$1.ossl" && ok "$1: POST reason $4" ||
	    fail "$1: POST reason $4 missing"; }
	case $OCSP_URL in
	http:*)
		if ocsptool --ask="$OCSP_URL" --nonce --load-issuer "$CA_PEM" \
		    --load-cert "$2" --load-trust "$CA_PEM" >"$T/$1.gt" 2>&1 &&
		    grep -q "Verifying OCSP Response: Success" "$T/$1.gt" &&
		    grep -qi "Cert.* Status: $3" "$T/$1.gt"; then
			ok "$1: ocsptool --ask POST (nonce): $3"
		else
			fail "$1: ocsptool --ask: not a verified $3"; sed 's/^/    /' "$T/$1.gt"
		fi
		;;
	*)
		# ocsptool --ask speaks plain HTTP only: POST with curl.
		req "$1-p" "$2" sha1
		$CURL -H "Content-Type: application/ocsp-request" --data-binary \
		    "@$T/$1-p.req" -o "$T/$1.der" "$OCSP_URL"
		check_both "$1" "$2" "$3" "${4:-}"
		;;
	esac
}

# --- live: no pre-signed file yet
rm -rf "$DATA/ocsp"; mkdir -p "$DATA/ocsp"; chown --reference="$DATA" "$DATA/ocsp"
get live-good-sha1 "$ONE" sha1
[ $PRESIGNED = 0 ] && ok "before anvil-crl: answered live" || fail "pre-signed before anvil-crl?"
grep -qi "^cache-control: max-age=[0-9]*, public" "$T/live-good-sha1.hdr" &&
    ok "live GET: Cache-Control max-age" || fail "live GET headers: $(cat "$T/live-good-sha1.hdr")"
check_both live-good-sha1 "$ONE" good
get live-good-sha256 "$ONE" sha256
DIG=sha256 check_both live-good-sha256 "$ONE" good
post live-post-good "$ONE" good
get live-unknown "$T/stray.pem" sha1
check_both live-unknown "$T/stray.pem" unknown
post live-post-unknown "$T/stray.pem" unknown
# Percent-encoded base64 (RFC 5019 A.1 URL encoding) is the same request.
req enc "$ONE" sha1
enc=$(printf '%s' "$B64" | sed 's|+|%2B|g; s|=|%3D|g')
$CURL -o "$T/enc.der" "$OCSP_URL/$enc"
check_both enc "$ONE" good

# --- errors: OCSP statuses, never an HTML page
req other "$T/other.pem" sha1 "$T/other-ca.pem"
$CURL -o "$T/other.der" "$OCSP_URL/$B64"
[ "$(od -An -tx1 "$T/other.der" | tr -d ' \n')" = 30030a0106 ] &&
    ok "another issuer: unauthorized" || fail "another issuer: $(od -An -tx1 "$T/other.der")"
$CURL -o "$T/bad.der" "$OCSP_URL/AAAA"
[ "$(od -An -tx1 "$T/bad.der" | tr -d ' \n')" = 30030a0101 ] &&
    ok "garbage GET: malformedRequest" || fail "garbage GET: $(od -An -tx1 "$T/bad.der")"
head -c 300 "$T/enc.der" | $CURL -H "Content-Type: application/ocsp-request" \
    --data-binary @- -o "$T/bad2.der" "$OCSP_URL"
[ "$(od -An -tx1 "$T/bad2.der" | tr -d ' \n')" = 30030a0101 ] &&
    ok "garbage POST: malformedRequest" || fail "garbage POST: $(od -An -tx1 "$T/bad2.der")"
head -c 40 "$T/enc.req" | $CURL -H "Content-Type: application/ocsp-request" \
    --data-binary @- -o "$T/trunc.der" "$OCSP_URL"
[ "$(od -An -tx1 "$T/trunc.der" | tr -d ' \n')" = 30030a0101 ] &&
    ok "truncated POST: malformedRequest" || fail "truncated POST: $(od -An -tx1 "$T/trunc.der")"

head -c 70000 /dev/zero | $CURL -H "Content-Type: application/ocsp-request" \
    --data-binary @- -o "$T/huge.der" "$OCSP_URL"
[ "$(od -An -tx1 "$T/huge.der" | tr -d ' \n')" = 30030a0101 ] &&
    ok "POST over max_body: malformedRequest" || fail "huge POST: $(od -An -tx1 "$T/huge.der" | head -2)"
args=""; i=0
while [ $i -lt 1000 ]; do i=$((i + 1)); args="$args -serial $i"; done
# shellcheck disable=SC2086
openssl ocsp -issuer "$CA_PEM" $args -no_nonce -reqout "$T/many.req" >/dev/null 2>&1
$CURL -H "Content-Type: application/ocsp-request" --data-binary "@$T/many.req" \
    -o "$T/many.der" "$OCSP_URL"
[ "$(od -An -tx1 "$T/many.der" | tr -d ' \n')" = 30030a0101 ] &&
    ok "1,000 CertIDs ($(stat -c %s "$T/many.req") bytes): malformedRequest" ||
    fail "1,000 CertIDs: $(od -An -tx1 "$T/many.der" | head -2)"

# --- pre-signed by anvil-crl, served as files by the web server
expect_exit 0 "anvil-crl pre-signs OCSP answers" "$CRL" --config "$CONF" --out "$T/pub"
expect_out "OCSP: 6 answers pre-signed in $DATA/ocsp" "six answers (three certificates, two hashes)"
for d in sha1 sha256; do
	get pre-good-$d "$ONE" $d
	[ $PRESIGNED = 1 ] || [ $LIVE = 1 ] && ok "GET $d: the pre-signed file is served" ||
	    fail "GET $d: not the pre-signed file"
	DIG=$d check_both pre-good-$d "$ONE" good
done
grep -qi "^cache-control: max-age=[0-9]*" "$T/pre-good-sha1.hdr" &&
    ok "pre-signed GET: Cache-Control max-age" || fail "pre-signed headers: $(cat "$T/pre-good-sha1.hdr")"
[ "$(stat -c %a "$DATA/ocsp.key")" = 600 ] && ok "responder key 0600" ||
    fail "responder key mode $(stat -c %a "$DATA/ocsp.key")"
get pre-unknown "$T/stray.pem" sha1
[ $PRESIGNED = 0 ] && check_both pre-unknown "$T/stray.pem" unknown

# --- anvil-admin revoke: the pre-signed answer changes at once
s1=$(cert_serial "$ONE")
expect_exit 0 "anvil-admin revoke one (keyCompromise)" "$ADMIN" --config "$CONF" \
    revoke "$s1" --reason keyCompromise
for d in sha1 sha256; do
	get admin-rev-$d "$ONE" $d
	[ $PRESIGNED = 1 ] || [ $LIVE = 1 ] && ok "after anvil-admin revoke: $d served pre-signed" ||
	    fail "after anvil-admin revoke: $d not pre-signed"
	DIG=$d check_both admin-rev-$d "$ONE" revoked keyCompromise
done
post admin-rev-post "$ONE" revoked keyCompromise

# --- ACME revoke (certbot): the same
expect_exit 0 "certbot revokes two (superseded)" certbot_run revoke \
    --cert-path "$TWO" --reason superseded --no-delete-after-revoke
get acme-rev "$TWO" sha1
[ $PRESIGNED = 1 ] && ok "after ACME revoke: served pre-signed" || fail "after ACME revoke: not pre-signed"
check_both acme-rev "$TWO" revoked superseded
post acme-rev-post "$TWO" revoked superseded
get three-good "$THREE" sha1
check_both three-good "$THREE" good

# --- rotation: old answers stay verifiable, new ones verify too
cp "$T/pre-good-sha1.der" "$T/old.der"
old_fp=$(openssl x509 -in "$DATA/ocsp.pem" -noout -fingerprint -sha256)
expect_exit 0 "anvil-admin ocsp rotate" "$ADMIN" --config "$CONF" ocsp rotate
new_fp=$(openssl x509 -in "$DATA/ocsp.pem" -noout -fingerprint -sha256)
[ "$old_fp" != "$new_fp" ] && ok "rotate: a new responder certificate" || fail "rotate: same certificate"
check_both old "$ONE" good
post rot-post "$THREE" good
expect_exit 0 "anvil-crl after rotation" "$CRL" --config "$CONF" --out "$T/pub"
get rot-pre "$THREE" sha1
[ $PRESIGNED = 1 ] && check_both rot-pre "$THREE" good
openssl ocsp -respin "$T/rot-pre.der" -resp_text -noverify 2>/dev/null |
    sed -n '/BEGIN CERT/,/END CERT/p' >"$T/signer.pem"
[ "$(openssl x509 -in "$T/signer.pem" -noout -fingerprint -sha256 2>/dev/null)" = "$new_fp" ] &&
    ok "after rotation: answers signed by the new responder" || fail "after rotation: old signer still"

# --- a stale pre-signed answer (past validity) is not served: live instead
req stale "$THREE" sha1
touch -d "@$(($(date +%s) - 90000))" "$DATA/ocsp/$(printf '%s' "$B64" | tr -s /)"
sleep 2	# lighttpd's stat cache holds a file's time for up to a second
get stale "$THREE" sha1
case ${ANVIL_WEB:-lighttpd-fcgi} in
lighttpd-*) [ $PRESIGNED = 0 ] && ok "stale file: answered live" || fail "stale file served" ;;
esac
check_both stale "$THREE" good
expect_exit 0 "anvil-crl removes nothing it signs" "$CRL" --config "$CONF" --out "$T/pub"
expect_out "(0 removed)" "nothing removed"
grep -q "anvil-crl:" "$T/out" && fail "anvil-crl wrote progress without a terminal" ||
    ok "anvil-crl: no progress line without a terminal (cron)"

# --- on a terminal, a progress line for each step (issue 24 part 4)
script -q -e -c "$CRL --config $CONF --out $T/pub" "$T/pty" >/dev/null 2>&1 &&
    tr '\r' '\n' <"$T/pty" >"$T/out" &&
    grep -q "anvil-crl: building the CRL" "$T/out" &&
    grep -q "anvil-crl: signing .*/.* (.*%)" "$T/out" &&
    ok "anvil-crl: a progress line on a terminal" ||
    fail "anvil-crl on a terminal: $(tr '\r' '\n' <"$T/pty" | head -5)"
script -q -e -c "$CRL --quiet --config $CONF --out $T/pub" "$T/pty" >/dev/null 2>&1
grep -q "anvil-crl:" "$T/pty" && fail "anvil-crl --quiet drew a progress line" ||
    ok "anvil-crl --quiet: no progress line on a terminal"
finish
