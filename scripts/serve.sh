#!/bin/sh
# serve.sh - README command 1: install what is missing, build, and set up a
# CA with its data under a local folder ($ANVIL_DATA, default ./anvil-data).
#
# Today this stops at "CA initialised, store created, config written": the
# ACME protocol and the lighttpd front end come with the protocol work, and
# then this script will run lighttpd in the foreground and print
# "directory: <URL>". It prints "trust: <path>" already.
#
# Environment: ANVIL_DATA (data folder), ANVIL_PORT (HTTPS port, default
# 8443; used for the base URL written into the config), ANVIL_KEY_TYPE
# (CA key type, default ec:P-256).
set -eu
cd "$(dirname "$0")/.."
top=$(pwd)

sh scripts/build.sh >build.log 2>&1 || { tail -n 40 build.log; echo "serve: build failed (build.log)" >&2; exit 1; }

data=${ANVIL_DATA:-$top/anvil-data}
port=${ANVIL_PORT:-8443}
keytype=${ANVIL_KEY_TYPE:-ec:P-256}
mkdir -p "$data"
chmod 0700 "$data"
data=$(cd "$data" && pwd)
conf="$data/anvil.conf"
if [ ! -f "$conf" ]; then
	cat >"$conf" <<EOC
; written by scripts/serve.sh
[server]
base_url = https://127.0.0.1:$port/acme
data_dir = $data

[ca]
key_type = $keytype
common_name = Anvil Local Test CA

[issuance]
crl_url = http://127.0.0.1:$port/crl/anvil.crl
EOC
fi
./anvil-admin --config "$conf" init
echo "config: $conf"
echo "trust: $data/ca.pem"
echo "CA initialised, store created, config written."
echo "The ACME protocol is not served yet (it comes with the protocol issue): no directory URL to print."
