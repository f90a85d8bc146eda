#!/bin/sh
# cgi.sh - the anvil program as a plain CGI (no web server): the same
# binary answers one request from the environment and stdin, always with a
# Status: line; started as nph-anvil it writes the HTTP status line itself;
# a bad config gives a 500 problem document, not a crash.
. "$(dirname "$0")/lib.sh"
ANVIL="$top_builddir/anvil"
data="$T/data"
mkdir -p "$data"
cat >"$T/anvil.conf" <<EOC
[server]
base_url = https://ca.example.test/acme
data_dir = $data
max_body = 2048
EOC
export ANVIL_CONFIG="$T/anvil.conf"

cgi() { # METHOD URI [BODY [CONTENT_TYPE]]
	body=${3:-}
	printf '%s' "$body" | env REQUEST_METHOD="$1" REQUEST_URI="$2" \
	    CONTENT_LENGTH="${#body}" CONTENT_TYPE="${4:-}" GATEWAY_INTERFACE=CGI/1.1 \
	    "${PROG:-$ANVIL}"
}

# Every CGI request starts the program: libcurl (30 shared objects in
# Debian's GnuTLS build) and libunbound are loaded only by a validation,
# libpq only by a PostgreSQL store, not at start (src/core/dl.h).
if command -v ldd >/dev/null; then
	for lib in libcurl libunbound libpq libcrypto; do
		if ldd "$ANVIL" | grep -q "$lib"; then
			fail "anvil is linked with $lib: $(ldd "$ANVIL" | grep "$lib")"
		else
			ok "anvil starts without $lib ($(ldd "$ANVIL" | wc -l) shared objects)"
		fi
	done
fi

cgi GET /acme/directory >"$T/out" 2>"$T/err"
head -1 "$T/out" | grep -q '^Status: 200 OK' && ok "directory: Status 200" || fail "directory: $(head -1 "$T/out")"
expect_out '"newAccount": "https://ca.example.test/acme/new-account"' "URLs built from base_url"
expect_out 'Link: <https://ca.example.test/acme/directory>;rel="index"' "Link index"

cgi GET /acme/new-nonce >"$T/out" 2>"$T/err"
head -1 "$T/out" | grep -q '^Status: 204' && ok "GET new-nonce: 204" || fail "new-nonce: $(head -1 "$T/out")"
expect_out "Replay-Nonce: " "nonce header"
expect_out "Cache-Control: no-store" "no-store"

cgi POST /acme/new-account '{"protected":"x"}' text/plain >"$T/out" 2>"$T/err"
head -1 "$T/out" | grep -q '^Status: 415' && ok "wrong content type: 415" || fail "415: $(head -1 "$T/out")"
expect_out "Content-Type: application/problem+json" "problem document"
expect_out "Replay-Nonce: " "nonce on an error reply to a POST"

big=$(head -c 3000 /dev/zero | tr '\0' a)
cgi POST /acme/new-account "$big" application/jose+json >"$T/out" 2>"$T/err"
head -1 "$T/out" | grep -q '^Status: 413' && ok "body over max_body: 413" || fail "413: $(head -1 "$T/out")"

cgi GET /elsewhere >"$T/out" 2>"$T/err"
head -1 "$T/out" | grep -q '^Status: 404' && ok "outside base path: 404" || fail "404: $(head -1 "$T/out")"
cgi GET '/acme/directory%0d%0aX-Evil:%201' >"$T/out" 2>"$T/err"
grep -q "^X-Evil" "$T/out" && fail "header injected" || ok "no header injection from the path"


