#!/bin/sh
# profile.sh - where Anvil's server CPU goes, per issuance flow, for the
# current tree: the cost table of issue 22, from the machine's own tools.
#
# Starts one DNS answerer (pebble-challtestsrv) and one Anvil as shipped
# (scripts/run-lighttpd.sh, lighttpd + 4 FastCGI processes) under
# bench/subreaper, warms it up, then runs bench/acmeload for PROFILE_FLOWS
# full flows at PROFILE_CONC clients while
#   - `perf record -e cpu-clock -g` samples every process of the server's
#     tree (lighttpd, the anvil processes, anything they start), and
#   - `perf stat` counts the server's system calls that the table names
#     (fdatasync, flock, fcntl, timer_settime, accept, connect, clone,
#     and shutdown, select and poll: libfcgi's lingering close),
#   - db5.3_stat reads the store's transaction and log-flush counters
#     before and after (BDB's own count of commits and durable flushes).
# bench/profile.py sorts each sample into one row (library of the frame,
# kernel function for system calls) and prints microseconds of CPU per
# flow, beside the server's CPU per flow read from /proc (utime + stime of
# the tree), so the sampled total can be checked against it.
#
# Environment:
#   PROFILE_FLOWS   flows measured (default 1200)
#   PROFILE_CONC    acmeload clients (default 4)
#   PROFILE_FREQ    samples per second per CPU (default 2000)
#   PROFILE_CALLGRAPH  perf record's call-graph option (default -g, frame
#                   pointers); "--call-graph dwarf,16384" unwinds Debian's
#                   libraries too (no "libc / unresolved" row left) at
#                   several times the sampling overhead: use PROFILE_FREQ=500
#   BENCH_BASEPORT  first port (default 15000; uses BASE..BASE+199)
#   BENCH_KEEP=1    keep the work folder (perf.data, logs)
#   BENCH_ANVIL     the anvil program measured (default the tree's ./anvil)
# Needs root (or perf_event_paranoid <= 1) and linux-perf.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
FLOWS=${PROFILE_FLOWS:-1200}
CONC=${PROFILE_CONC:-4}
FREQ=${PROFILE_FREQ:-2000}
B=${BENCH_BASEPORT:-15000}
GEN="$here/acmeload"
REAP="$here/subreaper"
HZ=$(getconf CLK_TCK)

command -v perf >/dev/null || { echo "profile.sh: perf not found (apt-get install linux-perf)" >&2; exit 2; }
ANVIL_PROG=${BENCH_ANVIL:-$top/anvil}
[ -x "$ANVIL_PROG" ] || { echo "profile.sh: build Anvil first (make), or set BENCH_ANVIL" >&2; exit 2; }
[ -x "$GEN" ] && [ -x "$REAP" ] || make -C "$here" acmeload subreaper >/dev/null

W=$(mktemp -d /tmp/anvil-profile.XXXXXX)
chmod 755 "$W"
mkdir -p "$W/bin"
cp "$ANVIL_PROG" "$W/bin/anvil"
DNS=$((B + 53)); MGMT=$((B + 55)); H01=$((B + 80)); PORT=$((B + 100))
PIDS=""
PERF=""

log() { echo "[$(date +%H:%M:%S)] $*" >&2; }

# descendants PID: PID and every process below it.
descendants() {
	ps -e -o pid=,ppid= | awk -v root="$1" '
	{ kids[$2] = kids[$2] " " $1 }
	END {
		q[1] = root; n = 1; i = 1
		while (i <= n) { p = q[i++]; print p
			m = split(kids[p], a, " "); for (j = 1; j <= m; j++) q[++n] = a[j] }
	}'
}

