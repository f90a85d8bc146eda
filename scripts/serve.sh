#!/bin/sh
# serve.sh [SHAPE] - README command 1: install what is missing, build, and
# serve a working ACME CA over HTTPS on 127.0.0.1, data under a local
# folder. Prints "directory: <URL>" and "trust: <CA PEM>", then runs in the
# foreground until Ctrl-C.
#
# SHAPE (or ANVIL_WEB): lighttpd-fcgi (default), lighttpd-cgi, apache-fcgid,
# apache-proxy-fcgi, apache-cgi, apache-nph.
# Environment (all optional):
#   ANVIL_DATA            data folder (default ./anvil-data)
#   ANVIL_PORT            HTTPS port (default 8443); the CRL (anvil.crl,
#                         and its 4 shards anvil-s1.crl .. anvil-s4.crl that
#                         certificates name) and the CA certificate are at
#                         http://127.0.0.1:PORT+1/crl/;
#                         OCSP answers at http://127.0.0.1:PORT+1/acme/ocsp
#                         (lighttpd) or https://127.0.0.1:PORT/acme/ocsp
#                         (Apache, whose plain listener serves files only)
#   ANVIL_HTTP01_PORT     port http-01 validation connects to (default 80)
#   ANVIL_TLSALPN01_PORT  port tls-alpn-01 validation connects to (default 443)
#   ANVIL_DNS_RESOLVER    resolver for validation, address@port (default:
#                         the system's)
#   ANVIL_KEY_TYPE        key type of a new CA (default ec:P-256)
#   ANVIL_CAA_IDENTITIES  the CA's CAA identities, comma separated: CAA is
#                         then checked, and they are the issuer domain
#                         names of dns-persist-01, which is offered with
#                         dns-account-01 (default: unset, CAA not checked)
#   ANVIL_PG              a libpq conninfo: keep the records in that
#                         PostgreSQL database instead of Berkeley DB files;
#                         serve commands with the same ANVIL_DATA and
#                         ANVIL_PG and other ANVIL_PORTs are hosts of one CA
#                         (README "Growing past one machine")
# The config is rewritten from these on every start; the CA and the store
# are kept.
set -eu
cd "$(dirname "$0")/.."
top=$(pwd)
web=${1:-${ANVIL_WEB:-lighttpd-fcgi}}
case $web in
lighttpd-fcgi|lighttpd-cgi|apache-fcgid|apache-proxy-fcgi|apache-cgi|apache-nph) ;;
*) echo "serve: unknown shape \"$web\" (lighttpd-fcgi, lighttpd-cgi, apache-fcgid, apache-proxy-fcgi, apache-cgi, apache-nph)" >&2; exit 2 ;;
esac

sh scripts/build.sh >build.log 2>&1 || { tail -n 40 build.log; echo "serve: build failed (build.log)" >&2; exit 1; }

data=${ANVIL_DATA:-$top/anvil-data}
port=${ANVIL_PORT:-8443}
pub=$((port + 1))
mkdir -p "$data"
chmod 0700 "$data"
data=$(cd "$data" && pwd)
caa_server="" caa_validation=""
if [ -n "${ANVIL_CAA_IDENTITIES:-}" ]; then
	caa_server="caa_identities = $ANVIL_CAA_IDENTITIES"
	caa_validation="challenges_dns = http-01, dns-01, tls-alpn-01, dns-account-01, dns-persist-01
challenges_wildcard = dns-01, dns-account-01, dns-persist-01"
fi
case $web in
lighttpd-*) ocsp_url=http://127.0.0.1:$pub/acme/ocsp ;;
*) ocsp_url=https://127.0.0.1:$port/acme/ocsp ;;
esac
# Hosts of one CA share ANVIL_DATA and the database (ANVIL_PG): each
# lighttpd host its own config (its base_url) and web-server folder.
conf=$data/anvil.conf
if [ -n "${ANVIL_PG:-}" ]; then
	case $web in
	lighttpd-*)
		conf=$data/anvil-$port.conf
		export ANVIL_LIGHTTPD_DIR="$data/lighttpd-$port" ;;
	esac
fi
cat >"$conf" <<EOC
; written by scripts/serve.sh
[server]
base_url = https://127.0.0.1:$port/acme
data_dir = $data
$caa_server

[ca]
key_type = ${ANVIL_KEY_TYPE:-ec:P-256}
common_name = Anvil Local CA

[issuance]
crl_url = http://127.0.0.1:$pub/crl/anvil.crl
ca_issuers_url = http://127.0.0.1:$pub/crl/ca.crt
ocsp_url = $ocsp_url

[crl]
; Issue 20 part 2 on out of the box: each certificate names one of 4 CRLs.
shards = 4

[validation]
http_port = ${ANVIL_HTTP01_PORT:-80}
tls_port = ${ANVIL_TLSALPN01_PORT:-443}
dns_resolver = ${ANVIL_DNS_RESOLVER:-}
; Loopback is denied by default; a local try-out validates a client here.
allow_networks = ${ANVIL_ALLOW_NETWORKS-127.0.0.1/32, ::1/128}
$caa_validation
EOC
if [ -n "${ANVIL_PG:-}" ]; then
	case $ANVIL_PG in
	*"
"*) echo "serve: ANVIL_PG holds a line break" >&2; exit 2 ;;
	esac
	printf '\n[store]\nbackend = postgresql\nconninfo = %s\n' "$ANVIL_PG" \
	    >>"$conf"
fi
./anvil-admin --config "$conf" init >/dev/null
./anvil-crl --config "$conf" --quiet
export ANVIL_PORT=$port ANVIL_PUBLISH_PORT=$pub ANVIL_CONFIG=$conf
case $web in
lighttpd-*) exec sh scripts/run-lighttpd.sh "$data" "${web#lighttpd-}" ;;
apache-*) exec sh scripts/run-apache.sh "$data" "${web#apache-}" ;;
esac
