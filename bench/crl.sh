#!/bin/sh
# crl.sh - what anvil-crl costs over a store of N certificates (CRL_N,
# default 100000, a tenth of them revoked): the CRL alone ([ocsp] enabled
# = false) and the CRL with every unexpired certificate's OCSP answers
# pre-signed, against `anvil-admin stats` in the same run as the baseline
# (one read of every certificate record). Prints a table; the store is in
# a temporary folder, removed at the end.
#
# bench/bulkcerts gives every record the same certificate, so the
# pre-signed answers all land on two paths: the signing and the flushes
# are a real CA's, the folder tree under [ocsp] dir is smaller.
set -eu
N=${CRL_N:-100000}
here=$(cd "$(dirname "$0")" && pwd)
top=$(dirname "$here")
[ -x "$top/anvil-crl" ] || { echo "crl.sh: build the project first" >&2; exit 1; }
make -s -C "$here" bulkcerts >/dev/null
T=$(mktemp -d /tmp/anvil-crlbench.XXXXXX)
trap 'rm -rf "$T"' EXIT
mkdir -m 700 "$T/data"
conf() {
	printf '[server]\nbase_url = https://127.0.0.1:1/acme\ndata_dir = %s\n' "$T/data"
	printf '[issuance]\ncrl_dir = %s\n[ocsp]\nenabled = %s\n' "$T/pub" "$1"
}
conf false >"$T/off.conf"
conf true >"$T/on.conf"
"$top/anvil-admin" --config "$T/off.conf" init >/dev/null
rev=$((N / 10))
t0=$(date +%s%N)
"$here/bulkcerts" "$T/data" $((N - rev)) "$T/data/ca.pem" >/dev/null
BULKCERTS_REVOKED=1 "$here/bulkcerts" "$T/data" "$rev" "$T/data/ca.pem" >/dev/null
t1=$(date +%s%N)
# ms COMMAND...: wall milliseconds of one run (output discarded).
ms() {
	a=$(date +%s%N)
	"$@" >/dev/null
	b=$(date +%s%N)
	echo $(((b - a) / 1000000))
}
base=$(ms "$top/anvil-admin" --config "$T/off.conf" stats)
crl=$(ms "$top/anvil-crl" --config "$T/off.conf")
n=$(openssl crl -inform DER -in "$T/pub/anvil.crl" -noout -text | grep -c "Serial Number:")
[ "$n" -eq "$rev" ] || { echo "crl.sh: the CRL lists $n, not $rev" >&2; exit 1; }
all=$(ms "$top/anvil-crl" --config "$T/on.conf")
echo "certificates: $N, revoked $rev (filled in $(((t1 - t0) / 1000000)) ms)"
printf '%-44s %10s %8s\n' "command" "ms" "x stats"
row() {
	printf '%-44s %10s %8s\n' "$1" "$2" \
	    "$(awk "BEGIN { printf \"%.2f\", $2 / ($base ? $base : 1) }")"
}
row "stats (baseline, reads every record)" "$base"
row "anvil-crl, CRL only ($rev entries)" "$crl"
row "anvil-crl, CRL + OCSP pre-sign ($((2 * N)) answers)" "$all"
echo "pre-signed answers per second: $(awk "BEGIN { d = $all - $crl; printf \"%.0f\", 2 * $N * 1000 / (d > 0 ? d : 1) }")"
