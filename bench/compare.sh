#!/bin/sh
# compare.sh - Anvil against Pebble, side by side, on loopback.
#
# Starts one DNS answerer (pebble-challtestsrv: every A is 127.0.0.1),
# Anvil in five shapes (lighttpd + FastCGI, Apache mod_fcgid, lighttpd CGI,
# Apache CGI, Apache nph- CGI; each with its own data folder and CA; plus
# lighttpd + FastCGI with server.max-worker = 2 for the newNonce runs) and Pebble (Debian
# package; PEBBLE_VA_NOSLEEP=1, nonce rejection off; a throwaway minica-style
# root made with certtool for its HTTPS), then runs bench/acmeload against
# them, alternating server by server at each concurrency, and prints a
# table. All loops are bounded; every generator run is also under timeout(1).
#
# Environment:
#   BENCH_SECS      seconds per flow run (default 10)
#   BENCH_NONCE_SECS seconds per HEAD newNonce run (default 5)
#   BENCH_CONCS     concurrencies (default "1 4 16 64")
#   BENCH_LONG_SECS the C=64 endurance run on lighttpd-fcgi (default 60; 0 = skip)
#   BENCH_BASEPORT  first port (default 14000; uses BASE..BASE+999: below
#                   the kernel's ephemeral range (32768-60999), where an
#                   outgoing connection, e.g. a validation's, may hold it)
#   BENCH_KEEP=1    keep the work folder
#   BENCH_OUT       also write the table to this file
#   BENCH_ANVIL     the anvil program measured (default the tree's ./anvil),
#                   e.g. an older build, for a before/after in one session
#
# Server CPU per flow: utime+stime (+cutime+cstime of reaped children) of
# every process in the server's tree (lighttpd + its anvil FastCGI
# processes; apache2 + fcgid/cgid children; pebble), read from /proc before
# and after each run. CGI validations run in detached children that leave
# the tree: the CGI rows' CPU misses them (marked *).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
SECS=${BENCH_SECS:-10}
NSECS=${BENCH_NONCE_SECS:-5}
CONCS=${BENCH_CONCS:-1 4 16 64}
LONG=${BENCH_LONG_SECS:-60}
B=${BENCH_BASEPORT:-14000}
GEN="$here/acmeload"
HZ=$(getconf CLK_TCK)

REAP="$here/subreaper"
FLOOR="$here/floor"
[ -x "$GEN" ] && [ -x "$REAP" ] && [ -x "$FLOOR" ] ||
    make -C "$here" acmeload subreaper floor >/dev/null
ANVIL_PROG=${BENCH_ANVIL:-$top/anvil}
[ -x "$ANVIL_PROG" ] || { echo "compare.sh: build Anvil first (make), or set BENCH_ANVIL to a built anvil" >&2; exit 2; }

