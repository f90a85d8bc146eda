#!/bin/sh
# sharedhost.sh - Anvil the way a shared-host customer runs it, following
# docs/shared-host.md: a Unix user of its own builds and installs Anvil into
# its home without root, copies the shipped entry point and .htaccess into
# ~/public_html, and runs its crontab lines; Apache, started here the way
# hosts run it (mod_userdir, suEXEC, AllowOverride FileInfo
# Options=ExecCGI, RLimitCPU/MEM/NPROC), reaches Anvil at /~USER/acme/
# through plain CGI and then through mod_fcgid (FcgidWrapper), then the
# same in a virtual host of the user's (SuexecUserGroup). certbot and lego
# each get, renew and revoke a certificate through every shape; every
# anvil process seen is the customer's (ps, suEXEC's log, file owners);
# the CRL from the cron line is served from the customer's folder; a
# memory limit too low for the store gives a clear message at once.
# It also prints what it measured: which SetEnv names reach a suEXEC CGI,
# what becomes of 200 + Location, the limits each process runs under.
. "$(dirname "$0")/lib.sh"
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root (makes a user; suEXEC needs Apache started as root)"; exit 77; }
SUEXEC=/usr/lib/apache2/suexec
SUEXEC_LOG=/var/log/apache2/suexec.log
[ -u "$(readlink -f "$SUEXEC")" ] || { echo "SKIP: no setuid $SUEXEC (apache2-suexec-pristine)"; exit 77; }

BASEPORT=18000
HTTPS_PORT=$((BASEPORT + 443))
HTTP_PORT=$((BASEPORT + 444))
HTTP01_PORT=$((BASEPORT + 80))
VHOST_PORT=$((BASEPORT + 445))
DNS_PORT=$((BASEPORT + 53))
MGMT_PORT=$((BASEPORT + 55))
U=anvilhost
# The other way hosts give a customer a site: a virtual host of its own
# under suEXEC's compiled-in docroot (/usr/lib/apache2/suexec -V).
VHOST_ROOT=/var/www/anvilhost
# Enough address space to load the programs, too little for the store's
# shared regions (measured: libraries load in 16 MB, the store needs more
# than 32 MB).
TIGHT_MEM=25165824
AP="$T/apache"
PIDS=""

# as_user CMD: CMD run by the customer's login shell, in their home.
as_user() { su -s /bin/sh "$U" -c "cd && $1"; }

cleanup() {
	for p in $PIDS; do kill "$p" 2>/dev/null; done
	[ -f "$AP/httpd.pid" ] && kill "$(cat "$AP/httpd.pid")" 2>/dev/null
	for p in $PIDS; do wait "$p" 2>/dev/null; done
	n=0
	while [ -f "$AP/httpd.pid" ] && [ $n -lt 100 ]; do sleep 0.1; n=$((n + 1)); done
	# The customer's processes (FastCGI servers, validation runners)
	# belong to the user this test made.
	pkill -KILL -U "$U" 2>/dev/null
	[ -n "${ANVIL_KEEP:-}" ] || { userdel -r "$U" 2>/dev/null; rm -rf "$T" "$VHOST_ROOT"; }
}
trap cleanup EXIT

# A fresh customer: nothing of an earlier run.
if id "$U" >/dev/null 2>&1; then
	pkill -KILL -U "$U" 2>/dev/null
	sleep 0.5
	userdel -r "$U" >/dev/null 2>&1
fi
rm -rf "$VHOST_ROOT"
useradd -m -s /bin/sh "$U" || { fail "useradd $U"; finish; }
H=$(getent passwd "$U" | cut -d: -f6)
UID_U=$(id -u "$U")
# Hosts let the web server through the home folder, not into it.
chmod 0711 "$H"
PREFIX="$H/anvil"
PUB="$H/public_html"
SITE="https://127.0.0.1:$HTTPS_PORT/~$U"
DOCROOT=$PUB
BASE="$SITE/acme"
DIR_URL="$BASE/directory"

