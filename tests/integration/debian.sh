#!/bin/sh
# debian.sh - the Debian package (debian/), as a user meets it: built with
# dpkg-buildpackage from the distributed sources, lintian clean (errors
# and warnings; info tags justified in debian/anvil.lintian-overrides),
# installed on this machine, configured the way README.Debian says: the
# CA made as the anvil user, anvil served as that user through a FastCGI
# socket (what anvil-fcgi.socket does under systemd, here spawn-fcgi),
# lighttpd configured from the example the package ships. certbot gets a
# certificate; anvil-crl runs from the cron line the package installs;
# remove keeps /var/lib/anvil, purge deletes it and leaves nothing of the
# package behind.
#
# Root only (it installs a package); skipped inside make distcheck and the
# sanitizer pass (scripts/test.sh): the package is built and installed
# once per run.
. "$(dirname "$0")/lib.sh"
BASEPORT=17500
. "$(dirname "$0")/server.sh"
[ "$(id -u)" = 0 ] || { echo "SKIP: installs a package, needs root"; exit 77; }
# dpkg-buildpackage sets DEB_RULES_REQUIRES_ROOT: never build the package
# from inside its own build.
[ -z "${DEB_RULES_REQUIRES_ROOT:-}" ] || { echo "SKIP: inside a package build"; exit 77; }
[ "${ANVIL_IN_DISTCHECK:-}${ANVIL_IN_SANITIZERS:-}" = "" ] ||
	{ echo "SKIP: the first pass of scripts/test.sh builds the package"; exit 77; }
for c in dpkg-buildpackage lintian spawn-fcgi lighttpd certbot; do
	command -v "$c" >/dev/null 2>&1 || { fail "$c is not installed (scripts/deps.sh)"; finish; }
done
if dpkg-query -W -f='${Status}' anvil 2>/dev/null | grep -q installed; then
	fail "a package anvil is installed already; not touching it"
	finish
fi
[ -e /etc/anvil/anvil.conf ] && { fail "/etc/anvil/anvil.conf exists; not touching it"; finish; }

CONF_SYS=/etc/anvil/anvil.conf
cleanup_pkg() {
	[ -f "$T/spawn.pid" ] && kill $(cat "$T/spawn.pid") 2>/dev/null
	dpkg --purge anvil >/dev/null 2>&1
	rm -f "$CONF_SYS"
	rmdir /etc/anvil 2>/dev/null
	stop_servers
}
trap cleanup_pkg EXIT

# ---------------------------------------------------------------- build
S="$T/src"
mkdir -p "$S"
(cd "$top_builddir" && make -s distdir distdir="$S/anvil-0.1.0") >"$T/dist.log" 2>&1 ||
	{ cat "$T/dist.log"; fail "make distdir"; finish; }