W=$(mktemp -d /tmp/anvil-bench.XXXXXX)
chmod 755 "$W"
# One run measures one build: the shared tree may be rebuilt meanwhile.
mkdir -p "$W/bin"
cp "$ANVIL_PROG" "$W/bin/anvil"
BUILD="$(sha256sum "$W/bin/anvil" | cut -c1-12), built $(date -u -r "$ANVIL_PROG" +%Y-%m-%dT%H:%MZ)"
DNS=$((B + 53)); MGMT=$((B + 55)); H01=$((B + 80))
PIDS=""

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
# Each Anvil runs under bench/subreaper, so what its processes detach (a
# CGI validation, a checkpoint, spawn-fcgi's servers) comes back into the
# tree, and is counted in the subreaper's cutime/cstime once reaped.
cpu_ms() {
	t=0
	for p in $(descendants "$1"); do
		s=$(cat "/proc/$p/stat" 2>/dev/null) || continue
		s=${s##*) }
		# after "comm)": state ppid ... field 14-17 of stat are 12-15 here
		t=$(echo "$s" | awk -v t="$t" '{ print t + $12 + $13 + $14 + $15 }')
	done
	echo $((t * 1000 / HZ))
}

stop_all() {
	set +e
	all=""
	for p in $PIDS; do all="$all $(descendants "$p")"; done
	# spawn-fcgi's servers are in sessions of their own, outside every
	# tree; run-apache.sh stops them, and so does this, in case it could not.
	all="$all $(cat "$W"/*/apache/spawn-fcgi.pid 2>/dev/null)"
	for p in $PIDS; do kill "$p" 2>/dev/null; done
	sleep 1
	for p in $all; do kill "$p" 2>/dev/null; done
	sleep 0.5
	for p in $all; do kill -9 "$p" 2>/dev/null; done
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

# ------------------------------------------------------------ servers
pebble-challtestsrv -dns01 "127.0.0.1:$DNS" -http01 "" -https01 "" -tlsalpn01 "" \
    -management "127.0.0.1:$MGMT" -defaultIPv6 "" >"$W/challtestsrv.log" 2>&1 &
PIDS="$PIDS $!"

# anvil_up NAME RUNNER SHAPE PORT [LIGHTTPD_WORKERS]: an Anvil with its own
# data folder.
anvil_up() {
	d="$W/$1"; mkdir -p "$d"; chmod 700 "$d"
	cat >"$d/anvil.conf" <<EOC
[server]
base_url = https://127.0.0.1:$4/acme
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
	"$top/anvil-admin" --config "$d/anvil.conf" init >"$W/$1.init" 2>&1 ||
	    { cat "$W/$1.init"; exit 1; }
	ANVIL_PORT=$4 ANVIL_PUBLISH_PORT=$(($4 + 1)) ANVIL_BUILDDIR="$W/bin" \
	    ANVIL_LIGHTTPD_WORKERS=${5:-} \
	    "$REAP" sh "$top/scripts/$2" "$d" "$3" >"$W/$1.serve" 2>&1 &
	eval "PID_$(echo "$1" | tr - _)=$!"
	PIDS="$PIDS $!"
	wait_url "https://127.0.0.1:$4/acme/directory" "$d/ca.pem" 30 ||
	    { log "$1 did not start"; cat "$W/$1.serve"; exit 1; }
	log "$1 up on $4"
}

anvil_up lt-fcgi run-lighttpd.sh fcgi $((B + 100))
anvil_up lt-w2 run-lighttpd.sh fcgi $((B + 700)) 2
anvil_up ap-fcgid run-apache.sh fcgid $((B + 200))
anvil_up lt-cgi run-lighttpd.sh cgi $((B + 300))
anvil_up ap-cgi run-apache.sh cgi $((B + 400))
anvil_up ap-nph run-apache.sh nph $((B + 600))
anvil_up ap-pfcgi run-apache.sh proxy-fcgi $((B + 800))

# Pebble: its HTTPS certificate from a throwaway root (the Debian package
# ships no test certificates).
P="$W/pebble"; mkdir -p "$P"
certtool --generate-privkey --key-type ecdsa --outfile "$P/ca.key" >/dev/null 2>&1
printf 'cn = "acmeload minica root"\nca\ncert_signing_key\nexpiration_days = 30\n' >"$P/ca.tmpl"
certtool --generate-self-signed --load-privkey "$P/ca.key" --template "$P/ca.tmpl" \
    --outfile "$P/ca.pem" >/dev/null 2>&1
certtool --generate-privkey --key-type ecdsa --outfile "$P/key.pem" >/dev/null 2>&1
printf 'cn = "localhost"\ndns_name = "localhost"\nip_address = "127.0.0.1"\ntls_www_server\nsigning_key\nexpiration_days = 30\n' >"$P/leaf.tmpl"
certtool --generate-certificate --load-privkey "$P/key.pem" --load-ca-certificate "$P/ca.pem" \
    --load-ca-privkey "$P/ca.key" --template "$P/leaf.tmpl" --outfile "$P/cert.pem" >/dev/null 2>&1
cat >"$P/pebble.json" <<EOC
{"pebble": {"listenAddress": "127.0.0.1:$((B + 500))",
 "managementListenAddress": "127.0.0.1:$((B + 501))",
 "certificate": "$P/cert.pem", "privateKey": "$P/key.pem",
 "httpPort": $H01, "tlsPort": $((B + 81)), "ocspResponderURL": "",
 "externalAccountBindingRequired": false}}
EOC
# pebble_up: (re)start Pebble; sets PID_pebble.
pebble_up() {
	PEBBLE_VA_NOSLEEP=1 PEBBLE_WFE_NONCEREJECT=0 pebble -config "$P/pebble.json" \
	    -dnsserver "127.0.0.1:$DNS" >>"$W/pebble.log" 2>&1 &
	PID_pebble=$!
	PIDS="$PIDS $!"
	wait_url "https://127.0.0.1:$((B + 500))/dir" "$P/ca.pem" 30 || { log "pebble did not start"; cat "$W/pebble.log"; exit 1; }
	log "pebble up on $((B + 500)) ($(dpkg-query -W -f '${Version}' pebble 2>/dev/null)), pid $PID_pebble"
}
pebble_up

url_of() {
	case $1 in
	lt-fcgi) echo "https://127.0.0.1:$((B + 100))/acme/directory $W/lt-fcgi/ca.pem" ;;
	ap-fcgid) echo "https://127.0.0.1:$((B + 200))/acme/directory $W/ap-fcgid/ca.pem" ;;
	lt-cgi) echo "https://127.0.0.1:$((B + 300))/acme/directory $W/lt-cgi/ca.pem" ;;
	ap-cgi) echo "https://127.0.0.1:$((B + 400))/acme/directory $W/ap-cgi/ca.pem" ;;
	ap-nph) echo "https://127.0.0.1:$((B + 600))/acme/directory $W/ap-nph/ca.pem" ;;
	lt-w2) echo "https://127.0.0.1:$((B + 700))/acme/directory $W/lt-w2/ca.pem" ;;
	ap-pfcgi) echo "https://127.0.0.1:$((B + 800))/acme/directory $W/ap-pfcgi/ca.pem" ;;
	pebble) echo "https://127.0.0.1:$((B + 500))/dir $P/ca.pem" ;;
	esac
}

