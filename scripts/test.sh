#!/bin/sh
# test.sh - README command 2: install what is missing, build, and run the
# whole suite (unit tests, integration tests, then make distcheck), ending
# with one line "tests: N passed, N failed".
set -u
cd "$(dirname "$0")/.."

status=0
sh scripts/build.sh || { echo "tests: 0 passed, 1 failed (build)"; exit 1; }

make -j"$(nproc)" check
check_rc=$?
if [ $check_rc -ne 0 ]; then
	status=1
	# Show what failed: each failing test's log.
	for trs in $(find tests -name '*.trs'); do
		if grep -q '^:test-result: \(FAIL\|ERROR\)' "$trs"; then
			log="${trs%.trs}.log"
			echo "===== $log"
			tail -n 80 "$log"
		fi
	done
fi
pass=$(cat $(find tests -name '*.trs') /dev/null | grep -c '^:test-result: PASS')
fail=$(cat $(find tests -name '*.trs') /dev/null | grep -c '^:test-result: \(FAIL\|ERROR\|XPASS\)')
skip=$(cat $(find tests -name '*.trs') /dev/null | grep -c '^:test-result: SKIP')

if [ "${ANVIL_SKIP_DISTCHECK:-}" != 1 ] && [ $status -eq 0 ]; then
	if make distcheck DISTCHECK_CONFIGURE_FLAGS=--enable-werror \
	    ANVIL_IN_DISTCHECK=1 >distcheck.log 2>&1; then
		echo "distcheck: passed"
		pass=$((pass + 1))
	else
		tail -n 60 distcheck.log
		echo "distcheck: FAILED (see distcheck.log)"
		fail=$((fail + 1))
		status=1
	fi
fi
echo "tests: $pass passed, $fail failed, $skip skipped"
exit $status