# ------------------------------------------------------------ 1. install
# The release tarball's contents, as the customer downloads it.
make -s -C "$top_builddir" distdir distdir="$T/anvil-src" >"$T/dist.out" 2>&1 ||
    { cat "$T/dist.out"; fail "make distdir"; finish; }
tar -C "$T" -czf "$H/anvil.tar.gz" anvil-src && chown "$U:" "$H/anvil.tar.gz"
rm -rf "$T/anvil-src"
touch "$T/before-install"
if timeout 1200 su -s /bin/sh "$U" -c 'cd && tar xzf anvil.tar.gz && cd anvil-src &&
    ./configure --prefix=$HOME/anvil && make -j2 && make install' >"$T/install.out" 2>&1; then
	ok "as $U: ./configure --prefix=\$HOME/anvil && make && make install"
else
	tail -n 30 "$T/install.out"; fail "install as $U"; finish
fi
# Nothing written outside the home folder (the prefix, data folder and
# the unpacked sources are all in it).
outside=$(find /tmp /var/tmp /etc /usr/local /var/lib /var/www -xdev -user "$U" 2>/dev/null | head -5)
[ -z "$outside" ] && ok "install wrote nothing of $U's outside $H" ||
    fail "files of $U outside its home: $outside"
for f in bin/anvil-admin bin/anvil-crl libexec/anvil share/anvil/shared-host/anvil.cgi \
    share/anvil/shared-host/htaccess share/anvil/shared-host/htaccess-fcgid \
    share/anvil/shared-host/crontab; do
	[ -e "$PREFIX/$f" ] && ok "installed $f" || fail "not installed: $f"
done

# ------------------------------------------------------------ 2. configure
# docs/shared-host.md's config; validation here reaches a loopback client
# and a local DNS answerer.
pebble-challtestsrv -dns01 "127.0.0.1:$DNS_PORT" -http01 "" -https01 "" \
    -tlsalpn01 "" -management "127.0.0.1:$MGMT_PORT" -defaultIPv6 "" \
    >"$T/challtestsrv.log" 2>&1 &
PIDS="$PIDS $!"
as_user "cat >\$HOME/anvil/etc/anvil/anvil.conf" <<EOC
[server]
base_url = $BASE
data_dir = $PREFIX/var/lib/anvil

[issuance]
crl_dir = $PUB/crl
crl_url = http://127.0.0.1:$HTTP_PORT/~$U/crl/anvil.crl
ca_issuers_url = http://127.0.0.1:$HTTP_PORT/~$U/crl/ca.crt

[validation]
http_port = $HTTP01_PORT
dns_resolver = 127.0.0.1@$DNS_PORT
timeout = 5
allow_networks = 127.0.0.1/32
EOC
expect_exit 0 "as $U: anvil-admin init finds the config with no --config" \
    as_user 'anvil/bin/anvil-admin init'
CA_PEM="$PREFIX/var/lib/anvil/ca.pem"
as_user 'mkdir -p public_html/cgi-bin public_html/crl &&
    cp anvil/share/anvil/shared-host/anvil.cgi public_html/cgi-bin/ &&
    cp anvil/share/anvil/shared-host/htaccess public_html/.htaccess &&
    chmod 0755 public_html public_html/cgi-bin public_html/crl public_html/cgi-bin/anvil.cgi'

# ------------------------------------------------------------ 3. Apache
# The host's side: what the customer cannot change.
mkdir -p "$AP/www" "$AP/fcgid" "$AP/tls" "$VHOST_ROOT"
chown "$U:$U" "$VHOST_ROOT"
chmod 0755 "$VHOST_ROOT"
certtool --generate-privkey --key-type=ecdsa --outfile "$AP/tls/ca.key" >/dev/null 2>&1
printf 'cn = "Hosting TLS CA"\nca\ncert_signing_key\nexpiration_days = 30\n' >"$AP/tls/ca.tmpl"
certtool --generate-self-signed --load-privkey "$AP/tls/ca.key" --template "$AP/tls/ca.tmpl" \
    --outfile "$AP/tls/ca.pem" >/dev/null 2>&1
