#!/bin/sh
# lego.sh - Debian's lego against Anvil behind lighttpd (FastCGI):
# http-01, tls-alpn-01 and dns-01 (exec provider), each: new account,
# issue, renew, revoke; every chain verified with certtool.
. "$(dirname "$0")/lib.sh"
BASEPORT=22000
. "$(dirname "$0")/server.sh"
start_servers

cat >"$T/dns-exec.sh" <<EOH
#!/bin/sh
# lego exec provider: \$1 = present|cleanup, \$2 = FQDN, \$3 = value
case "\$1" in
present) curl -s -X POST -d "{\"host\":\"\$2\",\"value\":\"\$3\"}" http://127.0.0.1:$MGMT_PORT/set-txt ;;
cleanup) curl -s -X POST -d "{\"host\":\"\$2\"}" http://127.0.0.1:$MGMT_PORT/clear-txt ;;
esac
EOH
chmod +x "$T/dns-exec.sh"

# lego_flow NAME DOMAIN ARGS...: run, renew, revoke with one challenge type.
lego_flow() {
	name=$1; domain=$2; shift 2
	path="$T/lego-$name"
	lego_cmd() {
		LEGO_CA_CERTIFICATES="$CA_PEM" EXEC_PATH="$T/dns-exec.sh" \
		    timeout 180 lego --accept-tos --email "ops-$name@example.org" \
		    --server "$DIR_URL" --path "$path" --domains "$domain" "$@"
	}
	expect_exit 0 "lego $name: new account + issue" lego_cmd "$@" run
	crt="$path/certificates/$domain.crt"
	verify_chain "$crt" "lego $name"
	s1=$(cert_serial "$crt")
	# lego 4.9 does not read ARI: a certificate the operator flagged
	# for renewal still renews the old way.
	expect_exit 0 "lego $name: renewal advise" "$ADMIN" --config "$CONF" \
	    renewal advise --serial "$s1"
	expect_exit 0 "lego $name: renew" lego_cmd "$@" renew --days 1000 --no-random-sleep
	s2=$(cert_serial "$crt")
	[ -n "$s2" ] && [ "$s1" != "$s2" ] && ok "lego $name: renewal is a new certificate" ||
	    fail "lego $name: renewal serial $s1 / $s2"
	verify_chain "$crt" "lego $name renewal"
	expect_exit 0 "lego $name: revoke" lego_cmd "$@" revoke --reason 4
}

want() { [ -z "${LEGO_ONLY:-}" ] || [ "$LEGO_ONLY" = "$1" ]; }
want http01 && lego_flow http01 h.example.test --http --http.port "127.0.0.1:$HTTP01_PORT"
want tlsalpn && lego_flow tlsalpn t.example.test --tls --tls.port "127.0.0.1:$TLSALPN01_PORT"
want dns01 && lego_flow dns01 d.example.test --dns exec --dns.resolvers "127.0.0.1:$DNS_PORT" \
    --dns.disable-cp
finish
