#!/bin/sh
# run-lighttpd.sh DATA_DIR [SHAPE] - run lighttpd in the foreground serving
# Anvil over HTTPS on 127.0.0.1 (or ANVIL_BIND) with the shipped lighttpd/ config of SHAPE:
# fcgi (default: mod_fastcgi spawning anvil) or cgi (mod_cgi running the
# anvil program itself); /crl/ (anvil-crl's folder) over plain HTTP
# with lighttpd/anvil-publish.conf; HEAD/GET new-nonce answered by lighttpd
# itself with lighttpd/anvil-nonce.conf (mod_magnet); OCSP GET requests
# answered from anvil-crl's pre-signed answers with lighttpd/anvil-ocsp.conf
# (mod_magnet), on both listeners.
#
# DATA_DIR must hold anvil.conf (whose base_url is https://127.0.0.1:PORT/acme
# and whose data_dir is DATA_DIR) and an initialised CA (anvil-admin init). Writes DATA_DIR/lighttpd/ (its
# config, its TLS key and a certificate for localhost and 127.0.0.1 issued
# by Anvil's CA). Prints "directory: URL" and "trust: PATH", then runs until
# killed. Environment: ANVIL_PORT (default 8443), ANVIL_BIND (the IPv4
# address the HTTPS port listens on, default 127.0.0.1; the TLS
# certificate names it too: a host in a network namespace listens on its
# veth address, tests/integration/pg_hosts.sh), ANVIL_PUBLISH_PORT
# (default ANVIL_PORT+1, always on 127.0.0.1), ANVIL_LIGHTTPD_WORKERS (lighttpd's
# server.max-worker: lighttpd is one process with one thread unless this is
# 2 or more; default unset; with workers, lighttpd stops them with a
# SIGTERM to its whole process group, so a script that starts this one in
# the background should give it a process group of its own, as bench/ does),
# ANVIL_BUILDDIR (where anvil was built; default the source tree),
# ANVIL_LIGHTTPD_DIR (where its config and TLS files go; default
# DATA_DIR/lighttpd: hosts of one CA sharing DATA_DIR each need their own),
# ANVIL_CONFIG (the config; default DATA_DIR/anvil.conf),
# ANVIL_DIRECTORY_URL (the directory URL it prints and links to; default
# https://127.0.0.1:PORT/acme/directory, else that of a load balancer).
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
data=$(cd "$1" && pwd)
shape=${2:-fcgi}
port=${ANVIL_PORT:-8443}
bind=${ANVIL_BIND:-127.0.0.1}
pub=${ANVIL_PUBLISH_PORT:-$((port + 1))}
builddir=$(cd "${ANVIL_BUILDDIR:-$top}" && pwd)
lt=${ANVIL_LIGHTTPD_DIR:-$data/lighttpd}
conf=${ANVIL_CONFIG:-$data/anvil.conf}
dir_url=${ANVIL_DIRECTORY_URL:-https://127.0.0.1:$port/acme/directory}
mkdir -p "$lt/www" "$data/crl" "$data/ocsp"
# [ocsp] validity_hours of the config, for the pre-signed answers' age.
ocsp_validity=$(sed -n 's/^[[:space:]]*validity_hours[[:space:]]*=[[:space:]]*\([0-9][0-9]*\).*/\1/p' "$conf" | tail -n 1)
ocsp_validity=$(( ${ocsp_validity:-24} * 3600 ))
chmod 0700 "$lt"
sh "$top/scripts/tls-cert.sh" "$data" "$lt" "$bind"

case $shape in
fcgi)
	shapeconf="var.anvil_program = \"$builddir/anvil\"
var.anvil_socket = \"$lt/anvil.sock\"
include \"$top/lighttpd/anvil-fastcgi.conf\""
	;;
cgi)
	# lighttpd execs anvil itself: anvil-cgi.conf sets ANVIL_CONFIG, so
	# the cgi-bin/anvil wrapper (for a cgi-bin the config cannot reach)
	# would only add a shell, 1 ms of CPU per request (bench/README.md).
	rm -f "$lt/anvil.cgi"
	ln -s "$builddir/anvil" "$lt/anvil.cgi"
	shapeconf="var.anvil_cgi = \"$lt/anvil.cgi\"
include \"$top/lighttpd/anvil-cgi.conf\""
	;;
*)
	echo "run-lighttpd.sh: unknown shape \"$shape\" (fcgi, cgi)" >&2
	exit 2
	;;
esac

workers=""
case ${ANVIL_LIGHTTPD_WORKERS:-} in
'') ;;
*[!0-9]*) echo "run-lighttpd.sh: ANVIL_LIGHTTPD_WORKERS must be a number" >&2; exit 2 ;;
*) workers="server.max-worker = $ANVIL_LIGHTTPD_WORKERS" ;;
esac

cat >"$lt/lighttpd.conf" <<EOC
# written by scripts/run-lighttpd.sh
server.document-root = "$lt/www"
server.port = $port
server.bind = "$bind"
$workers
server.pid-file = "$lt/lighttpd.pid"
server.errorlog = "$lt/error.log"
server.modules = ( "mod_gnutls" )
ssl.engine = "enable"
ssl.pemfile = "$lt/chain.pem"
ssl.privkey = "$lt/tls.key"

var.anvil_prefix = "/acme"
var.anvil_config = "$conf"
var.anvil_data_dir = "$data"
var.anvil_directory_url = "$dir_url"
var.anvil_nonce_script = "$top/lighttpd/anvil-nonce.lua"
include "$top/lighttpd/anvil-nonce.conf"
var.anvil_ocsp_dir = "$data/ocsp"
var.anvil_ocsp_validity = $ocsp_validity
var.anvil_ocsp_script = "$top/lighttpd/anvil-ocsp.lua"
include "$top/lighttpd/anvil-ocsp.conf"
$shapeconf

var.anvil_crl_dir = "$data/crl"
var.anvil_publish_socket = "127.0.0.1:$pub"
include "$top/lighttpd/anvil-publish.conf"
EOC

lighttpd -tt -f "$lt/lighttpd.conf" >/dev/null
echo "directory: $dir_url"
echo "trust: $data/ca.pem"
exec lighttpd -D -f "$lt/lighttpd.conf"