certtool --generate-privkey --key-type=ecdsa --outfile "$AP/tls/tls.key" >/dev/null 2>&1
printf 'cn = "localhost"\nip_address = "127.0.0.1"\ntls_www_server\nsigning_key\nexpiration_days = 30\n' \
    >"$AP/tls/tls.tmpl"
certtool --generate-certificate --load-privkey "$AP/tls/tls.key" --load-ca-certificate "$AP/tls/ca.pem" \
    --load-ca-privkey "$AP/tls/ca.key" --template "$AP/tls/tls.tmpl" --outfile "$AP/tls/tls.pem" >/dev/null 2>&1
TRUST="$AP/tls/ca.pem"
mods=/usr/lib/apache2/modules
{
	echo "ServerRoot $AP"
	echo "ServerName localhost"
	echo "Listen 127.0.0.1:$HTTPS_PORT"
	echo "Listen 127.0.0.1:$HTTP_PORT"
	echo "Listen 127.0.0.1:$VHOST_PORT"
	echo "PidFile $AP/httpd.pid"
	echo "DefaultRuntimeDir $AP"
	echo "ErrorLog $AP/error.log"
	echo "LogLevel notice"
	echo "User www-data"
	echo "Group www-data"
	echo "TypesConfig /etc/mime.types"
	for m in mpm_event authz_core mime ssl socache_shmcb userdir suexec cgid rewrite headers env fcgid; do
		echo "LoadModule ${m}_module $mods/mod_$m.so"
	done
	cat <<EOC
ScriptSock $AP/cgid.sock
FcgidIPCDir $AP/fcgid
FcgidProcessTableFile $AP/fcgid/shm
FcgidIOTimeout 60
DocumentRoot $AP/www
# What a host allows its customers (and no more).
RLimitCPU 60 120
RLimitMEM 268435456
RLimitNPROC 20
UserDir public_html
UserDir disabled root
<Directory />
	AllowOverride None
	Require all denied
</Directory>
<FilesMatch "^\.ht">
	Require all denied
</FilesMatch>
<Directory /home/*/public_html>
	AllowOverride FileInfo Options=ExecCGI
	Options SymLinksIfOwnerMatch
	Require all granted
</Directory>
# A folder whose programs get too little memory to open the store.
<Directory /home/*/public_html/tight>
	RLimitMEM $TIGHT_MEM
</Directory>
<VirtualHost 127.0.0.1:$HTTPS_PORT>
	SSLEngine on
	SSLCertificateFile $AP/tls/tls.pem
	SSLCertificateKeyFile $AP/tls/tls.key
</VirtualHost>
<VirtualHost 127.0.0.1:$HTTP_PORT>
</VirtualHost>
<VirtualHost 127.0.0.1:$VHOST_PORT>
	DocumentRoot $VHOST_ROOT
	SuexecUserGroup $U $U
	SSLEngine on
	SSLCertificateFile $AP/tls/tls.pem
	SSLCertificateKeyFile $AP/tls/tls.key
	<Directory $VHOST_ROOT>
		AllowOverride FileInfo Options=ExecCGI
		Options SymLinksIfOwnerMatch
		Require all granted
	</Directory>
</VirtualHost>
EOC
} >"$AP/httpd.conf"
chmod o+x "$T"
chown -R www-data:www-data "$AP/fcgid"
apache2 -t -f "$AP/httpd.conf" >"$T/out" 2>&1 || { cat "$T/out"; fail "apache2 -t"; finish; }
apache2 -f "$AP/httpd.conf" -DFOREGROUND >"$T/apache.out" 2>&1 &
PIDS="$PIDS $!"