# cpu_ms PID: CPU ms of the tree under PID (utime stime cutime cstime).
cpu_ms() {
	t=0
	for p in $(descendants "$1"); do
		s=$(cat "/proc/$p/stat" 2>/dev/null) || continue
		s=${s##*) }
		t=$(echo "$s" | awk -v t="$t" '{ print t + $12 + $13 + $14 + $15 }')
	done
	echo $((t * 1000 / HZ))
}

stop_all() {
	set +e
	for p in $PERF; do kill -INT "$p" 2>/dev/null; done
	all=""
	for p in $PIDS; do all="$all $(descendants "$p")"; done
	for p in $PIDS; do kill "$p" 2>/dev/null; done
	sleep 1
	for p in $all; do kill "$p" 2>/dev/null; done
	sleep 0.5
	for p in $all $PERF; do kill -9 "$p" 2>/dev/null; done
	if [ -n "${BENCH_KEEP:-}" ]; then log "kept $W"; else rm -rf "$W"; fi
}
trap stop_all EXIT
trap 'exit 130' INT TERM

wait_url() { # URL CA SECONDS
	n=0
	while [ $n -lt $(($3 * 10)) ]; do
		curl -s -o /dev/null --max-time 1 --cacert "$2" "$1" && return 0
		sleep 0.1; n=$((n + 1))
	done
	return 1
}

pebble-challtestsrv -dns01 "127.0.0.1:$DNS" -http01 "" -https01 "" -tlsalpn01 "" \
    -management "127.0.0.1:$MGMT" -defaultIPv6 "" >"$W/challtestsrv.log" 2>&1 &
PIDS="$PIDS $!"

d="$W/anvil"; mkdir -p "$d"; chmod 700 "$d"
cat >"$d/anvil.conf" <<EOC
[server]
base_url = https://127.0.0.1:$PORT/acme
data_dir = $d
[ca]
key_type = ec:P-256
[validation]
http_port = $H01
dns_resolver = 127.0.0.1@$DNS
timeout = 5
; acmeload answers http-01 on 127.0.0.1, denied by default.
allow_networks = 127.0.0.1/32
EOC
"$top/anvil-admin" --config "$d/anvil.conf" init >"$W/init.log" 2>&1 ||
    { cat "$W/init.log"; exit 1; }
ANVIL_PORT=$PORT ANVIL_PUBLISH_PORT=$((PORT + 1)) ANVIL_BUILDDIR="$W/bin" \
    "$REAP" sh "$top/scripts/run-lighttpd.sh" "$d" fcgi >"$W/serve.log" 2>&1 &
SRV=$!
PIDS="$PIDS $SRV"
wait_url "https://127.0.0.1:$PORT/acme/directory" "$d/ca.pem" 30 ||
    { log "anvil did not start"; cat "$W/serve.log"; exit 1; }

gen() { # FLOWS OUT
	timeout -k 5 300 "$GEN" -u "https://127.0.0.1:$PORT/acme/directory" \
	    --cacert "$d/ca.pem" --http01-port "$H01" -c "$CONC" -n "$1" \
	    -t 240 --timeout 20 --poll-max 20 >"$2" 2>&1
}

# Warm-up: every FastCGI process started, the store's pages cached.
gen $((CONC * 20)) "$W/warmup.out" || { cat "$W/warmup.out"; exit 1; }

# bdb_counts: Berkeley DB's own counters of the store (db_stat -t, -l):
# transactions begun, committed, log flushes. Read-only, outside the fence.
bdb_counts() {
	{ db5.3_stat -t -h "$d/store"; db5.3_stat -l -h "$d/store"; } 2>/dev/null |
	    awk -F'\t' '$2 == "Number of transactions begun" { b = $1 }
		$2 == "Number of transactions committed" { c = $1 }
		$2 == "Total log file flushes" { f = $1 }
		END { print (b == "" ? -1 : b), (c == "" ? -1 : c), (f == "" ? -1 : f) }'
}

tree=$(descendants "$SRV" | tr '\n' ',' | sed 's/,$//')
db0=$(bdb_counts)
c0=$(cpu_ms "$SRV")
perf record -q -e cpu-clock -F "$FREQ" ${PROFILE_CALLGRAPH:--g} -p "$tree" -o "$W/perf.data" \
    >"$W/perf-record.log" 2>&1 &
PERF="$!"
perf stat -x, -p "$tree" -o "$W/perf-stat.csv" \
    -e syscalls:sys_enter_fdatasync,syscalls:sys_enter_fsync \
    -e syscalls:sys_enter_pwrite64,syscalls:sys_enter_write \
    -e syscalls:sys_enter_flock,syscalls:sys_enter_fcntl \
    -e syscalls:sys_enter_timer_settime,syscalls:sys_enter_accept \
    -e syscalls:sys_enter_accept4,syscalls:sys_enter_connect \
    -e syscalls:sys_enter_clone,syscalls:sys_enter_clone3 \
    -e syscalls:sys_enter_execve,syscalls:sys_enter_shutdown \
    -e syscalls:sys_enter_select,syscalls:sys_enter_poll \
    >"$W/perf-stat.log" 2>&1 &
PERF="$PERF $!"
sleep 1
t0=$(date +%s.%N)
gen "$FLOWS" "$W/run.out" || { cat "$W/run.out"; exit 1; }
t1=$(date +%s.%N)
for p in $PERF; do kill -INT "$p" 2>/dev/null || true; done
for p in $PERF; do
	n=0
	while kill -0 "$p" 2>/dev/null && [ $n -lt 300 ]; do sleep 0.1; n=$((n + 1)); done
done
PERF=""
c1=$(cpu_ms "$SRV")
db1=$(bdb_counts)
r=$(grep '^RESULT' "$W/run.out")
get() { echo "$r" | tr ' ' '\n' | sed -n "s/^$1=//p"; }
ok=$(get ok)
[ "$ok" -gt 0 ] || { log "no flow completed"; cat "$W/run.out"; exit 1; }

rev=$(git -C "$top" rev-parse --short HEAD 2>/dev/null || echo unknown)
echo "profile: $(date -u +%Y-%m-%dT%H:%MZ), anvil $rev, $(nproc) CPUs, $ok flows at C=$CONC in $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }') s ($(get rate) flows/s, $(awk -v r="$(get reqs)" -v n="$ok" 'BEGIN { printf "%.2f", r / n }') requests/flow)"
echo "server CPU from /proc (lighttpd + anvil tree): $(awk -v a="$c0" -v b="$c1" -v n="$ok" 'BEGIN { printf "%.0f", (b - a) * 1000 / n }') us/flow; generator $(awk -v c="$(get cpu_per)" 'BEGIN { printf "%.0f", c * 1000 }') us/flow"
echo "$db0 $db1" | awk -v n="$ok" -v req="$(get reqs)" '
    $1 < 0 || $4 < 0 { print "store per flow: (db5.3_stat unavailable)"; exit }
    { printf "store per flow: %.1f transactions begun, %.1f committed (%.2f per request), %.1f log flushes\n",
	($4 - $1) / n, ($5 - $2) / n, ($5 - $2) / req, ($6 - $3) / n }'
perf script -i "$W/perf.data" -F comm,pid,period,ip,sym,dso 2>/dev/null |
    /usr/bin/python3 "$here/profile.py" --flows "$ok" --stat "$W/perf-stat.csv"
