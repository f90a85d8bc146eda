#!/bin/sh
# modmd.sh - Apache's mod_md (Debian's apache2) obtains a certificate from
# Anvil behind lighttpd: its own Apache (private ServerRoot) answers
# http-01 on the port Anvil validates, mod_md drives the whole ACME flow
# with `MDProfile tlsserver`, then the certificate it stored must verify,
# hold the CA exactly once (mod_md follows a certificate's Link rel="up"
# with POST-as-GET and adds what it fetched to the chain) and carry the
# profile. After a restart puts the certificate in service, mod_md reads
# renewalInfo (RFC 9773) and waits; `anvil-admin renewal advise` then
# opens the window, and mod_md renews at once with `replaces`, which the
# store shows on both certificates.
. "$(dirname "$0")/lib.sh"
BASEPORT=16500
. "$(dirname "$0")/server.sh"
mods=/usr/lib/apache2/modules
[ -f "$mods/mod_md.so" ] && [ -x /usr/sbin/apache2 ] || {
	echo "SKIP: Debian's apache2 with mod_md missing"; exit 77; }
start_servers

NAME=md.conf.test
MD_HTTPS_PORT=$((BASEPORT + 2))
AP="$T/md-apache"
mkdir -p "$AP/www" "$AP/md" "$AP/logs"
# mod_md's watchdog runs as Apache's user, who cannot enter $DATA.
cp "$CA_PEM" "$AP/trust.pem"
user=$(id -un); group=$(id -gn)
if [ "$(id -u)" = 0 ]; then
	user=www-data; group=www-data
	chown -R www-data:www-data "$AP"
	d=$AP
	while [ "$d" != / ]; do d=$(dirname "$d"); chmod o+x "$d" 2>/dev/null || true; done
fi
cat >"$AP/httpd.conf" <<EOC
ServerRoot "$AP"
ServerName localhost
PidFile "$AP/httpd.pid"
ErrorLog "$AP/logs/error.log"
LogLevel warn md:debug
User $user
Group $group
Mutex file:$AP default
LoadModule mpm_event_module $mods/mod_mpm_event.so
LoadModule authz_core_module $mods/mod_authz_core.so
LoadModule ssl_module $mods/mod_ssl.so
LoadModule md_module $mods/mod_md.so
Listen 127.0.0.1:$HTTP01_PORT
Listen 127.0.0.1:$MD_HTTPS_PORT
DocumentRoot "$AP/www"
MDStoreDir "$AP/md"
MDCertificateAuthority $DIR_URL
MDCACertificateFile "$AP/trust.pem"
MDCertificateAgreement accepted
MDContactEmail admin@example.org
MDCAChallenges http-01
MDPortMap http:$HTTP01_PORT https:$MD_HTTPS_PORT
MDRetryDelay 1s
MDCheckInterval 2s
MDProfile tlsserver
MDProfileMandatory on
MDRenewViaARI on
MDomain $NAME
<VirtualHost 127.0.0.1:$HTTP01_PORT>
	ServerName $NAME
</VirtualHost>
<VirtualHost 127.0.0.1:$MD_HTTPS_PORT>
	ServerName $NAME
	SSLEngine on
</VirtualHost>
EOC
/usr/sbin/apache2 -t -f "$AP/httpd.conf" >"$T/apache.out" 2>&1 ||
	{ cat "$T/apache.out"; fail "mod_md's Apache config refused"; finish; }
/usr/sbin/apache2 -f "$AP/httpd.conf" -DFOREGROUND >"$T/apache.out" 2>&1 &
PIDS="$PIDS $!"

# wait_pub SECONDS: the staged (or installed) chain mod_md stored whose
# serial is not $OLD_SERIAL; mod_md works in the background and stages a
# certificate for the next restart.
wait_pub() {
	pub=""
	n=0
	while [ $n -lt "$1" ]; do
		for f in "$AP/md/staging/$NAME/pubcert.pem" "$AP/md/domains/$NAME/pubcert.pem"; do
			[ -s "$f" ] && [ "$(cert_serial "$f")" != "${OLD_SERIAL:-}" ] && pub=$f
		done
		[ -n "$pub" ] && return 0
		sleep 1; n=$((n + 1))
	done
	return 1
}
AD() { "$ADMIN" --config "$CONF" "$@"; }
# show_field SERIAL FIELD: one field of `anvil-admin --json certs show`.
show_field() {
	AD --json certs show "$1" 2>/dev/null | /usr/bin/python3 -c 'import json,sys
v = json.load(sys.stdin).get(sys.argv[1])
print("" if v is None else v)' "$2"
}