# wait_for URL SECONDS: polls until curl gets an HTTP answer.
wait_for() {
	n=0
	while [ $n -lt $(($2 * 10)) ]; do
		if curl -s -o /dev/null --max-time 1 --cacert "$TRUST" "$1"; then return 0; fi
		sleep 0.1; n=$((n + 1))
	done
	return 1
}
wait_for "$DIR_URL" 20 || { cat "$T/apache.out" "$AP/error.log"; fail "Apache did not start"; finish; }
grep -q "suEXEC mechanism enabled" "$AP/error.log" && ok "Apache runs CGI through suEXEC" ||
    fail "suEXEC is not enabled: $(cat "$AP/error.log")"

verify_chain() {
	if certtool --verify --load-ca-certificate "$CA_PEM" --infile "$1" >"$T/verify.out" 2>&1 &&
	    grep -q "Verified. The certificate is trusted" "$T/verify.out"; then
		ok "$2: chain verifies with certtool"
	else
		fail "$2: chain does not verify"; cat "$T/verify.out"
	fi
}

# sample_owners FILE: until FILE.stop exists, appends the owner of every
# process running the customer's anvil (ps, every 50 ms).
sample_owners() {
	while [ ! -e "$1.stop" ]; do
		ps -e -o pid=,uid=,args= | grep -F "$PREFIX/libexec/anvil" | grep -v grep |
		while read -r pid uid _; do
			# uid, name, then the soft limits: address space,
			# processes, CPU.
			comm=$(cat "/proc/$pid/comm" 2>/dev/null)
			awk -v uid="$uid" -v comm="$comm" '/^Max address space/ { as = $4 }
			    /^Max processes/ { np = $3 } /^Max cpu time/ { cpu = $4 }
			    END { if (as != "") print uid, comm, as, np, cpu }' "/proc/$pid/limits" 2>/dev/null
		done >>"$1"
		sleep 0.05
	done
}

