#!/bin/sh
# pg.sh - the PostgreSQL store against Berkeley DB, and 1 host against 2,
# in one run (issue 23).
#
# Starts a DNS answerer (pebble-challtestsrv), a throwaway PostgreSQL
# (tests/pg-start.sh: Debian's server on a unix socket), and three Anvils
# behind lighttpd + FastCGI: "bdb" (Berkeley DB files), "pg1" (one host on
# PostgreSQL) and "pg2" (two hosts sharing data_dir and one database,
# behind HAProxy round-robin, one request per backend connection). Then
# bench/acmeload runs full issuance flows against each in turn at each
# concurrency, and a table gives flows/s and the server's CPU per flow:
# every process of each Anvil's tree (lighttpd and its FastCGI workers,
# under bench/subreaper) plus, for pg1 and pg2, the PostgreSQL server's
# processes (the database is part of what a flow costs), and for pg2 the
# HAProxy process. Ratios are against bdb in the same run.
#
# Environment:
#   BENCH_SECS      seconds per run (default 10)
#   BENCH_CONCS     concurrencies (default "4 16")
#   BENCH_BASEPORT  first port (default 15500; uses BASE..BASE+499)
#   BENCH_KEEP=1    keep the work folder
#   BENCH_TRIPS=N   then N more flows on pg1, one at a time, with the
#                   server logging every statement: statements and
#                   transactions per flow (0: skip; default 0)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
SECS=${BENCH_SECS:-10}
CONCS=${BENCH_CONCS:-4 16}
B=${BENCH_BASEPORT:-15500}
GEN="$here/acmeload"
REAP="$here/subreaper"
HZ=$(getconf CLK_TCK)
[ -x "$GEN" ] && [ -x "$REAP" ] || make -C "$here" acmeload subreaper >/dev/null
[ -x "$top/anvil" ] || { echo "pg.sh: build Anvil first (make)" >&2; exit 2; }
command -v haproxy >/dev/null || { echo "pg.sh: haproxy missing (Debian: haproxy)" >&2; exit 2; }

W=$(mktemp -d /tmp/anvil-bench-pg.XXXXXX)
chmod 755 "$W"
DNS=$((B + 53)); MGMT=$((B + 55)); H01=$((B + 80))
PIDS=""
PGDIR=""

log() { echo "[$(date +%H:%M:%S)] $*" >&2; }

descendants() {
	ps -e -o pid=,ppid= | awk -v root="$1" '
	{ kids[$2] = kids[$2] " " $1 }
	END {
		q[1] = root; n = 1; i = 1
		while (i <= n) { p = q[i++]; print p
			m = split(kids[p], a, " "); for (j = 1; j <= m; j++) q[++n] = a[j] }
	}'
}

