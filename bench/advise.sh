#!/bin/sh
# advise.sh - what `anvil-admin renewal advise` (RFC 9773 incident lever)
# costs over a store of N certificates (ADVISE_N, default 100000): all of
# them (--issued-before), and one (--serial), against `anvil-admin stats`
# in the same run as the baseline (one read of every certificate record).
# Prints a table; the store is in a temporary folder, removed at the end.
set -eu
N=${ADVISE_N:-100000}
here=$(cd "$(dirname "$0")" && pwd)
top=$(dirname "$here")
[ -x "$top/anvil-admin" ] || { echo "advise.sh: build the project first" >&2; exit 1; }
make -s -C "$here" bulkcerts >/dev/null
T=$(mktemp -d /tmp/anvil-advise.XXXXXX)
trap 'rm -rf "$T"' EXIT
mkdir -m 700 "$T/data"
printf '[server]\nbase_url = https://127.0.0.1:1/acme\ndata_dir = %s\n' \
    "$T/data" >"$T/data/anvil.conf"
AD() { "$top/anvil-admin" --config "$T/data/anvil.conf" "$@"; }
AD init >/dev/null
t0=$(date +%s%N)
last=$("$here/bulkcerts" "$T/data" "$N" "$T/data/ca.pem")
t1=$(date +%s%N)
# ms COMMAND...: wall milliseconds of one run (output discarded).
ms() {
	a=$(date +%s%N)
	"$@" >/dev/null
	b=$(date +%s%N)
	echo $(((b - a) / 1000000))
}
base=$(ms AD stats)
one=$(ms AD renewal advise --serial "$last" --explanation https://example.org/i)
all=$(ms AD renewal advise --issued-before "$(date -u -d tomorrow +%Y-%m-%d)" \
    --explanation https://example.org/i)
again=$(ms AD stats)
AD --json certs show "$last" | grep -q '"renewal_advised": "' ||
    { echo "advise.sh: the last certificate is not advised" >&2; exit 1; }
AD --json stats >"$T/stats.json"
grep -q "\"issued\": $N\b" "$T/stats.json" ||
    { echo "advise.sh: the store does not hold $N certificates" >&2; exit 1; }
echo "certificates: $N (filled in $(((t1 - t0) / 1000000)) ms)"
printf '%-40s %10s %8s\n' "command" "ms" "x stats"
printf '%-40s %10s %8s\n' "stats (baseline, reads every record)" "$base" "1.00"
printf '%-40s %10s %8s\n' "renewal advise --serial (one)" "$one" \
    "$(awk "BEGIN { printf \"%.2f\", $one / ($base ? $base : 1) }")"
printf '%-40s %10s %8s\n' "renewal advise --issued-before (all)" "$all" \
    "$(awk "BEGIN { printf \"%.2f\", $all / ($base ? $base : 1) }")"
printf '%-40s %10s %8s\n' "stats after" "$again" \
    "$(awk "BEGIN { printf \"%.2f\", $again / ($base ? $base : 1) }")"