# flows SHAPE: existing account, certbot and lego get, renew, revoke.
flows() {
	shape=$1
	sx0=$(stat -c %s "$SUEXEC_LOG" 2>/dev/null || echo 0)
	code=$(curl -s --max-time 30 -o "$T/dir.json" -w '%{http_code}' --cacert "$TRUST" "$DIR_URL")
	[ "$code" = 200 ] && grep -q '"newNonce": "'"$BASE"'/new-nonce"' "$T/dir.json" &&
	    ok "[$shape] directory at $BASE/" || fail "[$shape] directory: $code $(cat "$T/dir.json")"
	expect_exit 0 "[$shape] existing account keeps 200 + Location" \
	    /usr/bin/python3 "$top_srcdir/tests/integration/existing_account.py" "$DIR_URL" "$TRUST"
	cat "$T/out"
	code=$(curl -s --max-time 30 -o /dev/null -w '%{http_code}' --cacert "$TRUST" \
	    "$SITE/cgi-bin/anvil.cgi/directory")
	[ "$code" = 403 ] && ok "[$shape] the entry point is reachable only through acme/" ||
	    fail "[$shape] cgi-bin/anvil.cgi directly: $code"

	: >"$T/owners-$shape"
	sample_owners "$T/owners-$shape" &
	sampler=$!
	CB="$T/certbot-$shape"
	certbot_run() {
		REQUESTS_CA_BUNDLE="$TRUST" timeout 180 certbot --non-interactive \
		    --server "$DIR_URL" --config-dir "$CB" --work-dir "$CB" \
		    --logs-dir "$CB" --agree-tos -m ops@example.org "$@"
	}
	expect_exit 0 "[$shape] certbot http-01 issue" certbot_run certonly --standalone \
	    --http-01-address 127.0.0.1 --http-01-port "$HTTP01_PORT" -d "cb.$shape.example.test" --cert-name cb
	verify_chain "$CB/live/cb/fullchain.pem" "[$shape] certbot"
	s1=$(cert_serial "$CB/live/cb/cert.pem")
	expect_exit 0 "[$shape] certbot renew" certbot_run renew --force-renewal --cert-name cb \
	    --no-random-sleep-on-renew
	s2=$(cert_serial "$CB/live/cb/cert.pem")
	[ -n "$s2" ] && [ "$s1" != "$s2" ] && ok "[$shape] certbot renewal is a new certificate" ||
	    fail "[$shape] certbot renewal serial $s1 / $s2"
	verify_chain "$CB/live/cb/fullchain.pem" "[$shape] certbot renewed"
	expect_exit 0 "[$shape] certbot revoke" certbot_run revoke \
	    --cert-path "$CB/live/cb/cert.pem" --reason keycompromise --no-delete-after-revoke
	echo "$s2" >>"$T/revoked"

	LG="$T/lego-$shape"
	lego_cmd() {
		LEGO_CA_CERTIFICATES="$TRUST" timeout 180 lego --accept-tos \
		    --email ops@example.org --server "$DIR_URL" --path "$LG" \
		    --domains "lego.$shape.example.test" --http --http.port "127.0.0.1:$HTTP01_PORT" "$@"
	}
	crt="$LG/certificates/lego.$shape.example.test.crt"
	expect_exit 0 "[$shape] lego http-01 issue" lego_cmd run
	verify_chain "$crt" "[$shape] lego"
	s1=$(cert_serial "$crt")
	expect_exit 0 "[$shape] lego renew" lego_cmd renew --days 1000 --no-random-sleep
	s2=$(cert_serial "$crt")
	[ -n "$s2" ] && [ "$s1" != "$s2" ] && ok "[$shape] lego renewal is a new certificate" ||
	    fail "[$shape] lego renewal serial $s1 / $s2"
	expect_exit 0 "[$shape] lego revoke" lego_cmd revoke
	echo "$s2" >>"$T/revoked"

	touch "$T/owners-$shape.stop"
	wait "$sampler"
	seen=$(wc -l <"$T/owners-$shape")
	others=$(awk -v u="$UID_U" '$1 != u' "$T/owners-$shape" | sort -u)
	[ "$seen" -gt 0 ] && [ -z "$others" ] &&
	    ok "[$shape] every anvil process seen during the flows runs as $U ($seen samples)" ||
	    fail "[$shape] anvil processes: $seen samples, not as uid $UID_U: $others"
	# suEXEC logs each program it starts, with the user it runs it as.
	tail -c +$((sx0 + 1)) "$SUEXEC_LOG" 2>/dev/null | grep "cmd: anvil.cgi" >"$T/suexec-$shape"
	runs=$(wc -l <"$T/suexec-$shape")
	[ "$runs" -gt 0 ] && ! grep -qv "uid: ($UID_U/$U) gid: ($UID_U/$U)" "$T/suexec-$shape" &&
	    ok "[$shape] suEXEC started anvil.cgi $runs times, each as $U" ||
	    fail "[$shape] suEXEC log: $runs runs; $(grep -v "uid: ($UID_U/$U)" "$T/suexec-$shape" | head -3)"
	notmine=$(find "$PREFIX/var/lib/anvil" "$DOCROOT" ! -user "$U" | head -3)
	[ -z "$notmine" ] && ok "[$shape] every file in the data folder and $DOCROOT is $U's" ||
	    fail "[$shape] files not $U's: $notmine"
	echo "    [$shape] processes seen (uid, name, soft limits: address space, processes, CPU s):"
	sort "$T/owners-$shape" | uniq -c | sed 's/^/    /'
}

flows cgi

# Without mod_headers: the entry point named nph- (docs/shared-host.md).
as_user 'cp public_html/cgi-bin/anvil.cgi public_html/cgi-bin/nph-anvil.cgi &&
    sed "s/anvil\\.cgi/nph-anvil.cgi/g" anvil/share/anvil/shared-host/htaccess |
    grep -v "^Header" >public_html/.htaccess'
expect_exit 0 "[nph] existing account keeps 200 + Location without mod_headers" \
    /usr/bin/python3 "$top_srcdir/tests/integration/existing_account.py" "$DIR_URL" "$TRUST"
grep -q "nph-anvil.cgi" "$PUB/.htaccess" || fail "[nph] .htaccess: $(cat "$PUB/.htaccess")"
rm -f "$PUB/cgi-bin/nph-anvil.cgi"

