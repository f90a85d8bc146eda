#!/bin/sh
# ocsp.sh - OCSP GET answers per second through lighttpd + FastCGI (the
# shipped configs, scripts/run-lighttpd.sh), on loopback: pre-signed (the
# file anvil-crl wrote, served by lighttpd/anvil-ocsp.lua), live (anvil
# signs), and, as the baseline of the same run, a static file of the same
# web server (anvil-crl's ca.crt at /crl/). Load from ab (apache2-utils),
# keep-alive, bounded by count and time.
#
# Environment:
#   BENCH_SECS      seconds per run (default 5)
#   BENCH_MAX       requests per run at most (default 200000)
#   BENCH_CONCS     concurrencies (default "1 8")
#   BENCH_BASEPORT  HTTPS port; BASE+1 is the plain listener (default 19200)
#   BENCH_KEEP=1    keep the work folder
set -eu
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
build=${ANVIL_BUILDDIR:-$top}
secs=${BENCH_SECS:-5}
max=${BENCH_MAX:-200000}
concs=${BENCH_CONCS:-"1 8"}
port=${BENCH_BASEPORT:-19200}
pub=$((port + 1))
work=$(mktemp -d "${TMPDIR:-/tmp}/anvil-bench-ocsp-XXXXXX")
data="$work/data"
mkdir -p "$data"
chmod 700 "$data"
lpid=""
cleanup() {
	[ -n "$lpid" ] && kill -- "-$lpid" 2>/dev/null
	[ -n "$lpid" ] && wait "$lpid" 2>/dev/null
	[ -n "${BENCH_KEEP:-}" ] || rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

cat >"$data/anvil.conf" <<EOC
[server]
base_url = https://127.0.0.1:$port/acme
data_dir = $data
log_level = warn
[issuance]
ocsp_url = http://127.0.0.1:$pub/acme/ocsp
EOC
"$build/anvil-admin" --config "$data/anvil.conf" init >/dev/null
"$build/anvil-crl" --config "$data/anvil.conf" --quiet

# A leaf of this CA (openssl, not in the store: answered "unknown", which
# costs the same lookup and signature as "good").
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$work/l.key" -subj /CN=bench -days 1 -out "$work/self.pem" 2>/dev/null
openssl x509 -in "$work/self.pem" -CA "$data/ca.pem" -CAkey "$data/ca.key" \
    -set_serial 0x4242 -days 1 -out "$work/leaf.pem" 2>/dev/null
openssl ocsp -issuer "$data/ca.pem" -sha1 -cert "$work/leaf.pem" -no_nonce \
    -reqout "$work/pre.req" >/dev/null
openssl ocsp -issuer "$data/ca.pem" -sha256 -cert "$work/leaf.pem" -no_nonce \
    -reqout "$work/live.req" >/dev/null
pre=$(base64 -w0 "$work/pre.req")
live=$(base64 -w0 "$work/live.req")

ANVIL_PORT=$port ANVIL_PUBLISH_PORT=$pub ANVIL_BUILDDIR="$build" \
    setsid sh "$top/scripts/run-lighttpd.sh" "$data" fcgi >"$work/serve.out" 2>&1 &
lpid=$!
url="http://127.0.0.1:$pub"
n=0
until curl -s -o /dev/null --max-time 1 "$url/crl/ca.crt"; do
	n=$((n + 1))
	[ $n -lt 100 ] || { cat "$work/serve.out"; echo "bench: server did not start" >&2; exit 1; }
	sleep 0.1
done

# The pre-signed answer: a live one for the SHA-1 request, put where
# anvil-crl puts it (src/publish/ocsp.c); the SHA-256 one stays live.
curl -s -o "$work/pre.der" "$url/acme/ocsp/$pre"
file="$data/ocsp/$(printf '%s' "$pre" | tr -s /)"
mkdir -p "$(dirname "$file")"
cp "$work/pre.der" "$file"
sleep 1	# lighttpd's stat cache
curl -s -o "$work/check.der" "$url/acme/ocsp/$pre"
cmp -s "$work/check.der" "$file" || { echo "bench: pre-signed file not served" >&2; exit 1; }
curl -s -o "$work/live.der" "$url/acme/ocsp/$live"
openssl ocsp -respin "$work/live.der" -issuer "$data/ca.pem" -sha256 \
    -cert "$work/leaf.pem" -CAfile "$data/ca.pem" -no_nonce 2>&1 |
    grep -q "Response verify OK" || { echo "bench: live answer does not verify" >&2; exit 1; }

# rps URL C: requests per second, or "failed".
rps() {
	out=$(timeout $((secs + 30)) ab -q -k -c "$2" -t "$secs" -n "$max" "$1" 2>&1) || { echo failed; return; }
	bad=$(printf '%s\n' "$out" | sed -n 's/^Non-2xx responses: *//p')
	# ab counts a body whose length differs from the first as failed: a
	# live answer's ECDSA signature is 70 to 72 bytes. Anything else is.
	other=$(printf '%s\n' "$out" | sed -n 's/.*(Connect: \([0-9]*\), Receive: \([0-9]*\), Length: [0-9]*, Exceptions: \([0-9]*\)).*/\1\2\3/p')
	[ -z "$bad" ] && { [ -z "$other" ] || [ "$other" = 000 ]; } ||
	    { echo "failed"; return; }
	printf '%s\n' "$out" | sed -n 's/^Requests per second: *\([0-9.]*\).*/\1/p'
}

printf '%-4s %14s %14s %14s\n' C "static file/s" "pre-signed/s" "live/s"
for c in $concs; do
	a=$(rps "$url/crl/ca.crt" "$c")
	b=$(rps "$url/acme/ocsp/$pre" "$c")
	l=$(rps "$url/acme/ocsp/$live" "$c")
	printf '%-4s %14s %14s %14s\n' "$c" "$a" "$b" "$l"
done
echo "(lighttpd + FastCGI anvil, max-procs 4; GET over keep-alive HTTP/1.1;" \
    "$secs s per run, at most $max requests; $(nproc) CPUs shared)"
