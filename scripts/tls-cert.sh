#!/bin/sh
# tls-cert.sh DATA_DIR OUT_DIR [ADDRESS] - the web server's TLS key and
# certificate for localhost, 127.0.0.1 and ADDRESS (an IPv4 address the
# server listens on besides), issued by Anvil's own CA (DATA_DIR/ca.key),
# as OUT_DIR/tls.key and OUT_DIR/chain.pem (leaf then CA). Kept while newer
# than the CA certificate and made for the same ADDRESS.
set -eu
data=$1; out=$2; addr=${3:-127.0.0.1}
case $addr in
*[!0-9.]*|'') echo "tls-cert.sh: \"$addr\" is not an IPv4 address" >&2; exit 2 ;;
esac
mkdir -p "$out"
if [ -f "$out/chain.pem" ] && [ "$out/chain.pem" -nt "$data/ca.pem" ] &&
    grep -qx "ip_address = \"$addr\"" "$out/tls.tmpl" 2>/dev/null; then
	exit 0
fi
certtool --generate-privkey --key-type=ecdsa --outfile "$out/tls.key" >/dev/null 2>&1
chmod 0600 "$out/tls.key"
extra=""
[ "$addr" = 127.0.0.1 ] || extra="ip_address = \"$addr\""
cat >"$out/tls.tmpl" <<EOT
cn = "localhost"
dns_name = "localhost"
ip_address = "127.0.0.1"
$extra
tls_www_server
signing_key
expiration_days = 365
EOT
certtool --generate-certificate --load-privkey "$out/tls.key" \
    --load-ca-certificate "$data/ca.pem" --load-ca-privkey "$data/ca.key" \
    --template "$out/tls.tmpl" --outfile "$out/tls.pem" >/dev/null 2>&1
cat "$out/tls.pem" "$data/ca.pem" >"$out/chain.pem"