# ------------------------------------------------------------ 4. mod_fcgid
# The customer swaps the .htaccess; the host's config stays as it is.
as_user 'sed "s|@DOCROOT@|$HOME/public_html|" anvil/share/anvil/shared-host/htaccess-fcgid \
    >public_html/.htaccess'
flows fcgid
fcgi=$(pgrep -u "$U" -x anvil | head -1)
if [ -n "$fcgi" ]; then
	ok "[fcgid] FastCGI process $fcgi stays, owned by $U"
	grep -E "Max (cpu time|address space|processes)" "/proc/$fcgi/limits" | sed 's/^/    /'
else
	fail "[fcgid] no FastCGI anvil process of $U"
fi

# ------------------------------------------------------------ measured
# Why the entry point, not .htaccess, sets anvil's variables: what of a
# SetEnv reaches a suEXEC CGI, and what becomes of 200 + Location.
as_user 'mkdir public_html/probe && cd public_html/probe &&
    printf "%s\n" "#!/bin/sh" "printf \"Content-Type: text/plain\\r\\n\\r\\n\"" "env" >env.cgi &&
    printf "%s\n" "#!/bin/sh" "printf \"Status: 200 OK\\r\\nLocation: https://example.org/a\\r\\nContent-Location: https://example.org/b\\r\\n\\r\\n{}\"" >loc.cgi &&
    printf "%s\n" "#!/bin/sh" "printf \"HTTP/1.1 200 OK\\r\\nLocation: https://example.org/a\\r\\n\\r\\n{}\"" >nph-loc.cgi &&
    chmod 0755 . env.cgi loc.cgi nph-loc.cgi &&
    printf "%s\n" "Options +ExecCGI" "SetHandler cgi-script" "SetEnv ANVIL_CONFIG /x" \
    "SetEnv ANVIL_LOCATION_HEADER X-Anvil-Location" "SetEnv HTTP_ANVIL_PROBE 1" \
    "SetEnv SSL_ANVIL_PROBE 1" "SetEnv TZ UTC" >.htaccess'
PROBE="https://127.0.0.1:$HTTPS_PORT/~$U/probe"
curl -s --max-time 30 --cacert "$TRUST" "$PROBE/env.cgi" >"$T/probe-env"
arrived=""
for v in ANVIL_CONFIG ANVIL_LOCATION_HEADER HTTP_ANVIL_PROBE SSL_ANVIL_PROBE TZ; do
	grep -q "^$v=" "$T/probe-env" && arrived="$arrived $v"
done
grep -q "^SCRIPT_FILENAME=" "$T/probe-env" && ! grep -q "^ANVIL_" "$T/probe-env" &&
    ok "suEXEC drops SetEnv ANVIL_*; of those set, these arrive:${arrived:- none}" ||
    fail "suEXEC probe: $(cat "$T/probe-env")"
for c in loc nph-loc; do
	curl -s --max-time 30 -o /dev/null -D "$T/probe-$c" --cacert "$TRUST" "$PROBE/$c.cgi"
	echo "    $c.cgi (Status 200 + Location) arrives as: $(head -1 "$T/probe-$c" | tr -d '\r')," \
	    "Location: $(sed -n 's/^[Ll]ocation: //p' "$T/probe-$c" | tr -d '\r')," \
	    "$(grep -ci '^content-location:' "$T/probe-$c") Content-Location"
done

# ------------------------------------------------------------ 5. cron
# Each documented crontab line, exactly, the way cron runs it: as $U, from
# the home folder, with cron's environment, under the host's limits.
grep -v '^#' "$PREFIX/share/anvil/shared-host/crontab" | grep -v '^$' >"$T/cronlines"
[ -s "$T/cronlines" ] || fail "no crontab lines shipped"
while IFS= read -r line; do
	grep -qxF -- "$line" "$top_srcdir/docs/shared-host.md" ||
	    fail "crontab line not in docs/shared-host.md: $line"
	cmd=$(echo "$line" | cut -d' ' -f6-)
	case $cmd in *"'"*) fail "crontab line with a quote: $line"; continue ;; esac
	if su -s /bin/sh "$U" -c "cd && exec prlimit --as=268435456 --nproc=20 --cpu=60 -- \
	    env -i HOME=$H LOGNAME=$U SHELL=/bin/sh PATH=/usr/bin:/bin timeout 120 /bin/sh -c '$cmd'" \
	    >"$T/cron.out" 2>&1 </dev/null; then
		ok "cron line as $U: $cmd"
	else
		fail "cron line as $U: $cmd"; sed 's/^/    /' "$T/cron.out"
	fi
