#!/bin/sh
# tls-cert.sh DATA_DIR OUT_DIR - the web server's TLS key and certificate
# for localhost and 127.0.0.1, issued by Anvil's own CA (DATA_DIR/ca.key),
# as OUT_DIR/tls.key and OUT_DIR/chain.pem (leaf then CA). Kept while newer
# than the CA certificate.
set -eu
data=$1; out=$2
mkdir -p "$out"
if [ -f "$out/chain.pem" ] && [ "$out/chain.pem" -nt "$data/ca.pem" ]; then exit 0; fi
certtool --generate-privkey --key-type=ecdsa --outfile "$out/tls.key" >/dev/null 2>&1
chmod 0600 "$out/tls.key"
cat >"$out/tls.tmpl" <<EOT
cn = "localhost"
dns_name = "localhost"
ip_address = "127.0.0.1"
tls_www_server
signing_key
expiration_days = 365
EOT
certtool --generate-certificate --load-privkey "$out/tls.key" \
    --load-ca-certificate "$data/ca.pem" --load-ca-privkey "$data/ca.key" \
    --template "$out/tls.tmpl" --outfile "$out/tls.pem" >/dev/null 2>&1
cat "$out/tls.pem" "$data/ca.pem" >"$out/chain.pem"
