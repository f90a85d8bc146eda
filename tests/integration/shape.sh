# shape.sh - sourced by the per-shape tests after setting ANVIL_WEB and
# BASEPORT: the shipped config of that shape serves Anvil; the
# existing-account reply (200 + Location) survives it; certbot issues
# (http-01) and revokes; lego issues (http-01) and revokes; the CRL and the
# CA certificate are fetched over plain HTTP from the published folder.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/server.sh"
start_servers

expect_exit 0 "[$ANVIL_WEB] existing account keeps 200 + Location" \
    /usr/bin/python3 "$top_srcdir/tests/integration/existing_account.py" "$DIR_URL" "$CA_PEM"
cat "$T/out"

# Two requests on one connection: every shape but apache-nph keeps it (an
# nph- reply makes Apache close it, a TLS handshake per request).
conns=$(curl -sv --cacert "$CA_PEM" -o /dev/null -o /dev/null "$DIR_URL" \
    "$DIR_URL" 2>&1 | grep -c '^\* Connected to')
case $ANVIL_WEB in
apache-nph) want=2 ;;
*) want=1 ;;
esac
[ "$conns" = "$want" ] && ok "[$ANVIL_WEB] two requests took $conns connection(s)" ||
    fail "[$ANVIL_WEB] two requests took $conns connections, wanted $want"

# lighttpd answers HEAD/GET new-nonce itself (anvil-nonce.conf, mod_magnet)
# with anvil's key; anvil still answers every other method, and any nonce
# request while there is no key. In the CGI shape every anvil run is an
# exec of the entry point (a link to the program itself, no shell), so put
# a counting wrapper in its place for a while, and count.
if [ "$ANVIL_WEB" = lighttpd-cgi ]; then
	NU=$(echo "$DIR_URL" | sed 's|/directory$|/new-nonce|')
	cgi="$DATA/lighttpd/anvil.cgi"
	real=$(readlink "$cgi")
	[ "$real" = "$top_builddir/anvil" ] && ok "[$ANVIL_WEB] lighttpd runs the anvil program itself" ||
	    fail "[$ANVIL_WEB] the CGI entry point is $(ls -l "$cgi")"
	execs="$T/cgi-execs"
	: >"$execs"
	printf '#!/bin/sh\necho "$REQUEST_METHOD $PATH_INFO" >>%s\nexec %s "$@"\n' \
	    "$execs" "$real" >"$cgi.count"
	chmod 0755 "$cgi.count"
	mv -f "$cgi.count" "$cgi"
	nonces=""
	for i in 1 2 3 4 5 6 7 8 9 10; do
		n=$(curl -sI --cacert "$CA_PEM" "$NU" | tr -d '\r' |
		    sed -n 's/^[Rr]eplay-[Nn]once: //p')
		nonces="$nonces $n"
	done
	distinct=$(echo $nonces | tr ' ' '\n' | grep -c '^[A-Za-z0-9_-]\{43\}$')
	[ "$(echo $nonces | tr ' ' '\n' | sort -u | wc -l)" = 10 ] && [ "$distinct" = 10 ] &&
	    [ ! -s "$execs" ] && ok "[$ANVIL_WEB] 10 HEAD new-nonce: 10 distinct nonces, anvil not run" ||
	    fail "[$ANVIL_WEB] HEAD new-nonce by lighttpd: nonces$nonces; anvil runs: $(cat "$execs")"
	code=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$CA_PEM" "$NU")
	[ "$code" = 204 ] && [ ! -s "$execs" ] && ok "[$ANVIL_WEB] GET new-nonce: 204 from lighttpd" ||
	    fail "[$ANVIL_WEB] GET new-nonce: $code; anvil runs: $(cat "$execs")"
	code=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$CA_PEM" -X POST \
	    -H 'Content-Type: application/jose+json' --data '{}' "$NU")
	[ "$code" = 405 ] && grep -q '^POST /new-nonce$' "$execs" &&
	    ok "[$ANVIL_WEB] POST new-nonce goes on to anvil (405)" ||
	    fail "[$ANVIL_WEB] POST new-nonce: $code; anvil runs: $(cat "$execs")"
	# No key: lighttpd passes the request on, anvil answers and makes one.
	# (lighttpd sees a file change through its stat cache, within about a
	# second; until then it goes on with the key it read.)
	mv "$DATA/nonce.key" "$T/nonce.key.old"
	sleep 2
	: >"$execs"
	code=$(curl -s -o /dev/null -w '%{http_code}' -I --cacert "$CA_PEM" "$NU")
	[ "$code" = 200 ] && grep -q '^HEAD /new-nonce$' "$execs" && [ -s "$DATA/nonce.key" ] &&
	    ok "[$ANVIL_WEB] with no nonce key anvil answers new-nonce and makes one" ||
	    fail "[$ANVIL_WEB] no nonce key: $code; anvil runs: $(cat "$execs")"
	# The new key is picked up (lighttpd's stat cache: about a second).
	sleep 2
	: >"$execs"
	code=$(curl -s -o /dev/null -w '%{http_code}' -I --cacert "$CA_PEM" "$NU")
	[ "$code" = 200 ] && [ ! -s "$execs" ] &&
	    ok "[$ANVIL_WEB] lighttpd answers new-nonce again with anvil's new key" ||
	    fail "[$ANVIL_WEB] after the new key: $code; anvil runs: $(cat "$execs")"
	ln -sf "$real" "$cgi.link" && mv -f "$cgi.link" "$cgi"