done <"$T/cronlines"

CRL_URL="http://127.0.0.1:$HTTP_PORT/~$U/crl/anvil.crl"
code=$(curl -s --max-time 30 -o "$T/fetched.crl" -w '%{http_code} %{content_type}' "$CRL_URL")
curl -s --max-time 30 -o "$T/fetched.crl.pem" "$CRL_URL.pem"
[ "$code" = "200 application/pkix-crl" ] && cmp -s "$T/fetched.crl" "$PUB/crl/anvil.crl" &&
    certtool --verify-crl --load-ca-certificate "$CA_PEM" --infile "$T/fetched.crl.pem" >/dev/null 2>&1 &&
    ok "the cron line's CRL is served from ~$U/public_html/crl and verifies" ||
    fail "CRL at $CRL_URL: $code"
[ "$(stat -c %U "$PUB/crl/anvil.crl" 2>/dev/null)" = "$U" ] && ok "the CRL is $U's file" ||
    fail "CRL owner: $(stat -c %U "$PUB/crl/anvil.crl" 2>&1)"
while read -r s; do
	certtool --crl-info --inder --infile "$T/fetched.crl" 2>/dev/null | grep -qi "Serial Number (hex): $s" &&
	    ok "revoked $s is in the CRL" || fail "revoked $s not in the CRL"
done <"$T/revoked"

# ------------------------------------------------------------ limits hit
# Over a limit, a clear message and a quick end, not a hang: a request
# whose process gets too little memory, and the cron line under the same.
# The request reads the store (renewal-info), since a CGI request opens
# it only then (STORE_OPEN_DEFER in src/store/store.h); its config has
# the tight folder's URL as base_url.
as_user "mkdir public_html/tight &&
    sed 's|^base_url = .*|base_url = https://127.0.0.1:$HTTPS_PORT/~$U/tight/anvil.cgi|' \
    anvil/etc/anvil/anvil.conf >anvil/etc/anvil/tight.conf &&
    sed 's|/anvil/anvil.conf\$|/anvil/tight.conf|' public_html/cgi-bin/anvil.cgi \
    >public_html/tight/anvil.cgi && chmod 0755 public_html/tight public_html/tight/anvil.cgi &&
    printf '%s\n' 'Options +ExecCGI' '<Files anvil.cgi>' 'SetHandler cgi-script' '</Files>' \
    >public_html/tight/.htaccess"
grep -q 'tight.conf$' "$H/public_html/tight/anvil.cgi" || fail "the tight entry point has no config"
t0=$(date +%s)
res=$(curl -s -o "$T/tight.json" -w '%{http_code} %{content_type}' --max-time 30 --cacert "$TRUST" \
    "https://127.0.0.1:$HTTPS_PORT/~$U/tight/anvil.cgi/renewal-info/$(cert_id "$T/certbot-cgi/live/cb/cert.pem")")
t1=$(date +%s)
[ "$res" = "500 application/problem+json" ] && grep -q serverInternal "$T/tight.json" &&
    grep -q "opening the store: .*Cannot allocate memory" "$AP/error.log" &&
    ok "RLimitMEM $TIGHT_MEM: 500 problem in $((t1 - t0)) s, the error log says why" ||
    fail "RLimitMEM $TIGHT_MEM: $res in $((t1 - t0)) s: $(cat "$T/tight.json"); log: $(tail -3 "$AP/error.log")"
