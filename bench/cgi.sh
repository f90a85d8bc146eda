#!/bin/sh
# cgi.sh - what one CGI request of the anvil program costs, by kind, from
# exec to exit, against /bin/true and "anvil --version" of the same run
# (issue 22). No web server: bench/cgi.py runs the program with the CGI
# environment a server would set, against a store made by anvil-admin init.
#
# Kinds: HEAD newNonce, GET directory, a POST-as-GET of an order, a
# newOrder, a finalize (each order is ready through an authorization of
# 127.0.0.1 validated once over http-01 at the start and then reused).
# Prints, per kind, the median CPU (user + system of the child) and its
# ratio to /bin/true and to "anvil --version"; with BENCH_CALLGRIND=1 also
# the instructions of one request of each kind under callgrind, split
# into the dynamic loader's part (before main) and main's.
#
# Environment:
#   BENCH_ROUNDS    requests of each kind (default 200)
#   BENCH_ANVIL     the anvil program measured (default the tree's ./anvil)
#   BENCH_CALLGRIND 1: also count instructions (valgrind)
#   BENCH_BASEPORT  the http-01 responder's port (default 16500)
#   BENCH_KEEP=1    keep the work folder
# Exit status 1 if a request got an unexpected status.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
ROUNDS=${BENCH_ROUNDS:-200}
PORT=${BENCH_BASEPORT:-16500}
ANVIL_PROG=${BENCH_ANVIL:-$top/anvil}
ADMIN="$(dirname "$ANVIL_PROG")/anvil-admin"
[ -x "$ADMIN" ] || ADMIN="$top/anvil-admin"
[ -x "$ANVIL_PROG" ] && [ -x "$ADMIN" ] ||
    { echo "cgi.sh: build Anvil first (make), or set BENCH_ANVIL" >&2; exit 2; }

W=$(mktemp -d /tmp/anvil-bench-cgi.XXXXXX)
cleanup() { [ "${BENCH_KEEP:-0}" = 1 ] && echo "kept $W" >&2 || rm -rf "$W"; }
trap cleanup EXIT
trap 'exit 130' INT TERM

BASE=https://ca.example.test/acme
cat >"$W/anvil.conf" <<EOC
[server]
base_url = $BASE
data_dir = $W/data

[validation]
http_port = $PORT
allow_networks = 127.0.0.1/32
EOC
mkdir -p "$W/data"
ANVIL_CONFIG="$W/anvil.conf" "$ADMIN" init >"$W/init.log" 2>&1 ||
    { cat "$W/init.log" >&2; exit 1; }
echo "cgi.sh: $(sha256sum "$ANVIL_PROG" | cut -c1-12) $ANVIL_PROG," \
    "$(ldd "$ANVIL_PROG" 2>/dev/null | wc -l) shared objects, $ROUNDS rounds"
CG=""
if [ "${BENCH_CALLGRIND:-0}" = 1 ]; then
	command -v valgrind >/dev/null ||
	    { echo "cgi.sh: BENCH_CALLGRIND=1 needs valgrind" >&2; exit 2; }
	CG="$W"
fi
python3 "$here/cgi.py" "$ANVIL_PROG" "$W/anvil.conf" "$BASE" "$PORT" \
    "$ROUNDS" $CG
