# lib.sh - sourced by the integration tests: a temp folder, assertions.
set -u
: "${top_builddir:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${top_srcdir:=$top_builddir}"
T=$(mktemp -d "${TMPDIR:-/tmp}/anvil-it-XXXXXX")
trap '[ -n "${ANVIL_KEEP:-}" ] || rm -rf "$T"' EXIT
ADMIN="$top_builddir/anvil-admin"
failures=0

fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
ok() { echo "ok: $*"; }

# expect_exit CODE DESC CMD...: runs CMD, output to $T/out; checks the code.
expect_exit() {
	want=$1; desc=$2; shift 2
	"$@" >"$T/out" 2>&1
	got=$?
	if [ "$got" -eq "$want" ]; then ok "$desc (exit $got)"; else
		fail "$desc: exit $got, wanted $want"; sed 's/^/    /' "$T/out"; fi
}

# expect_out TEXT DESC: the last command's output contains TEXT.
expect_out() {
	if grep -qF -- "$1" "$T/out"; then ok "$2"; else
		fail "$2: output lacks \"$1\""; sed 's/^/    /' "$T/out"; fi
}

finish() {
	if [ "$failures" -ne 0 ]; then echo "$failures failure(s)"; exit 1; fi
	exit 0
}
