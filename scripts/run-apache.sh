#!/bin/sh
# run-apache.sh DATA_DIR SHAPE - run Apache httpd 2.4 in the foreground
# serving Anvil over HTTPS on 127.0.0.1 with the shipped apache/ config of
# SHAPE: fcgid (mod_fcgid), proxy-fcgi (mod_proxy_fcgi to anvil under
# spawn-fcgi), cgi (mod_cgid running the anvil program, and mod_headers),
# nph (mod_cgid running anvil through a link named nph-anvil); OCSP GET
# requests answered from anvil-crl's pre-signed answers with
# apache/anvil-ocsp.conf in the HTTPS VirtualHost.
#
# DATA_DIR holds anvil.conf and an initialised CA. Apache's workers run as
# www-data when started as root, so DATA_DIR is given to www-data. Prints
# "directory: URL" and "trust: PATH", then runs until killed.
# Environment: ANVIL_PORT (default 8443), ANVIL_PUBLISH_PORT (plain HTTP
# for /crl/, default ANVIL_PORT+1), ANVIL_BUILDDIR (where anvil was built).
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
data=$(cd "$1" && pwd)
shape=$2
port=${ANVIL_PORT:-8443}
pub=${ANVIL_PUBLISH_PORT:-$((port + 1))}
builddir=$(cd "${ANVIL_BUILDDIR:-$top}" && pwd)
ap="$data/apache"
mods=/usr/lib/apache2/modules
mkdir -p "$ap/www" "$data/crl" "$data/ocsp"
sh "$top/scripts/tls-cert.sh" "$data" "$ap"

user=$(id -un); group=$(id -gn)
if [ "$(id -u)" = 0 ]; then
	user=www-data; group=www-data
	chown -R www-data:www-data "$data"
	# Let www-data reach the data folder and the program.
	d=$data
	while [ "$d" != / ]; do d=$(dirname "$d"); chmod o+x "$d" 2>/dev/null || true; done
fi

# stop_all: proxy-fcgi's exit: Apache (when started) and the FastCGI
# servers whose PIDs spawn-fcgi wrote, one a line.
# shellcheck disable=SC2317 # run by the EXIT trap
stop_all() {
	set +e
	[ -n "${apid:-}" ] && kill "$apid" 2>/dev/null
	# shellcheck disable=SC2046
	kill $(cat "$ap/spawn-fcgi.pid" 2>/dev/null) 2>/dev/null
}

case $shape in
fcgid)
	modules="fcgid headers"
	defs="Define ANVIL_PROGRAM $builddir/anvil"
	extra="FcgidIPCDir $ap/fcgid
FcgidProcessTableFile $ap/fcgid_shm"
	;;
proxy-fcgi)
	modules="proxy proxy_fcgi"
	defs="Define ANVIL_SOCKET $ap/fcgi.sock"
	extra=""
	rm -f "$ap/fcgi.sock"
	if [ "$(id -u)" = 0 ]; then ug="-u www-data -g www-data"; else ug=""; fi
	# shellcheck disable=SC2086
	ANVIL_CONFIG="$data/anvil.conf" spawn-fcgi -s "$ap/fcgi.sock" -M 0660 \
	    $ug -F 4 -P "$ap/spawn-fcgi.pid" -- "$builddir/anvil" >/dev/null
	# spawn-fcgi puts each server in a session of its own: nothing stops
	# them with Apache unless this script does (see the end).
	trap stop_all EXIT
	;;
cgi)
	modules="cgid env headers"
	# Apache runs anvil itself (anvil-cgi.conf sets ANVIL_CONFIG): no
	# wrapper shell per request.
	defs="Define ANVIL_CGI $builddir/anvil"
	extra="ScriptSock $ap/cgid.sock"
	;;
nph)
	modules="cgid env"
	# A link named nph-anvil: Apache passes the name on in
	# SCRIPT_FILENAME, which is what makes anvil answer nph-, and
	# anvil-nph.conf sets ANVIL_CONFIG, so no wrapper shell is needed.
	rm -f "$ap/nph-anvil"
	ln -s "$builddir/anvil" "$ap/nph-anvil"
	defs="Define ANVIL_NPH $ap/nph-anvil"
	extra="ScriptSock $ap/cgid.sock"
	;;
*)
	echo "run-apache.sh: unknown shape \"$shape\" (fcgid, proxy-fcgi, cgi, nph)" >&2
	exit 2
	;;
esac

{
	echo "# written by scripts/run-apache.sh"
	echo "ServerRoot $ap"
	echo "ServerName localhost"
	echo "Listen 127.0.0.1:$port"
	echo "Listen 127.0.0.1:$pub"
	echo "PidFile $ap/httpd.pid"
	echo "DefaultRuntimeDir $ap"
	echo "ErrorLog $ap/error.log"
	echo "LogLevel warn"
	echo "User $user"
	echo "Group $group"
	echo "DocumentRoot $ap/www"
	echo "TypesConfig /etc/mime.types"
	# shellcheck disable=SC2086
	for m in $(printf '%s\n' mpm_event authz_core mime alias ssl \
	    socache_shmcb rewrite expires headers $modules | awk '!seen[$0]++'); do
		echo "LoadModule ${m}_module $mods/mod_$m.so"
	done
	echo "$extra"
	echo "<VirtualHost 127.0.0.1:$port>"
	echo "  SSLEngine on"
	echo "  SSLCertificateFile $ap/chain.pem"
	echo "  SSLCertificateKeyFile $ap/tls.key"
	echo "  Define ANVIL_PREFIX /acme"
	echo "  Define ANVIL_CONFIG $data/anvil.conf"
	echo "  Define ANVIL_OCSP_DIR $data/ocsp"
	echo "  Include $top/apache/anvil-ocsp.conf"
	echo "  $defs"
	echo "  Include $top/apache/anvil-$shape.conf"
	echo "</VirtualHost>"
	echo "<VirtualHost 127.0.0.1:$pub>"
	echo "  Define ANVIL_CRL_DIR $data/crl"
	echo "  Include $top/apache/anvil-publish.conf"
	echo "</VirtualHost>"
} >"$ap/httpd.conf"
[ "$(id -u)" = 0 ] && chown -R www-data:www-data "$ap"

apache2 -t -f "$ap/httpd.conf" >/dev/null 2>&1 || apache2 -t -f "$ap/httpd.conf"
echo "directory: https://127.0.0.1:$port/acme/directory"
echo "trust: $data/ca.pem"
[ "$shape" = proxy-fcgi ] || exec apache2 -f "$ap/httpd.conf" -DFOREGROUND
# proxy-fcgi: stay Apache's parent, so that stopping this script (Ctrl-C,
# SIGTERM) stops Apache and the FastCGI servers too.
apache2 -f "$ap/httpd.conf" -DFOREGROUND &
apid=$!
trap 'exit 143' TERM
trap 'exit 130' INT
rc=0
wait "$apid" || rc=$?
exit "$rc"