# Without the make check that runs this test in its environment: its
# MAKEFLAGS (TESTS=...) would reach the package's own make check.
(cd "$S/anvil-0.1.0" && env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL -u MAKEOVERRIDES \
    dpkg-buildpackage -us -uc -b) >"$T/build.log" 2>&1 &&
	ok "dpkg-buildpackage -us -uc -b (unit tests included)" ||
	{ tail -40 "$T/build.log"; fail "dpkg-buildpackage"
	  # A unit test that failed inside the package build: its own log.
	  for l in "$S"/anvil-0.1.0/tests/unit/*.log; do
		grep -q '^FAIL' "$l" 2>/dev/null && { echo "== $l"; tail -60 "$l"; }
	  done; finish; }
deb="$S/anvil_0.1.0_$(dpkg --print-architecture).deb"
[ -f "$deb" ] || { fail "no $deb"; finish; }
# lintian refuses to run as root without this.
lintian --allow-root --fail-on error,warning "$S"/anvil_0.1.0_*.changes >"$T/lintian" 2>&1 &&
	ok "lintian: no error or warning" || { fail "lintian"; cat "$T/lintian"; }
dpkg-deb -c "$deb" >"$T/contents"
for f in ./usr/bin/anvil-admin ./usr/bin/anvil-crl ./usr/libexec/anvil \
    ./usr/share/man/man8/anvil-admin.8.gz ./usr/share/man/man5/anvil.conf.5.gz \
    ./etc/cron.d/anvil ./lib/systemd/system/anvil-crl.timer \
    ./lib/systemd/system/anvil-fcgi.socket \
    ./usr/share/doc/anvil/examples/lighttpd/anvil-fastcgi-socket.conf \
    ./usr/share/doc/anvil/examples/apache/anvil-proxy-fcgi.conf \
    ./usr/share/doc/anvil/examples/cgi-bin/anvil; do
	grep -q " $f\$" "$T/contents" || fail "the package lacks $f"
done
ok "the package holds the programs, man pages, cron.d, units and examples"

# ---------------------------------------------------------------- install
expect_exit 0 "dpkg -i" dpkg -i "$deb"
getent passwd anvil >/dev/null && ok "postinst made the anvil user" || fail "no anvil user"
[ "$(stat -c '%U %a' /var/lib/anvil 2>/dev/null)" = "anvil 700" ] &&
	ok "/var/lib/anvil is the anvil user's, 0700" ||
	fail "/var/lib/anvil: $(stat -c '%U %a' /var/lib/anvil 2>&1)"
# Nothing runs before it is configured: the cron line exits at once.
line=$(sed -n 's/^[0-9*]* [0-9*]* [0-9*]* [0-9*]* [0-9*]* anvil //p' /etc/cron.d/anvil)
[ -n "$line" ] || fail "no anvil line in /etc/cron.d/anvil"
runuser -u anvil -- sh -c "$line" >"$T/out" 2>&1
[ ! -e /var/lib/anvil/crl ] && ok "the cron line does nothing before anvil.conf exists" ||
	fail "cron line ran unconfigured: $(cat "$T/out")"

# ---------------------------------------------------------------- configure
# README.Debian's steps, with this test's ports and DNS.
sed -e "s|^base_url = .*|base_url = https://127.0.0.1:$HTTPS_PORT/acme|" \
    -e "s|^data_dir = .*|data_dir = /var/lib/anvil|" \
    -e "s|^http_port = .*|http_port = $HTTP01_PORT|" \
    -e "s|^dns_resolver =.*|dns_resolver = 127.0.0.1@$DNS_PORT|" \
    -e "s|^allow_networks =.*|allow_networks = 127.0.0.1/32|" \
    -e "s|^crl_url =.*|crl_url = http://127.0.0.1:$PUBLISH_PORT/crl/anvil.crl|" \
    /etc/anvil/anvil.conf.sample >"$CONF_SYS"
expect_exit 0 "anvil-admin init as the anvil user" runuser -u anvil -- \
    anvil-admin --config "$CONF_SYS" init
[ "$(stat -c '%U %a' /var/lib/anvil/ca.key 2>/dev/null)" = "anvil 600" ] &&
	ok "the CA key is the anvil user's, 0600" || fail "ca.key: $(stat -c '%U %a' /var/lib/anvil/ca.key 2>&1)"

pebble-challtestsrv -dns01 "127.0.0.1:$DNS_PORT" -http01 "" -https01 "" \
    -tlsalpn01 "" -management "127.0.0.1:$MGMT_PORT" -defaultIPv6 "" \
    >"$T/challtestsrv.log" 2>&1 &
PIDS="$PIDS $!"
# What anvil-fcgi.socket/anvil-fcgi.service do under systemd.
mkdir -p "$T/run"
ANVIL_CONFIG="$CONF_SYS" spawn-fcgi -s "$T/run/fcgi.sock" -M 0660 -u anvil -g anvil \
    -F 2 -P "$T/spawn.pid" -- /usr/libexec/anvil >"$T/spawn.log" 2>&1 ||
	{ cat "$T/spawn.log"; fail "spawn-fcgi"; finish; }
lt="$T/lighttpd"
mkdir -p "$lt/www" /var/lib/anvil/crl
chown anvil:anvil /var/lib/anvil/crl
CA_PEM=/var/lib/anvil/ca.pem
sh "$top_srcdir/scripts/tls-cert.sh" /var/lib/anvil "$lt" >/dev/null
ex=/usr/share/doc/anvil/examples/lighttpd
cat >"$lt/lighttpd.conf" <<EOC
server.document-root = "$lt/www"
server.port = $HTTPS_PORT
server.bind = "127.0.0.1"
server.pid-file = "$lt/lighttpd.pid"
server.errorlog = "$lt/error.log"
server.modules = ( "mod_gnutls" )
ssl.engine = "enable"
ssl.pemfile = "$lt/chain.pem"
ssl.privkey = "$lt/tls.key"
var.anvil_prefix = "/acme"
var.anvil_socket = "$T/run/fcgi.sock"
include "$ex/anvil-fastcgi-socket.conf"
var.anvil_crl_dir = "/var/lib/anvil/crl"
var.anvil_publish_socket = "127.0.0.1:$PUBLISH_PORT"
include "$ex/anvil-publish.conf"
EOC
lighttpd -D -f "$lt/lighttpd.conf" >"$T/lighttpd.out" 2>&1 &
PIDS="$PIDS $!"
wait_for "$DIR_URL" 20 && ok "lighttpd from the shipped example serves the directory" ||
	{ fail "no directory at $DIR_URL"; cat "$T/lighttpd.out" "$lt/error.log" 2>/dev/null; finish; }

# ---------------------------------------------------------------- use
CB="$T/certbot"
expect_exit 0 "certbot gets a certificate from the packaged Anvil" \
    env REQUESTS_CA_BUNDLE="$CA_PEM" timeout 180 certbot --non-interactive \
    --server "$DIR_URL" --config-dir "$CB" --work-dir "$CB" --logs-dir "$CB" \
    --agree-tos -m ops@example.org certonly --standalone \
    --http-01-address 127.0.0.1 --http-01-port "$HTTP01_PORT" -d pkg.example.test
verify_chain "$CB/live/pkg.example.test/fullchain.pem" "certbot through the package"
owners=$(ps -o user= -p "$(pgrep -d, -f '^/usr/libexec/anvil')" 2>/dev/null | sort -u | tr '\n' ' ')
[ "$owners" = "anvil " ] && ok "the FastCGI processes run as anvil" ||
	fail "anvil processes run as: '$owners'"
# Where systemd runs, the cron line leaves the work to anvil-crl.timer:
# run what its service runs.
if [ -d /run/systemd/system ]; then
	line=$(sed -n 's/^ExecStart=//p' /lib/systemd/system/anvil-crl.service)
fi
runuser -u anvil -- sh -c "$line" >"$T/out" 2>&1
[ -s /var/lib/anvil/crl/anvil.crl ] && ok "the packaged cron line signs the CRL once configured" ||
	fail "cron line: no CRL ($(cat "$T/out"))"
curl -s -o "$T/fetched.crl" "http://127.0.0.1:$PUBLISH_PORT/crl/anvil.crl" &&
	cmp -s "$T/fetched.crl" /var/lib/anvil/crl/anvil.crl &&
	ok "the CRL is served from the shipped publish example" || fail "CRL over HTTP"

# ---------------------------------------------------------------- remove, purge
kill $(cat "$T/spawn.pid") 2>/dev/null
expect_exit 0 "dpkg --remove" dpkg --remove anvil
[ ! -e /usr/bin/anvil-admin ] && [ -s /var/lib/anvil/ca.key ] &&
	ok "remove: programs gone, the CA and its records kept" ||
	fail "after remove: $(ls -l /usr/bin/anvil-admin /var/lib/anvil 2>&1 | head -5)"
expect_exit 0 "dpkg --purge" dpkg --purge anvil
left=""
for f in /var/lib/anvil /etc/cron.d/anvil /etc/anvil/anvil.conf.sample \
    /usr/libexec/anvil /usr/share/doc/anvil /lib/systemd/system/anvil-crl.timer; do
	[ -e "$f" ] && left="$left $f"
done
[ -z "$left" ] && ok "purge: nothing of the package is left (the anvil user stays, as Debian does)" ||
	fail "left after purge:$left"
[ -e "$CONF_SYS" ] && ok "purge leaves the operator's own anvil.conf" ||
	fail "purge removed the operator's anvil.conf"
finish
