#!/bin/sh
# crl.sh - anvil-crl: issue two certificates with certbot through lighttpd,
# revoke one with a reason, run anvil-crl while the server serves, check
# the CRL with certtool (signature, serial) and openssl (reason), run it
# again and see the number grow; a second anvil-crl at the same time and
# bad input fail cleanly; planted symlinks in the served folder are never
# followed and the lock lives in data_dir.
. "$(dirname "$0")/lib.sh"
BASEPORT=29000
. "$(dirname "$0")/server.sh"
CRL="$top_builddir/anvil-crl"
start_servers

CB="$T/certbot"
certbot_run() {
	REQUESTS_CA_BUNDLE="$CA_PEM" timeout 180 certbot --non-interactive \
	    --server "$DIR_URL" --config-dir "$CB" --work-dir "$CB" \
	    --logs-dir "$CB" --agree-tos -m ops@example.org "$@"
}
for n in one two; do
	expect_exit 0 "certbot issues $n" certbot_run certonly --standalone \
	    --http-01-address 127.0.0.1 --http-01-port "$HTTP01_PORT" \
	    -d "$n.crl.example.test" --cert-name "$n"
done
s1=$(cert_serial "$CB/live/one/cert.pem")
s2=$(cert_serial "$CB/live/two/cert.pem")
expect_exit 0 "certbot revokes one (superseded)" certbot_run revoke \
    --cert-path "$CB/live/one/cert.pem" --reason superseded --no-delete-after-revoke

out="$T/pub"
expect_exit 0 "anvil-crl writes the CRL" "$CRL" --config "$CONF" --out "$out"
expect_out "CRL 1 written to $out/anvil.crl" "first CRL is number 1"
for f in anvil.crl anvil.crl.pem ca.crt ca.pem; do
	[ -s "$out/$f" ] && ok "$f published" || fail "$f missing"
done
certtool --verify-crl --load-ca-certificate "$CA_PEM" --infile "$out/anvil.crl.pem" \
    >"$T/v" 2>&1 && ok "certtool --verify-crl: signature verifies" || { fail "CRL does not verify"; cat "$T/v"; }
certtool --crl-info --infile "$out/anvil.crl.pem" >"$T/info" 2>&1
up1=$(echo "$s1" | tr a-f A-F); up2=$(echo "$s2" | tr a-f A-F)
grep -qi "Serial Number (hex): $s1" "$T/info" && ok "revoked serial listed" || fail "serial $s1 not in CRL"
grep -qi "Serial Number (hex): $s2" "$T/info" && fail "unrevoked serial listed" || ok "unrevoked serial absent"
grep -q "CRL Number (not critical): 01" "$T/info" && ok "certtool reads CRL number 1" || fail "CRL number: $(grep -i number "$T/info")"
openssl crl -inform DER -in "$out/anvil.crl" -noout -text >"$T/o" 2>&1
grep -A4 "Serial Number: $up1" "$T/o" | grep -q "Superseded" && ok "reason superseded in the entry" ||
    { fail "reason missing"; cat "$T/o"; }
cmp -s "$out/ca.pem" "$CA_PEM" && ok "CA certificate published" || fail "ca.pem differs"

expect_exit 0 "anvil-crl again" "$CRL" --config "$CONF" --out "$out"
expect_out "CRL 2 written" "number grows to 2"
certtool --crl-info --infile "$out/anvil.crl.pem" 2>/dev/null | grep -q "CRL Number (not critical): 02" &&
    ok "published CRL is number 2" || fail "published number not 2"

# Two at once: both succeed, numbers 3 and 4, the file holds 4.
"$CRL" --config "$CONF" --out "$out" >"$T/a" 2>&1 & pa=$!
"$CRL" --config "$CONF" --out "$out" >"$T/b" 2>&1 & pb=$!
wait $pa; ra=$?; wait $pb; rb=$?
[ $ra -eq 0 ] && [ $rb -eq 0 ] && ok "two concurrent runs succeed" || fail "concurrent runs: $ra $rb"
cat "$T/a" "$T/b" | grep -q "CRL 3 written" && cat "$T/a" "$T/b" | grep -q "CRL 4 written" &&
    ok "concurrent runs got 3 and 4" || fail "concurrent numbers: $(cat "$T/a" "$T/b")"
certtool --crl-info --infile "$out/anvil.crl.pem" 2>/dev/null | grep -q "CRL Number (not critical): 04" &&
    ok "the newest CRL is the one published" || fail "published CRL is not number 4"

# Whoever can write the served folder plants
# symlinks at the lock name of earlier versions and at every published
# name. anvil-crl never follows one: the victims keep their bytes, the
# dangling one is never created, the published files are plain files,
# no lock and no temporary file is left in the folder.
pub3="$T/pub3"; mkdir -p "$pub3"
printf 'victim\n' >"$T/victim"; cp "$T/victim" "$T/victim.orig"
ln -s "$T/victim-new" "$pub3/.anvil-crl.lock"
for f in anvil.crl anvil.crl.pem ca.crt ca.pem; do
	ln -s "$T/victim" "$pub3/$f"
