# server.sh - sourced by integration tests after lib.sh: starts a DNS
# answerer (pebble-challtestsrv, every A query answered 127.0.0.1, TXT set
# over its management API) and Anvil behind lighttpd from the shipped
# config, all on loopback, on ports derived from BASEPORT; stops them at exit.
#
# EXTRA_SERVER, EXTRA_VALIDATION and EXTRA_CONF add lines to anvil.conf;
# DNS_RESOLVER replaces the challtestsrv as the resolver.
#
# Sets: DATA, CONF, DIR_URL, CA_PEM, DNS_PORT, MGMT_PORT, HTTP01_PORT,
# TLSALPN01_PORT, HTTPS_PORT.

: "${BASEPORT:=20000}"
HTTPS_PORT=$((BASEPORT + 443))
HTTP01_PORT=$((BASEPORT + 80))
TLSALPN01_PORT=$((BASEPORT + 1))
DNS_PORT=$((BASEPORT + 53))
MGMT_PORT=$((BASEPORT + 55))
PUBLISH_PORT=$((BASEPORT + 444))
DATA="$T/data"
CONF="$DATA/anvil.conf"
CA_PEM="$DATA/ca.pem"
DIR_URL="https://127.0.0.1:$HTTPS_PORT/acme/directory"
PIDS=""

stop_servers() {
	for p in $PIDS; do kill "$p" 2>/dev/null; done
	for p in $PIDS; do wait "$p" 2>/dev/null; done
	for pf in "$DATA/lighttpd/lighttpd.pid" "$DATA/apache/httpd.pid" \
	    "$DATA/apache/spawn-fcgi.pid"; do
		# spawn-fcgi writes one PID a line.
		# shellcheck disable=SC2046
		[ -f "$pf" ] && kill $(cat "$pf") 2>/dev/null
	done
	# lighttpd's FastCGI children and CGI validators die with it.
	pkill -f "$DATA/anvil.conf" 2>/dev/null
	[ -n "${ANVIL_KEEP:-}" ] || rm -rf "$T"
}
trap stop_servers EXIT

# wait_for URL SECONDS: polls until curl gets an answer.
wait_for() {
	n=0
	while [ $n -lt $(($2 * 10)) ]; do
		if curl -s -o /dev/null --max-time 1 --cacert "$CA_PEM" "$1"; then return 0; fi
		sleep 0.1; n=$((n + 1))
	done
	return 1
}

# set_txt NAME VALUE / clear_txt NAME: DNS records for dns-01.
set_txt() {
	curl -s -X POST -d "{\"host\":\"$1.\",\"value\":\"$2\"}" "http://127.0.0.1:$MGMT_PORT/set-txt" >/dev/null
}
clear_txt() {
	curl -s -X POST -d "{\"host\":\"$1.\"}" "http://127.0.0.1:$MGMT_PORT/clear-txt" >/dev/null
}

start_servers() {
	mkdir -p "$DATA"
	chmod 700 "$DATA"
	cat >"$CONF" <<EOC
[server]
base_url = https://127.0.0.1:$HTTPS_PORT/acme
data_dir = $DATA
${EXTRA_SERVER:-}
[ca]
key_type = ${CA_KEY_TYPE:-ec:P-256}
[validation]
http_port = $HTTP01_PORT
tls_port = $TLSALPN01_PORT
dns_resolver = ${DNS_RESOLVER:-127.0.0.1@$DNS_PORT}
timeout = ${VALIDATION_TIMEOUT:-5}
; Loopback is denied by default; the responders of every test
; that sources this file listen on 127.0.0.1 and nowhere else.
allow_networks = 127.0.0.1/32
${EXTRA_VALIDATION:-}
[issuance]
crl_url = http://127.0.0.1:$PUBLISH_PORT/crl/anvil.crl
ca_issuers_url = http://127.0.0.1:$PUBLISH_PORT/crl/ca.crt
${EXTRA_CONF:-}
EOC
	"$ADMIN" --config "$CONF" init >"$T/init.out" 2>&1 || { cat "$T/init.out"; fail "anvil-admin init"; finish; }
	pebble-challtestsrv -dns01 "127.0.0.1:$DNS_PORT" -http01 "" -https01 "" \
	    -tlsalpn01 "" -management "127.0.0.1:$MGMT_PORT" -defaultIPv6 "" \
	    >"$T/challtestsrv.log" 2>&1 &
	PIDS="$PIDS $!"
	case ${ANVIL_WEB:-lighttpd-fcgi} in
	lighttpd-*) runner=run-lighttpd.sh ;;
	apache-*) runner=run-apache.sh ;;
	esac
	ANVIL_PORT=$HTTPS_PORT ANVIL_PUBLISH_PORT=$PUBLISH_PORT ANVIL_BUILDDIR="$top_builddir" \
	    sh "$top_srcdir/scripts/$runner" "$DATA" "$(echo "${ANVIL_WEB:-lighttpd-fcgi}" | sed 's/^[a-z0-9]*-//')" \
	    >"$T/serve.out" 2>&1 &
	PIDS="$PIDS $!"
	if ! wait_for "$DIR_URL" 20; then
		cat "$T/serve.out" "$DATA/lighttpd/error.log" 2>/dev/null
		fail "server did not start"
		finish
	fi
	grep -q "^directory: $DIR_URL\$" "$T/serve.out" && ok "serve prints the directory URL" ||
	    fail "serve output: $(cat "$T/serve.out")"
	grep -q "^trust: $CA_PEM\$" "$T/serve.out" && ok "serve prints the trust path" ||
	    fail "serve output lacks trust line"
}

# verify_chain FILE DESC: the PEM chain FILE verifies against the CA.
verify_chain() {
	if certtool --verify --load-ca-certificate "$CA_PEM" --infile "$1" >"$T/verify.out" 2>&1 &&
	    grep -q "Verified. The certificate is trusted" "$T/verify.out"; then
		ok "$2: chain verifies with certtool"
	else
		fail "$2: chain does not verify"; cat "$T/verify.out"
	fi
}

