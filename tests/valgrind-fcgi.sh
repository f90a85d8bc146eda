#!/bin/sh
# valgrind-fcgi.sh - the anvil FastCGI program under valgrind memcheck
# behind lighttpd: lighttpd/anvil-fastcgi.conf as shipped, its bin-path a
# wrapper that execs valgrind --leak-check=full on the program; FLOWS full
# issuance flows (default 50, about 300 requests) by the races.py client;
# lighttpd stopped gracefully (SIGTERM, which it passes on to the
# workers); then every valgrind log must show no error, no "definitely
# lost" and no invalid read or write. tests/valgrind.supp holds the known
# Berkeley DB false positives. Run from the build tree or with
# top_builddir/top_srcdir set; not in the default suite (about a minute).
: "${top_builddir:=$(cd "$(dirname "$0")/.." && pwd)}"
. "$(dirname "$0")/integration/lib.sh"
BASEPORT=18000
. "$(dirname "$0")/integration/server.sh"
command -v valgrind >/dev/null || { echo "SKIP: valgrind missing"; exit 77; }
# An ASan build (configure --enable-sanitizers) cannot run under valgrind.
if nm "$top_builddir/anvil" 2>/dev/null | grep -q __asan_init; then
	echo "SKIP: anvil is built with AddressSanitizer"; exit 77
fi
VG="$T/vg"
mkdir -p "$VG"
cat >"$VG/anvil" <<EOW
#!/bin/sh
exec valgrind --leak-check=full --error-exitcode=1 --errors-for-leak-kinds=definite \\
    --suppressions="$top_srcdir/tests/valgrind.supp" \\
    --log-file="$VG/valgrind.%p.log" "$top_builddir/anvil" "\$@"
EOW
chmod +x "$VG/anvil"
# run-lighttpd.sh sets var.anvil_program to \$ANVIL_BUILDDIR/anvil: the wrapper.
real_builddir=$top_builddir
top_builddir=$VG
start_servers
top_builddir=$real_builddir

DIR_URL="$DIR_URL" CA_PEM="$CA_PEM" HTTP01_PORT="$HTTP01_PORT" DATA="$DATA" \
    FLOWS="${FLOWS:-50}" timeout 600 /usr/bin/python3 - "$top_srcdir/tests/integration" <<'EOP'
import os, sys
sys.dont_write_bytecode = True
sys.path.insert(0, sys.argv[1])
import races
resp = races.Responder()
cl = races.Acme()
flows = int(os.environ["FLOWS"])
for i in range(flows):
    races.full_flow(cl, ["vg%d.valgrind.test" % i], resp)
print("figure: valgrind_flows = %d" % flows)
print("figure: valgrind_requests = %d" % races.STATS.get("requests"))
EOP
[ $? -eq 0 ] && ok "full flows under valgrind" || fail "flows under valgrind"

lp=$(cat "$DATA/lighttpd/lighttpd.pid")
kill "$lp"
n=0
while [ $n -lt 300 ] && { kill -0 "$lp" 2>/dev/null || pgrep -f "$VG/valgrind" >/dev/null; }; do
	sleep 0.1; n=$((n + 1))
done
logs=$(ls "$VG"/valgrind.*.log 2>/dev/null)
[ -n "$logs" ] && ok "valgrind logs: $(echo $logs | wc -w) worker(s)" || fail "no valgrind log"
for l in $logs; do
	grep -q "ERROR SUMMARY: 0 errors" "$l" && ok "$(basename "$l"): 0 errors" ||
	    { fail "$(basename "$l"): errors"; cat "$l"; }
	grep -q "definitely lost: [1-9]" "$l" && { fail "$(basename "$l"): definitely lost"; cat "$l"; }
	grep -q "Invalid \(read\|write\|free\)" "$l" && { fail "$(basename "$l"): invalid access"; cat "$l"; }
	grep -q "HEAP SUMMARY" "$l" || { fail "$(basename "$l"): no leak check ran"; tail -20 "$l"; }
done
finish