if ! wait_pub 90; then
	fail "mod_md stored no certificate within 90 s"
	tail -n 40 "$AP/logs/error.log"
	finish
fi
ok "mod_md obtained a certificate for $NAME ($pub)"
verify_chain "$pub" "mod_md's certificate"
ncert=$(grep -c -- "-----BEGIN CERTIFICATE-----" "$pub")
[ "$ncert" = 2 ] && ok "mod_md's chain is the leaf and the CA once" ||
	{ fail "mod_md's chain holds $ncert certificates, wanted 2"; }
grep -q "malformed" "$AP/logs/error.log" &&
	fail "mod_md's log has an ACME malformed error" || ok "no ACME error in mod_md's log"
OLD_SERIAL=$(cert_serial "$pub")
prof=$(show_field "$OLD_SERIAL" profile)
[ "$prof" = tlsserver ] && ok "the store has the certificate under profile tlsserver" ||
	fail "certificate $OLD_SERIAL has profile '$prof', wanted tlsserver"
certtool -i --infile "$pub" 2>/dev/null | sed -n '1,/^-----BEGIN/p' >"$T/leaf.txt"
grep -q "Subject: CN=" "$T/leaf.txt" && fail "tlsserver certificate has a subject CN" ||
	ok "tlsserver certificate has no subject CN"

# A graceful restart puts the staged certificate in service; mod_md then
# checks it every MDCheckInterval, reading renewalInfo each time.
kill -USR1 "$(cat "$AP/httpd.pid")"
n=0
while [ $n -lt 60 ] && [ ! -s "$AP/md/domains/$NAME/pubcert.pem" ]; do sleep 1; n=$((n + 1)); done
[ "$(cert_serial "$AP/md/domains/$NAME/pubcert.pem" 2>/dev/null)" = "$OLD_SERIAL" ] &&
	ok "after the restart the certificate is in service" ||
	{ fail "restart did not install $OLD_SERIAL"; tail -n 40 "$AP/logs/error.log"; finish; }
n=0
while [ $n -lt 60 ] && ! grep -q "AH1051[46]" "$AP/logs/error.log"; do sleep 1; n=$((n + 1)); done
grep -q "GET #0 ARI from" "$AP/logs/error.log" && grep -q "AH1051[46]" "$AP/logs/error.log" &&
	ok "mod_md read renewalInfo and left the certificate in place" ||
	{ fail "mod_md did not assess renewalInfo within 60 s"; tail -n 40 "$AP/logs/error.log"; }
sleep 3
[ -z "$(show_field "$OLD_SERIAL" replaced_by_order)" ] &&
	ok "no renewal before the window opens" || fail "mod_md renewed before any advice"

# The incident-response lever: the window opens now for this serial.
expect_exit 0 "renewal advise for mod_md's certificate" AD renewal advise \
	--serial "$OLD_SERIAL" --explanation https://example.org/incident-1
by=""
n=0
while [ $n -lt 90 ]; do
	by=$(show_field "$OLD_SERIAL" replaced_by_certificate)
	[ -n "$by" ] && break
	sleep 1; n=$((n + 1))
done
if [ -z "$by" ]; then
	fail "mod_md did not renew with replaces within 90 s of the advice"
	tail -n 40 "$AP/logs/error.log"
	finish
fi
ok "the store marks $OLD_SERIAL replaced by certificate $by"
order=$(show_field "$OLD_SERIAL" replaced_by_order)
AD --json orders show "$order" >"$T/order.json" 2>&1
/usr/bin/python3 -c 'import json,sys
d = json.load(open(sys.argv[1]))
sys.exit(0 if d.get("replaces") == sys.argv[2] and d.get("profile") == "tlsserver" else 1)' \
	"$T/order.json" "$OLD_SERIAL" && ok "the renewing order says replaces $OLD_SERIAL, profile tlsserver" ||
	{ fail "renewing order: $(cat "$T/order.json")"; }
grep -q "CA advises renew via ARI now, for explanation see https://example.org/incident-1" \
	"$AP/logs/error.log" && ok "mod_md logged the CA's advice and its explanation" ||
	fail "mod_md's log lacks the ARI advice"
wait_pub 30 && [ "$(cert_serial "$pub")" != "$OLD_SERIAL" ] &&
	ok "mod_md staged the new certificate ($(cert_serial "$pub"))" ||
	fail "mod_md staged no new certificate"
verify_chain "$pub" "mod_md's renewed certificate"
[ "$(show_field "$by" profile)" = tlsserver ] && ok "the renewal kept profile tlsserver" ||
	fail "renewed certificate $by lacks profile tlsserver"
finish