RES="$W/results"; : >"$RES"
# run SERVER MODE C SECS: one bounded generator run; appends
# "SERVER MODE C rate p99 srvcpu_per_ms gencpu_per ok err note" to $RES.
run() {
	set -- "$1" "$2" "$3" "$4" "${5:-}"
	PEBBLE_STUCK=""
	u=$(url_of "$1")
	pid=$(eval echo "\$PID_$(echo "$1" | tr - _)")
	c0=$(cpu_ms "$pid")
	t0=$(date +%H:%M:%S)
	out="$W/run.$1.$2.$3.out"
	rc=0
	timeout -k 5 $(($4 + 90)) "$GEN" -u "${u% *}" --cacert "${u#* }" \
	    --http01-port "$H01" --mode "$2" -c "$3" -t "$4" -n 10000000 \
	    --timeout 20 --poll-max 20 >"$out" 2>&1 || rc=$?
	c1=$(cpu_ms "$pid")
	r=$(grep '^RESULT' "$out" || true)
	note=""
	if [ -z "$r" ]; then
		note="generator-killed(rc=$rc,start=$t0)"
		r="RESULT ok=0 err=0 rate=0 p99=0 cpu_per=0 reqs=0"
	fi
	get() { echo "$r" | tr ' ' '\n' | sed -n "s/^$1=//p"; }
	ok=$(get ok); err=$(($(get err) + $(get setup_err))); errk=$(get errkinds)
	if [ "$errk" != 0 ] || [ "$err" != 0 ]; then
		note="$note errors-at-$t0:$(grep '  error x' "$out" | sed 's/^ *error //' | tr '\n' ';' | tr ' ' '_')"
	fi
	if grep -q 'transport: Timeout' "$out"; then note="$note TIMEOUTS(start=$t0)"; fi
	prec=2; [ "$2" = nonce ] && prec=4
	srv=$(awk -v a="$c0" -v b="$c1" -v n="$ok" -v p="$prec" 'BEGIN { if (n > 0) printf "%.*f", p, (b - a) / n; else print "-" }')
	label=$2; [ "$4" -gt "$SECS" ] && label="$2-long"
	[ -n "$5" ] && label="$2-$5"
	rq=$(awk -v r="$(get reqs)" -v n="$ok" 'BEGIN { if (n > 0) printf "%.2f", r / n; else print "-" }')
	echo "$1 $label $3 $(get rate) $(get p99) $srv $(get cpu_per) $ok $err ${note:--} $rq" >>"$RES"
	log "$1 $2 C=$3: $(get rate)/s p99 $(get p99) ms, server CPU $srv ms/op, ok $ok err $err ${note}"
	# A stuck Pebble is recorded above, then replaced so later rows
	# measure a fresh one (the restart is noted too).
	if [ "$1" = pebble ] && grep -q 'transport: Timeout' "$out"; then
		kill "$PID_pebble" 2>/dev/null || true; sleep 1; kill -9 "$PID_pebble" 2>/dev/null || true
		wait "$PID_pebble" 2>/dev/null || true
		pebble_up
		echo "pebble restart 0 0 0 - - 0 0 restarted-at-$(date +%H:%M:%S)-after-timeouts -" >>"$RES"
		PEBBLE_STUCK=1
	fi
}

