#!/bin/sh
# modmd.sh - Apache's mod_md (Debian's apache2) obtains a certificate from
# Anvil behind lighttpd: its own Apache (private ServerRoot) answers
# http-01 on the port Anvil validates, mod_md drives the whole ACME flow,
# then the certificate it stored must verify and hold the CA exactly once
# (mod_md follows a certificate's Link rel="up" with POST-as-GET and adds
# what it fetched to the chain).
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

# mod_md works in the background and stages the certificate for the next
# restart: wait for the staged (or installed) chain.
pub=""
n=0
while [ $n -lt 90 ]; do
	for f in "$AP/md/staging/$NAME/pubcert.pem" "$AP/md/domains/$NAME/pubcert.pem"; do
		[ -s "$f" ] && pub=$f
	done
	[ -n "$pub" ] && break
	sleep 1; n=$((n + 1))
done
if [ -z "$pub" ]; then
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
finish
