#!/bin/sh
# crlshards.sh - what sharded CRLs (issue 20 part 2) cost anvil-crl over a
# store of N certificates (CRLBENCH_N, default 100000), every tenth one
# revoked: the same store size unsharded ([crl] shards = 1, the baseline)
# and with [crl] shards = 16, CRLs only ([ocsp] enabled = false). Each
# figure is the best of CRLBENCH_RUNS runs (default 5), the two stores
# taking turns, in milliseconds. Then one run on the unsharded store
# with [ocsp] enabled, which also pre-signs two OCSP answers for every
# unexpired certificate (bulkcerts gives every record the same
# certificate, so the answers land on two paths: the signing and the
# flushes are a real CA's, the folder tree under [ocsp] dir smaller).
# Prints a table; the stores are in a temporary folder, removed at the end.
set -eu
N=${CRLBENCH_N:-100000}
RUNS=${CRLBENCH_RUNS:-5}
here=$(cd "$(dirname "$0")" && pwd)
top=$(dirname "$here")
[ -x "$top/anvil-crl" ] || { echo "crlshards.sh: build the project first" >&2; exit 1; }
make -s -C "$here" bulkcerts >/dev/null
T=$(mktemp -d /tmp/anvil-crlbench.XXXXXX)
trap 'rm -rf "$T"' EXIT

# setup NAME SHARDS: a data folder holding N certificates, 10 % revoked.
setup() {
	d="$T/$1"
	mkdir -m 700 "$d"
	printf '[server]\nbase_url = https://127.0.0.1:1/acme\ndata_dir = %s\n[issuance]\ncrl_url = http://127.0.0.1:1/crl/anvil.crl\n[crl]\nshards = %s\n[ocsp]\nenabled = false\n' \
	    "$d" "$2" >"$d/anvil.conf"
	"$top/anvil-admin" --config "$d/anvil.conf" init >/dev/null
	if [ "$2" -gt 1 ]; then s=$2; else s=0; fi
	BULKCERTS_REVOKED_EVERY=10 BULKCERTS_SHARDS=$s \
	    "$here/bulkcerts" "$d" "$N" "$d/ca.pem" >/dev/null
}

# ms NAME: wall milliseconds of one anvil-crl run on store NAME.
ms() {
	a=$(date +%s%N)
	"$top/anvil-crl" --config "$T/$1/anvil.conf" --quiet
	echo $(( ($(date +%s%N) - a) / 1000000 ))
}

setup one 1
setup sixteen 16
# Alternating, best of each: the machine's other load hits both alike.
base=""; sharded=""; i=0
while [ $i -lt "$RUNS" ]; do
	x=$(ms one); y=$(ms sixteen)
	if [ -z "$base" ] || [ "$x" -lt "$base" ]; then base=$x; fi
	if [ -z "$sharded" ] || [ "$y" -lt "$sharded" ]; then sharded=$y; fi
	i=$((i + 1))
done
sed 's/^enabled = false$/enabled = true/' "$T/one/anvil.conf" >"$T/one/ocsp.conf"
a=$(date +%s%N)
"$top/anvil-crl" --config "$T/one/ocsp.conf" --quiet
presign=$(( ($(date +%s%N) - a) / 1000000 ))
[ -f "$T/sixteen/crl/anvil-s16.crl" ] ||
    { echo "crlshards.sh: no shard 16 written" >&2; exit 1; }
full=$(openssl crl -inform DER -in "$T/one/crl/anvil.crl" -noout -text | grep -c "Serial Number:")
sh1=$(openssl crl -inform DER -in "$T/sixteen/crl/anvil-s1.crl" -noout -text | grep -c "Serial Number:")
echo "certificates: $N, revoked: $full (shard 1 of 16 holds $sh1)"
printf '%-44s %10s %8s\n' "anvil-crl" "ms" "x base"
printf '%-44s %10s %8s\n' "shards = 1 (baseline: the full CRL)" "$base" "1.00"
printf '%-44s %10s %8s\n' "shards = 16 (full CRL + 16 shard CRLs)" "$sharded" \
    "$(awk "BEGIN { printf \"%.2f\", $sharded / ($base ? $base : 1) }")"
printf '%-44s %10s %8s\n' "shards = 1, [ocsp] on ($((2 * N)) answers)" "$presign" \
    "$(awk "BEGIN { printf \"%.2f\", $presign / ($base ? $base : 1) }")"
echo "pre-signed OCSP answers per second: $(awk "BEGIN { d = $presign - $base; printf \"%.0f\", 2 * $N * 1000 / (d > 0 ? d : 1) }")"
