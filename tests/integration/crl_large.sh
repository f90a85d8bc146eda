#!/bin/sh
# crl_large.sh - anvil-crl over a store larger than one transaction can
# lock: 60 000 expired certificates beside a few live and revoked ones.
# Its OCSP pre-sign pass walks every certificate record; holding each
# page's read lock to the end ran Berkeley DB's lock table out past some
# 50 000 records (BDB2055) and anvil-crl failed after writing the CRL.
# The store is filled by bench/bulkcerts (the shipped record and store
# code), which is not distributed: skipped in a tree made by make dist.
. "$(dirname "$0")/lib.sh"
bench="$top_srcdir/bench"
if [ ! -f "$bench/bulkcerts.c" ] || [ ! -x "$top_builddir/anvil-crl" ]; then
	echo "SKIP: no bench/ or no anvil-crl built in $top_srcdir (a dist tree)"
	exit 77
fi
CRL="$top_builddir/anvil-crl"
make -s -C "$bench" bulkcerts >"$T/make.log" 2>&1 ||
    { fail "make -C bench bulkcerts"; sed 's/^/    /' "$T/make.log"; finish; }
mkdir -m 700 "$T/data"
CONF="$T/data/anvil.conf"
printf '[server]\nbase_url = https://127.0.0.1:1/acme\ndata_dir = %s\n[issuance]\ncrl_dir = %s\n' \
    "$T/data" "$T/pub" >"$CONF"
"$ADMIN" --config "$CONF" init >"$T/out" 2>&1 || { fail "init"; cat "$T/out"; finish; }
BULKCERTS_EXPIRED=1 "$bench/bulkcerts" "$T/data" 60000 "$T/data/ca.pem" >/dev/null &&
    "$bench/bulkcerts" "$T/data" 40 "$T/data/ca.pem" >/dev/null &&
    BULKCERTS_REVOKED=1 "$bench/bulkcerts" "$T/data" 10 "$T/data/ca.pem" >/dev/null &&
    ok "store filled: 60 000 expired, 40 live, 10 revoked" || { fail "bulkcerts"; finish; }

expect_exit 0 "anvil-crl over 60 050 certificates" timeout -k 5 600 "$CRL" --config "$CONF"
# Two answers (SHA-1, SHA-256 CertID) for each of the 50 unexpired; the
# 10 revoked this second may be signed again by the recheck pass.
n=$(sed -n 's/^OCSP: \([0-9]*\) answers pre-signed.*/\1/p' "$T/out")
[ "${n:-0}" -ge 100 ] && [ "$n" -le 120 ] &&
    ok "OCSP: $n answers for the 50 unexpired, none for the expired" ||
    { fail "OCSP: ${n:-no} answers, not 100 to 120"; sed 's/^/    /' "$T/out"; }
grep -q "BDB2055\|lock table" "$T/out" && fail "lock table ran out" ||
    ok "no lock-table error"
n=$(openssl crl -inform DER -in "$T/pub/anvil.crl" -noout -text 2>/dev/null |
    grep -c "Serial Number:")
[ "$n" = 10 ] && ok "the CRL lists the 10 revoked" || fail "the CRL lists $n, not 10"
expect_exit 0 "anvil-admin sweep over the same store" "$ADMIN" --config "$CONF" sweep
finish
