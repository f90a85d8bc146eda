#!/bin/sh
# caa.sh - CAA (RFC 8659, RFC 8657), dns-account-01 and dns-persist-01
# against a real authoritative DNS server: NSD on loopback serving zone
# files this test writes (caa.py rewrites caa.test and reloads NSD), one
# of them DNSSEC-signed by ldns-signzone and then broken. Anvil forwards
# to NSD (dns_resolver), checks CAA (caa_identities) and validates that
# zone with its key as trust anchor (dns_trust_anchor). caa.py drives the
# table of CAA rows (SERVFAIL, and a timeout while NSD is stopped, among
# them) and the new challenge types; lego then issues with dns-01 through
# the same NSD.
. "$(dirname "$0")/lib.sh"
BASEPORT=20500
NSD_PORT=$((BASEPORT + 54))
ZONES="$T/nsd"
command -v nsd >/dev/null && command -v ldns-signzone >/dev/null &&
    command -v drill >/dev/null || { echo "SKIP: nsd or ldnsutils missing"; exit 77; }
mkdir -p "$ZONES"

# ---------------------------------------------------------------- zones
soa() {
	printf '$ORIGIN %s.\n$TTL 1\n@ SOA ns.test. hostmaster.test. %s 3600 600 86400 1\n@ NS ns.test.\n' "$1" "${2:-1}"
}
{ soa test; echo 'ns A 127.0.0.1'; } >"$ZONES/test.zone"
{ soa caa.test; echo '* A 127.0.0.1'; } >"$ZONES/caa.test.zone"
# Its parent, example., is served by nobody: NSD answers REFUSED, and the
# resolver SERVFAIL, when the CAA climb reaches it.
{ soa sf.example; echo 'h A 127.0.0.1'; } >"$ZONES/sf.example.zone"
{
	soa dnssec.test
	echo 'good A 127.0.0.1'
	echo 'good CAA 0 issue "anvil.test"'
	echo 'bad A 127.0.0.1'
	echo 'bad CAA 0 issue "anvil.test"'
} >"$ZONES/dnssec.test.unsigned"
(
	cd "$ZONES" || exit 1
	k=$(ldns-keygen -a ECDSAP256SHA256 -k dnssec.test) &&
	    ldns-signzone -n -o dnssec.test -f dnssec.test.zone \
	    dnssec.test.unsigned "$k" >/dev/null &&
	    grep -v '^;' "$k.key" >"$T/trust-anchor"
) || { fail "signing dnssec.test"; finish; }
# Broken signature: the record the RRSIG covers says something else now.
sed -i 's/^\(bad\.dnssec\.test\.[[:space:]].*CAA[[:space:]].*\)"anvil\.test"/\1"anvil.tesu"/' \
    "$ZONES/dnssec.test.zone"
grep -q '"anvil.tesu"' "$ZONES/dnssec.test.zone" && ok "dnssec.test signed, bad.dnssec.test broken" ||
    { fail "could not break bad.dnssec.test"; cat "$ZONES/dnssec.test.zone"; }

cat >"$ZONES/nsd.conf" <<EOC
server:
  ip-address: 127.0.0.1@$NSD_PORT
  username: ""
  chroot: ""
  zonesdir: "$ZONES"
  database: ""
  pidfile: "$ZONES/nsd.pid"
  xfrdfile: "$ZONES/xfrd.state"
  zonelistfile: "$ZONES/zone.list"
  xfrdir: "$ZONES"
  logfile: "$ZONES/nsd.log"
  server-count: 1
  verbosity: 1
remote-control:
  control-enable: no
EOC
for z in test caa.test sf.example dnssec.test; do
	printf 'zone:\n  name: %s\n  zonefile: %s.zone\n' "$z" "$z" >>"$ZONES/nsd.conf"
done

# ---------------------------------------------------------------- servers
EXTRA_SERVER="caa_identities = anvil.test, ca.anvil.test"
DNS_RESOLVER="127.0.0.1@$NSD_PORT"
# caa_max_age 0: finalize checks CAA again, so caa.py can show a record
# published after validation stopping issuance.
EXTRA_VALIDATION="caa_max_age = 0
dns_trust_anchor = $T/trust-anchor
challenges_dns = http-01, dns-01, tls-alpn-01, dns-account-01, dns-persist-01
challenges_wildcard = dns-01, dns-account-01, dns-persist-01"
# A profile offers its own challenge types (caa.py: profile_offer).
EXTRA_CONF="[profile classic]
[profile persistonly]
challenges_dns = dns-persist-01"
. "$(dirname "$0")/server.sh"
nsd -d -c "$ZONES/nsd.conf" >"$T/nsd.out" 2>&1 &
NSD_PID=$!
PIDS="$PIDS $NSD_PID"
n=0
until drill -p "$NSD_PORT" @127.0.0.1 good.dnssec.test CAA 2>/dev/null | grep -q 'issue "anvil.test"'; do
	n=$((n + 1))
	[ $n -lt 50 ] || { fail "NSD did not answer"; cat "$T/nsd.out" "$ZONES/nsd.log"; finish; }
	sleep 0.1
done
ok "NSD serves the test zones on 127.0.0.1:$NSD_PORT"
start_servers

DIR_URL="$DIR_URL" CA_PEM="$CA_PEM" HTTP01_PORT="$HTTP01_PORT" \
    TLSALPN01_PORT="$TLSALPN01_PORT" MGMT_PORT="$MGMT_PORT" DATA="$DATA" \
    ZONES="$ZONES" NSD_PORT="$NSD_PORT" NSD_PID="$NSD_PID" \
    timeout 300 /usr/bin/python3 "$top_srcdir/tests/integration/caa.py"
rc=$?
[ "$rc" -eq 0 ] && ok "caa.py" || { fail "caa.py exited $rc"; tail -n 30 "$DATA/lighttpd/error.log" 2>/dev/null; }

# ---------------------------------------------------------------- lego
# lego's dns-01 through NSD, with CAA on (caa.test allows every CA but
# names nobody: no issue property at all).
cat >"$T/dns-exec.sh" <<EOH
#!/bin/sh
# lego exec provider: \$1 = present|cleanup, \$2 = FQDN, \$3 = value
z="$ZONES/caa.test.zone"
case "\$1" in
present) echo "\$2 TXT \"\$3\"" >>"\$z" ;;
cleanup) sed -i "/^\$2 TXT/d" "\$z" ;;
esac
kill -HUP $NSD_PID
n=0
while [ "\$1" = present ] && [ \$n -lt 50 ] &&
    ! drill -p $NSD_PORT @127.0.0.1 "\$2" TXT | grep -qF "\$3"; do
	sleep 0.1; n=\$((n + 1))
done
EOH
chmod +x "$T/dns-exec.sh"
path="$T/lego"
LEGO_CA_CERTIFICATES="$CA_PEM" EXEC_PATH="$T/dns-exec.sh" \
    timeout 180 lego --accept-tos --email ops@example.org --server "$DIR_URL" \
    --path "$path" --domains lego.caa.test --dns exec \
    --dns.resolvers "127.0.0.1:$NSD_PORT" --dns.disable-cp run >"$T/out" 2>&1
rc=$?
[ "$rc" -eq 0 ] && ok "lego dns-01 through NSD with CAA on" ||
    { fail "lego dns-01 through NSD: exit $rc"; sed 's/^/    /' "$T/out"; }
[ "$rc" -eq 0 ] && verify_chain "$path/certificates/lego.caa.test.crt" "lego dns-01 (NSD)"
finish