# ------------------------------------------------------------ the runs
T0=$(date +%s)
# The floors (bench/floor): what public-key work and a CGI exec cost on
# this machine now, before the load, for the bounds under the table.
FL_ANVIL=$("$FLOOR" "$W/bin/anvil" --version) || { log "floor failed"; exit 1; }
FL_TRUE=$("$FLOOR" -n 200 /bin/true) || { log "floor failed"; exit 1; }
log "floors: $FL_ANVIL; /bin/true: $FL_TRUE"
for c in $CONCS; do
	for s in lt-fcgi pebble ap-fcgid; do
		run "$s" flows "$c" "$SECS"
		# A deadlocked Pebble's row stays as measured; the fresh one
		# runs the same load once more, printed on a line of its own.
		[ -n "$PEBBLE_STUCK" ] && run pebble flows "$c" "$SECS" retry
	done
done
for s in lt-fcgi pebble lt-w2 ap-fcgid lt-fcgi pebble lt-w2; do run "$s" nonce 16 "$NSECS"; done
for s in lt-cgi ap-cgi ap-nph; do run "$s" flows 4 "$SECS"; done
# Apache's other FastCGI shape, where fcgid's tail is longest.
for c in 16 64; do run ap-pfcgi flows "$c" "$SECS"; done
[ "$LONG" -gt 0 ] && run lt-fcgi flows 64 "$LONG"

# RSS of Anvil's FastCGI processes (after the load).
rss=""
for p in $(descendants "$PID_lt_fcgi"); do
	# lighttpd's FastCGI processes, not a checkpoint child of theirs
	# (which the subreaper may hold at this moment).
	pp=$(awk '{ print $4 }' "/proc/$p/stat" 2>/dev/null)
	[ "$(cat "/proc/$pp/comm" 2>/dev/null)" = lighttpd ] || continue
	case $(cat "/proc/$p/comm" 2>/dev/null) in anvil)
		r=$(awk '/^VmRSS/ { print $2 }' "/proc/$p/status")
		pss=$(awk '/^Pss:/ { print $2 }' "/proc/$p/smaps_rollup" 2>/dev/null)
		rss="$rss ${r}kB(PSS ${pss}kB)" ;;
	esac
done
prss=$(awk '/^VmRSS/ { print $2 }' "/proc/$PID_pebble/status")
ELAPSED=$(($(date +%s) - T0))