# Hostile requests, one row each: the right status and a problem document.
# (Rows signed with real keys are in protocol.py; these need no account.)
hostile() { # DESC WANT_STATUS METHOD URI BODY CONTENT_TYPE [CONTENT_LENGTH]
	desc=$1; want=$2; shift 2
	body=${3:-}
	printf '%s' "$body" | env REQUEST_METHOD="$1" REQUEST_URI="$2" \
	    CONTENT_LENGTH="${5:-${#body}}" CONTENT_TYPE="${4:-}" GATEWAY_INTERFACE=CGI/1.1 \
	    "$ANVIL" >"$T/out" 2>"$T/err"
	got=$(head -1 "$T/out" | sed -n 's/^Status: \([0-9]*\).*/\1/p')
	if [ "$got" = "$want" ] && { [ "$want" -lt 400 ] || grep -q "application/problem+json" "$T/out"; }; then
		ok "hostile: $desc -> $got"
	else
		fail "hostile: $desc: status $got, wanted $want"; head -20 "$T/out"
	fi
}
J=application/jose+json
nested=$(printf '%.0s[' $(seq 1 2000))
hostile "truncated body" 400 POST /acme/new-account '{"protected":' $J 500
hostile "CONTENT_LENGTH not a number" 400 POST /acme/new-account '{}' $J 12abc
hostile "negative CONTENT_LENGTH" 400 POST /acme/new-account '{}' $J -5
hostile "no body" 400 POST /acme/new-account '' $J
hostile "deeply nested JSON" 400 POST /acme/new-account "$nested" $J
hostile "invalid UTF-8" 400 POST /acme/new-account "$(printf '{"protected":"\377\376"}')" $J
hostile "duplicate JSON keys" 400 POST /acme/new-account '{"protected":"a","protected":"b","payload":"","signature":"c"}' $J
hostile "JSON that is not an object" 400 POST /acme/new-account '["protected"]' $J
hostile "path traversal in an id" 404 POST /acme/order/..%2f..%2fetc%2fpasswd '{}' $J
hostile "dot-dot path" 404 GET /acme/../../etc/passwd
hostile "id with NUL escape" 404 POST /acme/acct/a%00b '{}' $J
hostile "unknown endpoint" 404 POST /acme/new-thing '{}' $J
for path in new-account new-order revoke-cert key-change acct/x acct/x/orders order/x order/x/finalize authz/x chall/x cert/x; do
	for m in GET PUT DELETE PATCH; do
		hostile "$m /acme/$path" 405 $m /acme/$path
	done
done
for path in directory new-nonce ca; do
	hostile "PUT /acme/$path" 405 PUT /acme/$path
done

ln -s "$ANVIL" "$T/nph-anvil"
PROG="$T/nph-anvil" cgi GET /acme/directory >"$T/out" 2>"$T/err"
head -1 "$T/out" | grep -q '^HTTP/1.1 200 OK' && ok "nph- writes the status line" || fail "nph: $(head -1 "$T/out")"

# The shipped web server snippets run the program itself; the cgi-bin
# wrappers are for a cgi-bin the server config cannot reach: they run the
# installed program with the installed config unless ANVIL_CONFIG is set.
mkdir -p "$T/etc/anvil" "$T/wrap"
cp "$ANVIL_CONFIG" "$T/etc/anvil/anvil.conf"
for w in anvil nph-anvil; do
	sed -e "s|@libexecdir@|$top_builddir|g" -e "s|@sysconfdir@|$T/etc|g" \
	    "$top_srcdir/cgi-bin/$w.in" >"$T/wrap/$w"
	chmod 0755 "$T/wrap/$w"
done
(unset ANVIL_CONFIG; SCRIPT_FILENAME="$T/wrap/anvil" PROG="$T/wrap/anvil" \
    cgi GET /acme/directory) >"$T/out" 2>"$T/err"
head -1 "$T/out" | grep -q '^Status: 200' && grep -q '"newNonce"' "$T/out" &&
    ok "cgi-bin/anvil runs the program with the installed config" ||
    fail "cgi-bin/anvil: $(head -1 "$T/out") $(cat "$T/err")"
(unset ANVIL_CONFIG; SCRIPT_FILENAME="$T/wrap/nph-anvil" PROG="$T/wrap/nph-anvil" \
    cgi GET /acme/directory) >"$T/out" 2>"$T/err"
head -1 "$T/out" | grep -q '^HTTP/1.1 200 OK' &&
    ok "cgi-bin/nph-anvil: the nph- name reaches anvil through SCRIPT_FILENAME" ||
    fail "cgi-bin/nph-anvil: $(head -1 "$T/out") $(cat "$T/err")"
SCRIPT_FILENAME="$T/wrap/anvil" PROG="$T/wrap/anvil" ANVIL_CONFIG="$T/nonexistent.conf" \
    cgi GET /acme/directory >"$T/out" 2>"$T/err"
head -1 "$T/out" | grep -q '^Status: 500' && grep -q 'nonexistent.conf' "$T/err" &&
    ok "cgi-bin/anvil keeps an ANVIL_CONFIG the server set" ||
    fail "cgi-bin/anvil with ANVIL_CONFIG: $(head -1 "$T/out") $(cat "$T/err")"

printf '[server]\nbase_url = https://a.test\n' >"$T/bad.conf"
ANVIL_CONFIG="$T/bad.conf" cgi GET /acme/directory >"$T/out" 2>"$T/err"
head -1 "$T/out" | grep -q '^Status: 500' && ok "bad config: 500" || fail "bad config: $(head -1 "$T/out")"
expect_out "serverInternal" "bad config: problem document"
grep -q "bad.conf:2: \[server\] data_dir is required" "$T/err" && ok "bad config logged with file:line" ||
    fail "log: $(cat "$T/err")"
finish