fi
# A nonce lighttpd made is one anvil takes: existing_account.py above
# and certbot below start from HEAD new-nonce.

CB="$T/certbot"
certbot_run() {
	REQUESTS_CA_BUNDLE="$CA_PEM" timeout 180 certbot --non-interactive \
	    --server "$DIR_URL" --config-dir "$CB" --work-dir "$CB" \
	    --logs-dir "$CB" --agree-tos -m ops@example.org "$@"
}
expect_exit 0 "[$ANVIL_WEB] certbot register" certbot_run register
expect_exit 0 "[$ANVIL_WEB] certbot updates its account" \
    certbot_run update_account -m ops2@example.org
expect_exit 0 "[$ANVIL_WEB] certbot http-01 issue" certbot_run certonly --standalone \
    --http-01-address 127.0.0.1 --http-01-port "$HTTP01_PORT" -d cb.shape.example.test --cert-name cb
verify_chain "$CB/live/cb/fullchain.pem" "[$ANVIL_WEB] certbot"

# Renewal information (RFC 9773) through this shape: an unsigned GET, its
# caching headers intact, and a certID the path layer refuses still a 400
# malformed rather than a 404; profiles in the directory.
RI=$(echo "$DIR_URL" | sed 's|/directory$|/renewal-info|')
cid=$(cert_id "$CB/live/cb/cert.pem")
code=$(curl -s -D "$T/ri.h" -o "$T/ri.json" -w '%{http_code}' --cacert "$CA_PEM" "$RI/$cid")
[ "$code" = 200 ] && grep -q '"suggestedWindow"' "$T/ri.json" &&
    grep -qi '^retry-after: [1-9]' "$T/ri.h" && grep -qi '^cache-control: public, max-age=[1-9]' "$T/ri.h" &&
    ok "[$ANVIL_WEB] renewalInfo by GET: 200, window, Retry-After, Cache-Control" ||
    fail "[$ANVIL_WEB] renewalInfo $RI/$cid: $code $(cat "$T/ri.json")"
code=$(curl -s -o "$T/ri.json" -w '%{http_code}' --cacert "$CA_PEM" "$RI/$cid=")
[ "$code" = 400 ] && grep -q 'error:malformed' "$T/ri.json" &&
    ok "[$ANVIL_WEB] renewalInfo with a padded certID: 400 malformed" ||
    fail "[$ANVIL_WEB] padded certID: $code $(cat "$T/ri.json")"
curl -s --cacert "$CA_PEM" "$DIR_URL" | /usr/bin/python3 -c 'import json,sys
d = json.load(sys.stdin)
sys.exit(0 if "tlsserver" in d["meta"]["profiles"] and d["renewalInfo"] else 1)' &&
    ok "[$ANVIL_WEB] directory offers renewalInfo and profiles" ||
    fail "[$ANVIL_WEB] directory lacks renewalInfo or meta.profiles"