done
expect_exit 0 "anvil-crl into a folder with planted symlinks" "$CRL" \
    --config "$CONF" --out "$pub3"
expect_out "CRL 5 written" "planted symlinks: number 5"
cmp -s "$T/victim" "$T/victim.orig" && ok "planted symlinks: the victim is unchanged" ||
    fail "planted symlinks: the victim was written through"
[ ! -e "$T/victim-new" ] && [ ! -L "$T/victim-new" ] &&
    ok "old lock name: the dangling symlink's target was not created" ||
    fail "old lock name: $T/victim-new created through the symlink"
[ ! -e "$pub3/.anvil-crl.lock" ] && [ ! -L "$pub3/.anvil-crl.lock" ] &&
    ok "no lock file left in the publish folder" ||
    fail "lock file in the publish folder: $(ls -la "$pub3")"
for f in anvil.crl anvil.crl.pem ca.crt ca.pem; do
	[ -f "$pub3/$f" ] && [ ! -L "$pub3/$f" ] && ok "planted symlinks: $f is a plain file" ||
	    fail "planted symlinks: $f is $(ls -la "$pub3/$f")"
done
left=$(find "$pub3" -name '*.tmp-*' | wc -l)
[ "$left" -eq 0 ] && ok "no temporary file left in the publish folder" ||
    fail "$left temporary file(s) left: $(ls -la "$pub3")"
certtool --verify-crl --load-ca-certificate "$CA_PEM" --infile "$pub3/anvil.crl.pem" \
    >"$T/v" 2>&1 && ok "planted symlinks: the CRL published verifies" || fail "planted symlinks: CRL does not verify"
[ -f "$DATA/anvil-crl.lock" ] && [ ! -L "$DATA/anvil-crl.lock" ] &&
    [ "$(stat -c %a "$DATA/anvil-crl.lock")" = 600 ] &&
    ok "the lock is data_dir/anvil-crl.lock, mode 0600" ||
    fail "no data_dir/anvil-crl.lock 0600: $(ls -la "$DATA/anvil-crl.lock" 2>&1)"
for d in "$out" "$pub3"; do
	[ ! -e "$d/.anvil-crl.lock" ] || fail "$d/.anvil-crl.lock exists"
done

# Two at once into two folders: the lock is the store's, not the folder's,
# so they take turns on the store's number (6 and 7), each folder holding
# the number its run printed.
"$CRL" --config "$CONF" --out "$out" >"$T/a" 2>&1 & pa=$!
"$CRL" --config "$CONF" --out "$pub3" >"$T/b" 2>&1 & pb=$!
wait $pa; ra=$?; wait $pb; rb=$?
[ $ra -eq 0 ] && [ $rb -eq 0 ] && ok "two concurrent runs, two folders succeed" ||
    fail "concurrent runs, two folders: $ra $rb"
cat "$T/a" "$T/b" | grep -q "CRL 6 written" && cat "$T/a" "$T/b" | grep -q "CRL 7 written" &&
    ok "two folders: the runs got 6 and 7" || fail "two folders: numbers $(cat "$T/a" "$T/b")"
for pair in "a:$out" "b:$pub3"; do
	n=$(sed -n 's/^CRL \([0-9]*\) written.*/\1/p' "$T/${pair%%:*}")
	certtool --crl-info --infile "${pair#*:}/anvil.crl.pem" 2>/dev/null |
	    grep -q "CRL Number (not critical): 0$n\$" &&
	    ok "two folders: ${pair#*:} holds CRL $n" ||
	    fail "two folders: ${pair#*:} does not hold CRL $n"
done

# The lock is really taken: while something holds data_dir/anvil-crl.lock
# a run waits, and goes on once it is released.
flock "$DATA/anvil-crl.lock" sleep 3 & holder=$!
i=0
while flock -n "$DATA/anvil-crl.lock" true && [ $i -lt 50 ]; do
	sleep 0.1; i=$((i + 1))
done
"$CRL" --config "$CONF" --out "$T/pub4" >"$T/c" 2>&1 & pc=$!
sleep 1
kill -0 $pc 2>/dev/null && ok "a run waits while the store's CRL lock is held" ||
    fail "a run did not wait for data_dir/anvil-crl.lock: $(cat "$T/c")"
wait $holder; wait $pc; rc=$?
[ $rc -eq 0 ] && grep -q "CRL 8 written" "$T/c" && ok "the waiting run goes on once released (CRL 8)" ||
    fail "after the lock: exit $rc, $(cat "$T/c")"

# Default folder from the config.
expect_exit 0 "anvil-crl into [issuance] crl_dir" "$CRL" --config "$CONF" --quiet
[ -s "$DATA/crl/anvil.crl" ] && ok "crl_dir default under data_dir" || fail "no $DATA/crl/anvil.crl"

expect_exit 3 "missing config refused" "$CRL" --config "$T/nope.conf"
expect_out "$T/nope.conf" "missing config named"
expect_exit 2 "bad option refused" "$CRL" --bogus
mkdir -p "$T/ro"; touch "$T/ro/file"
expect_exit 1 "unwritable folder refused" "$CRL" --config "$CONF" --out "$T/ro/file/sub"
finish
