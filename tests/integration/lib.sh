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

# cert_serial FILE: the serial of the first certificate in FILE.
cert_serial() {
	certtool -i --infile "$1" 2>/dev/null | sed -n 's/.*Serial Number (hex): //p' | head -1
}

# cert_id FILE: the RFC 9773 §4.1 certID of the first certificate in FILE,
# base64url(AKI keyIdentifier) "." base64url(serial content octets).
cert_id() {
	certtool -i --infile "$1" 2>/dev/null | /usr/bin/python3 -c 'import base64,re,sys
t = sys.stdin.read()
ser = re.search(r"Serial Number \(hex\): ([0-9a-fA-F]+)", t).group(1)
aki = re.search(r"Authority Key Identifier[^\n]*\n\s*([0-9a-fA-F]+)", t).group(1)
b = lambda h: base64.urlsafe_b64encode(bytes.fromhex(h)).decode().rstrip("=")
print(b(aki) + "." + b(ser))'
}