expect_exit 0 "[$ANVIL_WEB] certbot revoke" certbot_run revoke \
    --cert-path "$CB/live/cb/cert.pem" --reason keycompromise --no-delete-after-revoke

lego_cmd() {
	LEGO_CA_CERTIFICATES="$CA_PEM" timeout 180 lego --accept-tos \
	    --email ops@example.org --server "$DIR_URL" --path "$T/lego" \
	    --domains lego.shape.example.test --http --http.port "127.0.0.1:$HTTP01_PORT" "$@"
}
expect_exit 0 "[$ANVIL_WEB] lego http-01 issue" lego_cmd run
verify_chain "$T/lego/certificates/lego.shape.example.test.crt" "[$ANVIL_WEB] lego"
expect_exit 0 "[$ANVIL_WEB] lego revoke" lego_cmd revoke

# anvil-crl while the server serves, then the CRL over plain HTTP.
expect_exit 0 "[$ANVIL_WEB] anvil-crl" "$top_builddir/anvil-crl" --config "$CONF"
curl -s -o "$T/fetched.crl" "http://127.0.0.1:$PUBLISH_PORT/crl/anvil.crl" &&
    curl -s -o "$T/fetched.crl.pem" "http://127.0.0.1:$PUBLISH_PORT/crl/anvil.crl.pem" &&
    cmp -s "$T/fetched.crl" "$DATA/crl/anvil.crl" &&
    certtool --verify-crl --load-ca-certificate "$CA_PEM" --infile "$T/fetched.crl.pem" >/dev/null 2>&1 &&
    ok "[$ANVIL_WEB] CRL fetched over HTTP verifies" || fail "[$ANVIL_WEB] CRL over HTTP"
serial=$(cert_serial "$CB/live/cb/cert.pem")
certtool --crl-info --inder --infile "$T/fetched.crl" 2>/dev/null | grep -qi "Serial Number (hex): $serial" &&
    ok "[$ANVIL_WEB] revoked certbot certificate is in the CRL" || fail "[$ANVIL_WEB] serial $serial not in the CRL"
curl -s -o "$T/ca.crt" "http://127.0.0.1:$PUBLISH_PORT/crl/ca.crt" &&
    certtool -i --inder --infile "$T/ca.crt" 2>/dev/null | grep -q "Certificate Authority (CA): TRUE" &&
    ok "[$ANVIL_WEB] CA certificate over HTTP" || fail "[$ANVIL_WEB] CA certificate over HTTP"
certtool -i --infile "$CB/live/cb/cert.pem" 2>/dev/null | grep -q "URI: http://127.0.0.1:$PUBLISH_PORT/crl/anvil.crl" &&
    ok "[$ANVIL_WEB] certificates point to the published CRL" || fail "[$ANVIL_WEB] no CRLDP"

# Web servers retire FastCGI workers with SIGTERM: a worker waiting for a
# request closes the store first (its file in store/procs goes), so that
# the next opener has no death to recover from (a worker that died with
# the store open would make it run recovery, interrupting the others).
case $ANVIL_WEB in
*-fcgi|*-fcgid)
	workers=$(ls "$DATA/store/procs" 2>/dev/null)
	[ -n "$workers" ] || fail "[$ANVIL_WEB] no worker listed in store/procs"
	for w in $workers; do kill -TERM "$w" 2>/dev/null; done
	n=0
	for w in $workers; do
		while kill -0 "$w" 2>/dev/null && [ $n -lt 100 ]; do
			sleep 0.1; n=$((n + 1))
		done
	done
	left=""
	for w in $workers; do
		[ -e "$DATA/store/procs/$w" ] && left="$left $w"
	done
	[ -z "$left" ] && ok "[$ANVIL_WEB] workers given SIGTERM closed the store ($(echo $workers | wc -w))" ||
	    fail "[$ANVIL_WEB] workers died with the store open:$left"
	;;
esac
finish
