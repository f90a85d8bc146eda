#!/bin/sh
# bench.sh - bench/ still does its job: compare.sh, in short runs, against
# every Anvil shape and Pebble, must print its table and its floors, see no
# error from any Anvil (C=1, 4, and 64 on lighttpd + FastCGI), and leave
# neither its work folder nor a server behind; profile.sh, 40 flows, must
# print its cost table; cgi.sh, 5 rounds, a CPU line per request kind.
# Pebble's own stalls are compare.sh's to record, not failures here.
#
# bench/ is not distributed: in a tree made by make dist (distcheck, the
# sanitizer pass) there is nothing to run, and the test is skipped.
. "$(dirname "$0")/lib.sh"
bench="$top_srcdir/bench"
if [ ! -f "$bench/compare.sh" ] || [ ! -x "$top_srcdir/anvil" ]; then
	echo "SKIP: no bench/ or no anvil built in $top_srcdir (a dist tree)"
	exit 77
fi
PORT0=15000

if make -C "$bench" >"$T/make.log" 2>&1; then
	ok "make -C bench"
else
	fail "make -C bench"; sed 's/^/    /' "$T/make.log"; finish
fi

# listening PORT0: what listens on PORT0..PORT0+999 now.
listening() {
	ss -Hltn 2>/dev/null | awk -v lo="$1" -v hi=$(($1 + 999)) '
	    { n = split($4, a, ":"); p = a[n] + 0; if (p >= lo && p <= hi) print $4 }' |
	    sort
}
ls -d /tmp/anvil-bench.* 2>/dev/null | sort >"$T/before"
listening $PORT0 >"$T/listen.before"
BENCH_SECS=2 BENCH_NONCE_SECS=1 BENCH_CONCS="1 4" BENCH_LONG_SECS=3 \
    BENCH_BASEPORT=$PORT0 BENCH_OUT="$T/table" \
    timeout -k 10 900 sh "$bench/compare.sh" >"$T/out" 2>&1
rc=$?
if [ $rc -eq 0 ]; then ok "compare.sh exits 0"; else
	fail "compare.sh exit $rc"; tail -n 40 "$T/out" | sed 's/^/    /'; finish; fi

expect_out "Full flows (flows/s" "the table is printed"
expect_out "Floors (bench/floor" "the floors are printed"
expect_out "- public-key work per flow:" "the public-key bound is printed"
expect_out "Endurance C=64 3s on lighttpd-fcgi" "the C=64 run is printed"

# The raw rows: SERVER MODE C rate p99 srv gen ok err note reqs.
raw="$T/table.raw"
if [ -s "$raw" ]; then ok "raw results written"; else
	fail "no raw results"; finish; fi
bad=$(awk '$1 != "pebble" && ($8 + 0 <= 0 || $9 + 0 != 0)' "$raw")
if [ -z "$bad" ]; then
	ok "every Anvil run completed operations without an error ($(awk '$1 != "pebble"' "$raw" | wc -l) runs)"
else
	fail "Anvil runs with errors or nothing done:"; echo "$bad" | sed 's/^/    /'
fi
if awk '$1 == "lt-fcgi" && $2 == "flows" && $3 == 4 { f = 1; if ($11 + 0 < 5) exit 1 }
    END { exit f ? 0 : 1 }' "$raw"; then
	ok "a flow at C=4 is five requests or more (the JWS count behind the floor)"
else
	fail "requests per flow at C=4 missing or below 5"; grep '^lt-fcgi flows 4 ' "$raw" | sed 's/^/    /'
fi
v=$(sed -n 's/.*ES256 verify \([0-9.]*\) us.*/\1/p' "$T/table")
if awk -v v="${v:-0}" 'BEGIN { exit (v > 0) ? 0 : 1 }'; then
	ok "a verification was measured ($v us)"
else
	fail "no verification cost in the floors line"
fi

# profile.sh, short and bounded, so it cannot rot: it must print the
# cost table with the ECDSA row, the sampled total and the system calls,
# and a flow must have made at least one durable commit (fdatasync).
ls -d /tmp/anvil-profile.* 2>/dev/null | sort >"$T/pbefore"
if ! command -v perf >/dev/null; then
	fail "perf not installed (scripts/deps.sh installs linux-perf)"
elif [ "$(id -u)" -ne 0 ] &&
    [ "$(cat /proc/sys/kernel/perf_event_paranoid)" -gt 1 ]; then
	echo "SKIP-PART: profile.sh needs root or perf_event_paranoid <= 1"
