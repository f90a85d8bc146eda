#!/bin/sh
# mkcorpus.sh - regenerates the seed corpora under tests/fuzz/corpus (run
# from anywhere; needs python3-cryptography, certtool and openssl). The
# seeds are committed; this script is only for remaking them.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
c=$here/corpus
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$c/b64u" "$c/jwk" "$c/jws" "$c/payloads" "$c/csr" "$c/config" \
    "$c/tlsalpn" "$c/dns"

# CSRs with certtool: P-256 and RSA 2048, SANs of the fuzz_csr order.
certtool --generate-privkey --key-type ecdsa --curve secp256r1 \
    --outfile "$tmp/ec.key" 2>/dev/null
certtool --generate-privkey --key-type rsa --bits 2048 \
    --outfile "$tmp/rsa.key" 2>/dev/null
cat >"$tmp/all.tmpl" <<'T'
cn = "example.org"
dns_name = "example.org"
dns_name = "*.example.org"
ip_address = "192.0.2.1"
ip_address = "2001:db8::1"
T
cat >"$tmp/one.tmpl" <<'T'
dns_name = "example.org"
T
certtool --generate-request --load-privkey "$tmp/ec.key" \
    --template "$tmp/all.tmpl" --outder --outfile "$c/csr/ec-all.der" 2>/dev/null
certtool --generate-request --load-privkey "$tmp/rsa.key" \
    --template "$tmp/one.tmpl" --outder --outfile "$c/csr/rsa-one.der" 2>/dev/null
certtool --generate-request --load-privkey "$tmp/ec.key" \
    --template "$tmp/one.tmpl" --outder --outfile "$c/csr/ec-one.der" 2>/dev/null

# The sample config, and a small one with a deny list.
cp "$top/etc/anvil.conf.sample" "$c/config/anvil.conf.sample"
cat >"$c/config/small.conf" <<'T'
[server]
base_url = https://acme.test/acme
data_dir = /tmp/anvil
[validation]
deny_networks = 169.254.0.0/16, fe80::/10, 10.0.0.0/8
timeout = 5
[issuance]
validity_days = 7
T

python3 "$here/mkcorpus.py" "$c" "$c/csr/ec-all.der"