# cpu_ms PID...: CPU ms of the trees under the PIDs.
cpu_ms() {
	t=0
	for r in "$@"; do
		for p in $(descendants "$r"); do
			s=$(cat "/proc/$p/stat" 2>/dev/null) || continue
			s=${s##*) }
			t=$(echo "$s" | awk -v t="$t" '{ print t + $12 + $13 + $14 + $15 }')
		done
	done
	echo $((t * 1000 / HZ))
}

stop_all() {
	set +e
	all=""
	for p in $PIDS; do all="$all $(descendants "$p")"; done
	for p in $PIDS; do kill "$p" 2>/dev/null; done
	sleep 1
	for p in $all; do kill "$p" 2>/dev/null; done
	sleep 0.5
	for p in $all; do kill -9 "$p" 2>/dev/null; done
	[ -n "$PGDIR" ] && sh "$top/tests/pg-start.sh" stop "$PGDIR"
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
PGCI=$(sh "$top/tests/pg-start.sh" start)
PGDIR=${PGCI#host=}
PGDIR=${PGDIR%% *}
PGPID=$(head -1 "$PGDIR/data/postmaster.pid")
psql "$PGCI" -XAtqc "CREATE SCHEMA pg1; CREATE SCHEMA pg2"

# conf NAME PORT [SCHEMA]: data folder and anvil.conf of one CA.
conf() {
	d="$W/$1"; mkdir -p "$d"; chmod 700 "$d"
	cat >"$d/anvil.conf" <<EOC
[server]
base_url = https://127.0.0.1:$2/acme
data_dir = $d
[validation]
http_port = $H01
dns_resolver = 127.0.0.1@$DNS
timeout = 5
allow_networks = 127.0.0.1/32
EOC
	[ -z "${3:-}" ] || printf '[store]\nbackend = postgresql\nconninfo = %s options=-csearch_path=%s\n' \
	    "$PGCI" "$3" >>"$d/anvil.conf"
	"$top/anvil-admin" --config "$d/anvil.conf" init >"$W/$1.init" 2>&1 ||
	    { cat "$W/$1.init"; exit 1; }
}

# host NAME DATA PORT DIR_URL: lighttpd + FastCGI on PORT for DATA.
host() {
	ANVIL_PORT=$3 ANVIL_PUBLISH_PORT=$(($3 + 1)) ANVIL_BUILDDIR="$top" \
	    ANVIL_LIGHTTPD_DIR="$2/lighttpd-$1" ANVIL_DIRECTORY_URL="$4" \
	    "$REAP" sh "$top/scripts/run-lighttpd.sh" "$2" fcgi >"$W/$1.serve" 2>&1 &
	PIDS="$PIDS $!"
	eval "PID_$1=$!"
	wait_url "https://127.0.0.1:$3/acme/directory" "$2/ca.pem" 30 ||
	    { log "$1 did not start"; cat "$W/$1.serve"; exit 1; }
}

conf bdb $((B + 100))
host bdb "$W/bdb" $((B + 100)) "https://127.0.0.1:$((B + 100))/acme/directory"
conf pg1 $((B + 200)) pg1
host pg1 "$W/pg1" $((B + 200)) "https://127.0.0.1:$((B + 200))/acme/directory"
conf pg2 $((B + 300)) pg2
u2="https://127.0.0.1:$((B + 300))/acme/directory"
host pg2a "$W/pg2" $((B + 310)) "$u2"
host pg2b "$W/pg2" $((B + 320)) "$u2"
cat "$W/pg2/lighttpd-pg2a/chain.pem" "$W/pg2/lighttpd-pg2a/tls.key" >"$W/lb.pem"
cat >"$W/haproxy.cfg" <<EOC
global
	maxconn 1000
defaults
	mode http
	timeout connect 5s
	timeout client 120s
	timeout server 120s
	option http-server-close
frontend acme
	bind 127.0.0.1:$((B + 300)) ssl crt $W/lb.pem
	default_backend hosts
backend hosts
	balance roundrobin
	http-reuse never
	server a 127.0.0.1:$((B + 310)) ssl verify required ca-file $W/pg2/ca.pem
	server b 127.0.0.1:$((B + 320)) ssl verify required ca-file $W/pg2/ca.pem
EOC
haproxy -f "$W/haproxy.cfg" -db >"$W/haproxy.log" 2>&1 &
PIDS="$PIDS $!"
PID_lb=$!
wait_url "$u2" "$W/pg2/ca.pem" 30 || { cat "$W/haproxy.log"; exit 1; }
log "bdb, pg1, pg2 (2 hosts behind HAProxy) up"

RES="$W/results"
: >"$RES"
# run NAME DIR_URL CA CONC PIDS...
run() {
	name=$1; url=$2; ca=$3; c=$4; shift 4
	c0=$(cpu_ms "$@")
	out="$W/run.$name.$c.out"
	timeout -k 5 $((SECS + 90)) "$GEN" -u "$url" --cacert "$ca" \
	    --http01-port "$H01" --mode flows -c "$c" -t "$SECS" -n 10000000 \
	    --timeout 20 --poll-max 20 >"$out" 2>&1 || true
	c1=$(cpu_ms "$@")
	r=$(grep '^RESULT' "$out" || echo "RESULT ok=0 err=0 rate=0")
	get() { echo "$r" | tr ' ' '\n' | sed -n "s/^$1=//p"; }
	ok=$(get ok); err=$(get err)
	cpf=$(awk -v a="$c0" -v b="$c1" -v n="$ok" 'BEGIN { if (n > 0) printf "%.2f", (b - a) / n; else print "-" }')
	echo "$name $c $(get rate) $cpf $ok ${err:-0}" >>"$RES"
	log "$name C=$c: $(get rate) flows/s, server CPU $cpf ms/flow, ok $ok err ${err:-0}"
}

for c in $CONCS; do
	run bdb "https://127.0.0.1:$((B + 100))/acme/directory" "$W/bdb/ca.pem" "$c" "$PID_bdb"
	run pg1 "https://127.0.0.1:$((B + 200))/acme/directory" "$W/pg1/ca.pem" "$c" "$PID_pg1" "$PGPID"
	run pg2 "$u2" "$W/pg2/ca.pem" "$c" "$PID_pg2a" "$PID_pg2b" "$PID_lb" "$PGPID"
done

echo "bench/pg.sh: $(date -u +%Y-%m-%dT%H:%MZ), anvil $(git -C "$top" rev-parse --short HEAD 2>/dev/null || echo ?), $(nproc) CPUs, runs ${SECS}s"
echo "| store | C | flows/s | x bdb | server CPU ms/flow | x bdb | ok | errors |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- |"
awk '
$1 == "bdb" { rate[$2] = $3; cpu[$2] = $4 }
{ rows[NR] = $0 }
END {
	for (i = 1; i <= NR; i++) {
		split(rows[i], f, " ")
		rr = (rate[f[2]] > 0) ? sprintf("%.2f", f[3] / rate[f[2]]) : "-"
		cr = (cpu[f[2]] > 0 && f[4] != "-") ? sprintf("%.2f", f[4] / cpu[f[2]]) : "-"
		name = f[1] == "bdb" ? "Berkeley DB, 1 host" : f[1] == "pg1" ? "PostgreSQL, 1 host" : "PostgreSQL, 2 hosts + HAProxy"
		printf "| %s | %s | %s | %s | %s | %s | %s | %s |\n", name, f[2], f[3], rr, f[4], cr, f[5], f[6]
	}
}' "$RES"

# What one flow asks of the server: log_statement = all logs every
# statement Anvil's processes run, with its virtual transaction id, so
# the log counts statements, transactions and round trips.
TRIPS=${BENCH_TRIPS:-0}
if [ "$TRIPS" -gt 0 ]; then
	psql "$PGCI" -XAtqc "ALTER SYSTEM SET log_statement = 'all'" \
	    -c "ALTER SYSTEM SET log_line_prefix = 'app=%a vx=%v '" \
	    -c "SELECT pg_reload_conf()" >/dev/null
	sleep 2
	l0=$(wc -l <"$PGDIR/server.log")
	timeout -k 5 120 "$GEN" -u "https://127.0.0.1:$((B + 200))/acme/directory" \
	    --cacert "$W/pg1/ca.pem" --http01-port "$H01" --mode flows -c 1 \
	    -t 60 -n "$TRIPS" --timeout 20 --poll-max 20 >"$W/trips.out" 2>&1 || true
	sleep 1
	psql "$PGCI" -XAtqc "ALTER SYSTEM RESET log_statement" \
	    -c "ALTER SYSTEM RESET log_line_prefix" -c "SELECT pg_reload_conf()" >/dev/null
	ok=$(sed -n 's/^RESULT.* ok=\([0-9]*\).*/\1/p' "$W/trips.out")
	tail -n +"$((l0 + 1))" "$PGDIR/server.log" |
	    sed -n 's/^app=anvil vx=\([^ ]*\) LOG:  \(statement\|execute [^ ]*\): /\1 \2 /p' >"$W/trips.log"
	st=$(wc -l <"$W/trips.log")
	x=$(cut -d' ' -f1 "$W/trips.log" | sort -u | wc -l)
	# A BEGIN, SET LOCAL or DECLARE sent in a pipeline (execute) shares
	# the round trip of the statement after it; a simple query is one
	# round trip of its own.
	rt=$((st - $(grep -c '^[^ ]* execute [^ ]* \(BEGIN\|SET LOCAL\|DECLARE\)' "$W/trips.log" || :)))
	awk -v s="$st" -v r="$rt" -v x="$x" -v n="${ok:-0}" 'BEGIN {
		if (n > 0) printf "pg1, %d flows one at a time, per flow: %.1f round trips, %.1f statements, %.1f transactions\n", n, r / n, s / n, x / n
		else print "pg1: no flow completed for the count" }'
	echo "statements of those flows, most frequent first:"
	sed -e 's/^[^ ]* execute [^ ]* //' -e 's/^[^ ]* statement //' "$W/trips.log" | cut -c1-72 |
	    sort | uniq -c | sort -rn | head -15
fi
