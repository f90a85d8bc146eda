#!/bin/sh
# run-lighttpd.sh DATA_DIR - run lighttpd in the foreground serving Anvil
# over HTTPS on 127.0.0.1 with the shipped lighttpd/anvil-fastcgi.conf.
#
# DATA_DIR must hold anvil.conf (whose base_url is https://127.0.0.1:PORT/acme)
# and an initialised CA (anvil-admin init). Writes DATA_DIR/lighttpd/ (its
# config, its TLS key and a certificate for localhost and 127.0.0.1 issued
# by Anvil's CA). Prints "directory: URL" and "trust: PATH", then runs until
# killed. Environment: ANVIL_PORT (default 8443), ANVIL_BUILDDIR (where the
# built anvil program is; default the source tree).
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
data=$(cd "$1" && pwd)
port=${ANVIL_PORT:-8443}
builddir=${ANVIL_BUILDDIR:-$top}
lt="$data/lighttpd"
mkdir -p "$lt/www"
chmod 0700 "$lt"

# The TLS certificate for the web server, issued by Anvil's own CA.
if [ ! -f "$lt/tls.pem" ] || [ "$data/ca.pem" -nt "$lt/tls.pem" ]; then
	certtool --generate-privkey --key-type=ecdsa --outfile "$lt/tls.key" >/dev/null 2>&1
	cat >"$lt/tls.tmpl" <<EOT
cn = "localhost"
dns_name = "localhost"
ip_address = "127.0.0.1"
tls_www_server
signing_key
expiration_days = 365
EOT
	certtool --generate-certificate --load-privkey "$lt/tls.key" \
	    --load-ca-certificate "$data/ca.pem" --load-ca-privkey "$data/ca.key" \
	    --template "$lt/tls.tmpl" --outfile "$lt/tls.pem" >/dev/null 2>&1
	cat "$lt/tls.pem" "$data/ca.pem" >"$lt/chain.pem"
fi

cat >"$lt/lighttpd.conf" <<EOC
# written by scripts/run-lighttpd.sh
server.document-root = "$lt/www"
server.port = $port
server.bind = "127.0.0.1"
server.pid-file = "$lt/lighttpd.pid"
server.errorlog = "$lt/error.log"
server.modules = ( "mod_gnutls" )
ssl.engine = "enable"
ssl.pemfile = "$lt/chain.pem"
ssl.privkey = "$lt/tls.key"

var.anvil_prefix = "/acme"
var.anvil_program = "$builddir/anvil"
var.anvil_config = "$data/anvil.conf"
var.anvil_socket = "$lt/anvil.sock"
include "$top/lighttpd/anvil-fastcgi.conf"
EOC

lighttpd -tt -f "$lt/lighttpd.conf" >/dev/null
echo "directory: https://127.0.0.1:$port/acme/directory"
echo "trust: $data/ca.pem"
exec lighttpd -D -f "$lt/lighttpd.conf"