else
	PROFILE_FLOWS=40 PROFILE_CONC=2 PROFILE_FREQ=500 BENCH_BASEPORT=$PORT0 \
	    timeout -k 10 400 sh "$bench/profile.sh" >"$T/profile" 2>&1
	rc=$?
	if [ $rc -eq 0 ]; then ok "profile.sh exits 0"; else
		fail "profile.sh exit $rc"; tail -n 30 "$T/profile" | sed 's/^/    /'; fi
	for row in "server CPU from /proc" "ECDSA P-256" "Berkeley DB work" \
	    "durable commits" "total sampled (server tree)" "store per flow:"; do
		if grep -q "^$row" "$T/profile"; then ok "profile.sh prints \"$row\""
		else fail "profile.sh has no \"$row\" row"; fi
	done
	t=$(sed -n 's/^total sampled (server tree) *\([0-9]*\).*/\1/p' "$T/profile")
	if [ "${t:-0}" -gt 0 ]; then ok "profile.sh sampled the server ($t us/flow)"
	else fail "profile.sh sampled nothing"; fi
	c=$(sed -n 's/^store per flow: .*, \([0-9.]*\) committed.*/\1/p' "$T/profile")
	if awk -v c="${c:-0}" 'BEGIN { exit (c > 0) ? 0 : 1 }'; then
		ok "profile.sh counts store commits per flow ($c)"
	else
		fail "profile.sh shows no store commit per flow"; fi
	f=$(sed -n 's/^system calls per flow[^:]*: fdatasync \([0-9.]*\),.*/\1/p' "$T/profile")
	if awk -v f="${f:-0}" 'BEGIN { exit (f > 0) ? 0 : 1 }'; then
		ok "profile.sh counts fdatasync per flow ($f)"
	else
		fail "profile.sh shows no fdatasync per flow"; fi
	# A FastCGI worker ends each request without libfcgi's lingering
	# close (src/bin/anvil.c fcgi_finish), which costs a shutdown() per
	# request (about 7 per flow); lighttpd closing the generator's
	# connections may add a few in all.
	sd=$(sed -n 's/^system calls per flow.* shutdown \([0-9.]*\),.*/\1/p' "$T/profile")
	if awk -v s="${sd:-99}" 'BEGIN { exit (s < 1) ? 0 : 1 }'; then
		ok "FastCGI workers close without lingering ($sd shutdown per flow)"
	else
		fail "FastCGI workers call shutdown ${sd:-?} times per flow"; fi
fi
ls -d /tmp/anvil-profile.* 2>/dev/null | sort >"$T/pafter"
left=$(comm -13 "$T/pbefore" "$T/pafter")
if [ -z "$left" ]; then ok "profile.sh's work folder is gone"; else
	fail "profile.sh left behind: $left"; fi

# cgi.sh, 5 rounds: a line for every request kind, each request answered
# with its status (exit 0), and its work folder gone.
ls -d /tmp/anvil-bench-cgi.* 2>/dev/null | sort >"$T/cbefore"
BENCH_ROUNDS=5 BENCH_BASEPORT=$((PORT0 + 990)) \
    timeout -k 10 300 sh "$bench/cgi.sh" >"$T/cgi" 2>&1
rc=$?
if [ $rc -eq 0 ]; then ok "cgi.sh exits 0"; else
	fail "cgi.sh exit $rc"; tail -n 20 "$T/cgi" | sed 's/^/    /'; fi
for kind in true version head-nonce directory order new-order finalize; do
	if grep -Eq "^CGI $kind +cpu_ms=[0-9.]+ ratio_true=[0-9.]+ .* n=5\$" "$T/cgi"
	then ok "cgi.sh measures $kind"
	else fail "cgi.sh has no $kind line"; fi
done
ls -d /tmp/anvil-bench-cgi.* 2>/dev/null | sort >"$T/cafter"
left=$(comm -13 "$T/cbefore" "$T/cafter")
if [ -z "$left" ]; then ok "cgi.sh's work folder is gone"; else
	fail "cgi.sh left behind: $left"; fi

ls -d /tmp/anvil-bench.* 2>/dev/null | sort >"$T/after"
left=$(comm -13 "$T/before" "$T/after")
if [ -z "$left" ]; then ok "the work folder is gone"; else
	fail "left behind: $left"; fi
sleep 1
listening $PORT0 >"$T/listen.after"
still=$(comm -13 "$T/listen.before" "$T/listen.after" | tr '\n' ' ')
if [ -z "$still" ]; then ok "no server of the run left listening"; else
	fail "still listening: $still"; fi
finish