# ------------------------------------------------------------ the table
{
rev=$(git -C "$top" rev-parse --short HEAD 2>/dev/null || echo unknown)
[ -n "$(git -C "$top" status --porcelain -- src 2>/dev/null)" ] && rev="$rev+dirty-src"
echo "acmeload compare: $(date -u +%Y-%m-%dT%H:%MZ), anvil $rev (binary $BUILD), $(nproc) CPUs, $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1), runs ${SECS}s (nonce ${NSECS}s), total ${ELAPSED}s"
awk -v concs="$CONCS" '
function ratio(a, b) { return (a != "" && b != "" && b + 0 > 0) ? sprintf("%.2fx", a / b) : "-" }
# floor_kv LINE A: the key=value words of a FLOOR line into A.
function floor_kv(line, A,   n, i, w, p) { n = split(line, w, " ")
  for (i = 1; i <= n; i++) if (split(w[i], p, "=") == 2) A[p[1]] = p[2] }
{ k = $1 SUBSEP $2 SUBSEP $3
  V[k] = 1; V[k, "rate"] = $4; V[k, "p99"] = $5; V[k, "srv"] = $6; V[k, "gen"] = $7
  V[k, "ok"] = $8; V[k, "err"] = $9; V[k, "note"] = $10; V[k, "reqs"] = $11
  if ($1 == "pebble" && $2 == "restart") { notes[++nn] = "pebble " $10; next }
  if ($10 != "-") notes[++nn] = $1 " " $2 " C=" $3 ": " $10
  if ($2 == "nonce") { nsum[$1] += $4; ncnt[$1]++; nsrv[$1] += $6; ngen[$1] += $7 } }
END {
  printf "\nFull flows (flows/s; p99 ms; server CPU ms/flow; generator CPU ms/flow)\n"
  printf "%-4s | %-30s | %-30s | %-30s | %-8s %-8s\n", "C", "Anvil lighttpd+FastCGI", "Pebble", "Anvil Apache+fcgid", "A/P f/s", "A/P CPU"
  n = split(concs, cs, " ")
  for (i = 1; i <= n; i++) { c = cs[i]
    a = "lt-fcgi" SUBSEP "flows" SUBSEP c; p = "pebble" SUBSEP "flows" SUBSEP c; f = "ap-fcgid" SUBSEP "flows" SUBSEP c
    printf "%-4s | %7.1f %8.1f %6s %6s | %7.1f %8.1f %6s %6s | %7.1f %8.1f %6s %6s | %-8s %-8s\n", c,
      V[a, "rate"], V[a, "p99"], V[a, "srv"], V[a, "gen"],
      V[p, "rate"], V[p, "p99"], V[p, "srv"], V[p, "gen"],
      V[f, "rate"], V[f, "p99"], V[f, "srv"], V[f, "gen"],
      ratio(V[a, "rate"], V[p, "rate"]) (V[p, "err"] > 0 ? "!" : ""), ratio(V[a, "srv"], V[p, "srv"]) }
  printf "(! = Pebble had timeouts in that run, see notes)\n"
  rl = ""
  for (i = 1; i <= n; i++) { c = cs[i]
    r = "pebble" SUBSEP "flows-retry" SUBSEP c; a = "lt-fcgi" SUBSEP "flows" SUBSEP c
    if (V[r]) rl = rl sprintf("%sC=%s %.1f flows/s, p99 %.1f ms, %s ms/flow%s (A/P %s)", rl == "" ? "" : "; ", c,
      V[r, "rate"], V[r, "p99"], V[r, "srv"], V[r, "err"] > 0 ? ", stuck again" : "", ratio(V[a, "rate"], V[r, "rate"]) (V[r, "err"] > 0 ? "!" : "")) }
  if (rl != "") printf "Pebble again after each restart (a fresh process, the same load): %s\n", rl
  for (s in nsum) nmean[s] = nsum[s] / ncnt[s]
  printf "\nHEAD newNonce, C=16 (req/s, mean of runs): Anvil lighttpd %.0f, Anvil lighttpd 2 workers %.0f, Pebble %.0f, Anvil fcgid %.0f; Anvil/Pebble %s, 2 workers %s\n",
    nmean["lt-fcgi"], nmean["lt-w2"], nmean["pebble"], nmean["ap-fcgid"],
    ratio(nmean["lt-fcgi"], nmean["pebble"]), ratio(nmean["lt-w2"], nmean["pebble"])
  a4 = "lt-fcgi" SUBSEP "flows" SUBSEP 4
  lc = "lt-cgi" SUBSEP "flows" SUBSEP 4; ac = "ap-cgi" SUBSEP "flows" SUBSEP 4
  an = "ap-nph" SUBSEP "flows" SUBSEP 4
  printf "CGI shapes, C=4 (flows/s, p99 ms, server CPU ms/flow): lighttpd CGI %.1f %.1f %s (%s of FastCGI); Apache CGI %.1f %.1f %s (%s of FastCGI); Apache nph- CGI %.1f %.1f %s (%s of FastCGI)\n",
    V[lc, "rate"], V[lc, "p99"], V[lc, "srv"], ratio(V[lc, "rate"], V[a4, "rate"]),
    V[ac, "rate"], V[ac, "p99"], V[ac, "srv"], ratio(V[ac, "rate"], V[a4, "rate"]),
    V[an, "rate"], V[an, "p99"], V[an, "srv"], ratio(V[an, "rate"], V[a4, "rate"])
  f16 = "ap-fcgid" SUBSEP "flows" SUBSEP 16; f64 = "ap-fcgid" SUBSEP "flows" SUBSEP 64
  x16 = "ap-pfcgi" SUBSEP "flows" SUBSEP 16; x64 = "ap-pfcgi" SUBSEP "flows" SUBSEP 64
  printf "Apache mod_proxy_fcgi (4 anvil processes under spawn-fcgi; flows/s, p99 ms, server CPU ms/flow): C=16 %.1f %.1f %s; C=64 %.1f %.1f %s (mod_fcgid above: C=16 p99 %.1f, C=64 p99 %.1f)\n",
    V[x16, "rate"], V[x16, "p99"], V[x16, "srv"], V[x64, "rate"], V[x64, "p99"], V[x64, "srv"],
    V[f16, "p99"], V[f64, "p99"]
  for (i = 1; i <= nn; i++) print "note: " notes[i]
  # The floors, and what they bound (the targets of issue 7).
  floor_kv(fla, FA); floor_kv(flt, FT)
  # The Pebble to set 4x against: one that answered at C=4 without a
  # timeout, the first run or the one after its restart; none, no line.
  p4 = "pebble" SUBSEP "flows" SUBSEP 4; r4 = "pebble" SUBSEP "flows-retry" SUBSEP 4
  pb = (V[p4] && V[p4, "err"] == 0) ? p4 : (V[r4] && V[r4, "err"] == 0) ? r4 : ""
  rq = V[a4, "reqs"] + 0; pk = (rq + 1) * FA["verify_us"] / 1000 + FA["sign_us"] / 1000
  printf "\nFloors (bench/floor before the runs, CPU per operation): ES256 verify %s us, sign %s us (GnuTLS); fork+exec+wait of anvil --version %s ms, of /bin/true %s ms\n",
    FA["verify_us"], FA["sign_us"], FA["exec_ms"], FT["exec_ms"]
  if (rq > 0)
  printf "- public-key work per flow: %.2f requests per flow at C=4 (each a JWS to verify) + the CSR verified + the certificate signed = %.2f ms of server CPU before any HTTP, storage or kernel work (target 1.0 ms; Anvil used %s)\n",
    rq, pk, V[a4, "srv"]
  if (rq > 0 && pb == "")
    printf "- 4x Pebble at C=4: no Pebble run at C=4 without a timeout, so no bound\n"
  if (rq > 0 && pb != "" && V[pb, "rate"] + 0 > 0) {
    need = ncpu * 1000 / (4 * V[pb, "rate"])
    printf "- 4x Pebble at C=4 = %.0f flows/s (Pebble %.1f%s): server + generator CPU per flow at most %.2f ms on %d CPUs; the generator used %s and the public-key floor is %.2f, so at best %.0f flows/s = %.2fx\n",
      4 * V[pb, "rate"], V[pb, "rate"], pb == r4 ? ", after its restart" : "", need, ncpu, V[a4, "gen"], pk,
      ncpu * 1000 / (V[a4, "gen"] + pk), ncpu * 1000 / (V[a4, "gen"] + pk) / V[pb, "rate"]
    # The same with the generator cut to its own floor too: its ES256
    # signatures (a JWS per request, the CSR) and, per request, what a
    # HEAD newNonce costs it (TLS and HTTP, no signing); and the server
    # given, besides its public-key work, only what a HEAD newNonce
    # costs lighttpd per request.
    if (ncnt["lt-w2"]) {
      gq = ngen["lt-w2"] / ncnt["lt-w2"]; sq = nsrv["lt-w2"] / ncnt["lt-w2"]
      gf = (rq + 1) * FA["sign_us"] / 1000 + rq * gq; sf = pk + rq * sq
      printf "  a generator reduced to its signatures and its HTTP (%.2f ms per flow) and a server to its public-key work and lighttpd'"'"'s TLS per request (%.2f ms) would reach at most %.0f flows/s = %.2fx\n",
        gf, sf, ncpu * 1000 / (gf + sf), ncpu * 1000 / (gf + sf) / V[pb, "rate"]
    }
  }
  # A CGI flow costs at least what a FastCGI flow costs (server and
  # generator) plus one exec per request; the machine gives ncpu seconds
  # of CPU per second, so CGI flows/s <= ncpu / that, set against the
  # FastCGI flows/s measured.
  fc = V[a4, "srv"] + V[a4, "gen"]
  if (fc > 0 && rq > 0 && V[a4, "rate"] + 0 > 0)
    printf "- CGI at 40%% of FastCGI: a CGI flow costs what a FastCGI one does (%.2f ms of CPU, server + generator) plus one exec per request (%s requests; %s ms each for anvil, %s for /bin/true), so CGI flows/s is at most %.0f%% of FastCGI'"'"'s %.1f with this program, %.0f%% with a program as small as /bin/true\n",
      fc, rq, FA["exec_ms"], FT["exec_ms"], 100 * ncpu * 1000 / (fc + rq * FA["exec_ms"]) / V[a4, "rate"], V[a4, "rate"],
      100 * ncpu * 1000 / (fc + rq * FT["exec_ms"]) / V[a4, "rate"]
  # HEAD newNonce: CPU per request of each side (means of the runs).
  if (ncnt["lt-w2"] && ncnt["pebble"]) {
    g = 1000 * ngen["lt-w2"] / ncnt["lt-w2"]; sv = 1000 * nsrv["lt-w2"] / ncnt["lt-w2"]
    pg = 1000 * ngen["pebble"] / ncnt["pebble"]; pv = 1000 * nsrv["pebble"] / ncnt["pebble"]
    printf "- HEAD newNonce 1.5x: CPU per request, Anvil lighttpd 2 workers %.0f us + the generator %.0f us, Pebble %.0f us + the generator %.0f us: with the CPUs full on both sides the ratio would be %.2fx (measured: %s, where one side leaves CPU idle); 1.5x with the CPUs full needs lighttpd at %.0f us per request or less\n",
      sv, g, pv, pg, (pg + pv) / (g + sv), ratio(nmean["lt-w2"], nmean["pebble"]), (pg + pv) / 1.5 - g
  }
}' fla="$FL_ANVIL" flt="$FL_TRUE" ncpu="$(nproc)" "$RES"
[ "$LONG" -gt 0 ] && grep '^lt-fcgi flows-long 64 ' "$RES" | tail -1 |
    awk -v s="$LONG" '{ printf "Endurance C=64 %ss on lighttpd-fcgi: %.1f flows/s, ok %s, errors %s, p99 %.1f ms\n", s, $4, $8, $9, $5 }'
echo "Anvil FastCGI process RSS after load:$rss; Pebble RSS ${prss}kB"
echo "(Apache CGI and nph- rows: mod_cgid's daemon ignores SIGCHLD, so the kernel drops the CPU of the CGI processes it starts; their server CPU misses the execs)"
} | tee "${BENCH_OUT:-/dev/null}"
cp "$RES" "${BENCH_OUT:-/dev/null}.raw" 2>/dev/null || true