grep "opening the store" "$AP/error.log" | tail -1 | sed 's/^/    /'
cmd=$(head -1 "$T/cronlines" | cut -d' ' -f6-)
t0=$(date +%s)
su -s /bin/sh "$U" -c "cd && exec prlimit --as=$TIGHT_MEM -- env -i HOME=$H LOGNAME=$U \
    SHELL=/bin/sh PATH=/usr/bin:/bin timeout 60 /bin/sh -c '$cmd'" >"$T/cron.out" 2>&1 </dev/null
rc=$?
t1=$(date +%s)
[ "$rc" = 1 ] && grep -q "Cannot allocate memory" "$T/cron.out" &&
    ok "cron line with $TIGHT_MEM bytes: exit 1 in $((t1 - t0)) s with a message" ||
    fail "cron line with $TIGHT_MEM bytes: exit $rc: $(cat "$T/cron.out")"
sed 's/^/    /' "$T/cron.out"

# ------------------------------------------------------------ a vhost
# The same files in a virtual host of the customer's own (SuexecUserGroup,
# document root under /var/www): base_url is the site's URL.
SITE="https://127.0.0.1:$VHOST_PORT"
DOCROOT=$VHOST_ROOT
BASE="$SITE/acme"
DIR_URL="$BASE/directory"
as_user "sed -i 's|^base_url = .*|base_url = $BASE|' anvil/etc/anvil/anvil.conf &&
    mkdir -p $DOCROOT/cgi-bin && cp anvil/share/anvil/shared-host/anvil.cgi $DOCROOT/cgi-bin/ &&
    chmod 0755 $DOCROOT/cgi-bin $DOCROOT/cgi-bin/anvil.cgi &&
    cp anvil/share/anvil/shared-host/htaccess $DOCROOT/.htaccess"
# mod_fcgid's processes keep the config they read: /~USER/acme/ (still the
# mod_fcgid shape) is served with the old base_url until they go, and
# under the new one it is no ACME path (404). The customer stops them;
# mod_fcgid starts fresh ones (docs/shared-host.md).
old_dir="https://127.0.0.1:$HTTPS_PORT/~$U/acme/directory"
# fcgid_code: the status of the old directory URL, "old" while a process
# with the old config answers.
fcgid_code() {
	c=$(curl -s --max-time 30 -o "$T/old-dir" -w '%{http_code}' --cacert "$TRUST" "$old_dir")
	if grep -q "\"https://127.0.0.1:$HTTPS_PORT/~$U/acme/new-nonce\"" "$T/old-dir"; then echo old; else echo "$c"; fi
}
[ "$(fcgid_code)" = old ] &&
    echo "    mod_fcgid: after the config changed, its processes answer with the old base_url"
as_user 'touch public_html/cgi-bin/anvil.cgi'
sleep 2
echo "    mod_fcgid: 2 s after touching the entry point: $(fcgid_code)"
as_user 'pkill -TERM -u "$(id -un)" -x anvil'
n=0
while [ "$(fcgid_code)" = old ] && [ $n -lt 20 ]; do sleep 0.5; n=$((n + 1)); done
code=$(fcgid_code)
[ "$code" = 404 ] && ok "after pkill -x anvil, mod_fcgid's new processes read the new config" ||
    fail "mod_fcgid after pkill: $code, $(cat "$T/old-dir")"
flows vhost-cgi
as_user "sed 's|@DOCROOT@|$DOCROOT|' anvil/share/anvil/shared-host/htaccess-fcgid >$DOCROOT/.htaccess"
flows vhost-fcgid

# Nothing of the customer's is in reach of a browser but acme/ and crl/.
for p in anvil.cgi cgi-bin/ .htaccess; do
	code=$(curl -s --max-time 30 -o /dev/null -w '%{http_code}' --cacert "$TRUST" "https://127.0.0.1:$HTTPS_PORT/~$U/$p")
	case $code in 403|404) ok "/~$U/$p: $code" ;; *) fail "/~$U/$p: $code" ;; esac
done
finish
