#!/bin/sh
# certbot.sh - Debian's certbot against Anvil behind lighttpd (FastCGI):
# account, http-01 (standalone) issue, renew of a certificate the operator
# flagged for renewal (ARI, which certbot 2.1 does not read), dns-01
# (manual hooks), revoke.
. "$(dirname "$0")/lib.sh"
BASEPORT=21000
. "$(dirname "$0")/server.sh"
start_servers

CB="$T/certbot"
mkdir -p "$CB"
certbot_run() {
	REQUESTS_CA_BUNDLE="$CA_PEM" timeout 180 certbot --non-interactive \
	    --server "$DIR_URL" --config-dir "$CB" --work-dir "$CB" \
	    --logs-dir "$CB" --agree-tos -m ops@example.org "$@"
}

expect_exit 0 "certbot register" certbot_run register
expect_exit 0 "certbot http-01 issue" certbot_run certonly --standalone \
    --http-01-address 127.0.0.1 --http-01-port "$HTTP01_PORT" \
    -d www.example.test -d example.test --cert-name web
live="$CB/live/web"
verify_chain "$live/fullchain.pem" "certbot http-01"
certtool -i --infile "$live/cert.pem" >"$T/info" 2>&1
grep -q "DNSname: www.example.test" "$T/info" && grep -q "DNSname: example.test" "$T/info" &&
    ok "both names in the SAN" || fail "SAN wrong: $(grep DNSname "$T/info")"
s1=$(cert_serial "$live/cert.pem")

expect_exit 0 "renewal advise on certbot's certificate" "$ADMIN" --config "$CONF" \
    renewal advise --serial "$s1" --explanation https://example.org/incident
expect_exit 0 "certbot renew" certbot_run renew --force-renewal --no-random-sleep-on-renew --cert-name web \
    --standalone --http-01-address 127.0.0.1 --http-01-port "$HTTP01_PORT"
s2=$(cert_serial "$live/cert.pem")
[ -n "$s2" ] && [ "$s1" != "$s2" ] && ok "renewal gave a new certificate ($s1 -> $s2)" ||
    fail "renewal kept serial $s1 / $s2"
verify_chain "$live/fullchain.pem" "certbot renewal"
# A client that sends no `replaces` leaves the flagged certificate as it
# was: advised, valid, replaced by nothing.
"$ADMIN" --config "$CONF" --json certs show "$s1" >"$T/show.json" 2>&1
/usr/bin/python3 -c 'import json,sys
d = json.load(open(sys.argv[1]))
sys.exit(0 if d["status"] == "valid" and d["renewal_explanation"] ==
         "https://example.org/incident" and d["replaced_by_order"] is None
         else 1)' "$T/show.json" && ok "the flagged certificate is advised, not replaced" ||
    { fail "certs show of the flagged certificate"; cat "$T/show.json"; }

# dns-01 through manual hooks that write TXT records into the DNS answerer.
cat >"$T/auth-hook.sh" <<EOH
#!/bin/sh
curl -s -X POST -d "{\"host\":\"_acme-challenge.\$CERTBOT_DOMAIN.\",\"value\":\"\$CERTBOT_VALIDATION\"}" http://127.0.0.1:$MGMT_PORT/set-txt
EOH
cat >"$T/cleanup-hook.sh" <<EOH
#!/bin/sh
curl -s -X POST -d "{\"host\":\"_acme-challenge.\$CERTBOT_DOMAIN.\"}" http://127.0.0.1:$MGMT_PORT/clear-txt
EOH
chmod +x "$T/auth-hook.sh" "$T/cleanup-hook.sh"
expect_exit 0 "certbot dns-01 (manual hooks) with a wildcard" certbot_run certonly \
    --manual --preferred-challenges dns --manual-auth-hook "$T/auth-hook.sh" \
    --manual-cleanup-hook "$T/cleanup-hook.sh" -d '*.wild.example.test' \
    --cert-name wild
verify_chain "$CB/live/wild/fullchain.pem" "certbot dns-01"
certtool -i --infile "$CB/live/wild/cert.pem" 2>/dev/null | grep -q 'DNSname: \*.wild.example.test' &&
    ok "wildcard in the SAN" || fail "wildcard missing"

expect_exit 0 "certbot revoke (keyCompromise)" certbot_run revoke \
    --cert-path "$live/cert.pem" --reason keycompromise --no-delete-after-revoke
expect_exit 1 "revoking again is refused" certbot_run revoke \
    --cert-path "$live/cert.pem" --reason keycompromise --no-delete-after-revoke
# certbot 2.1 then trips over its own error display; its log has the reply.
grep -q "urn:ietf:params:acme:error:alreadyRevoked" "$CB/letsencrypt.log" &&
    ok "alreadyRevoked reported" || fail "no alreadyRevoked in certbot's log"

finish
