#!/bin/sh
# crl_shards.sh - sharded CRLs (issue 20 part 2) through lighttpd (Apache
# in crl_shards-apache.sh) and the shipped publish config, [crl] shards =
# 4: certificates issued by certbot
# name their shard (serial modulo 4, plus one) in CRLDistributionPoints;
# anvil-crl writes each shard's CRL, served at that URL; openssl verify
# -crl_check passes with the right shard and fails with a wrong one,
# certtool --verify-crl verifies each; a revoked certificate is in
# exactly its shard and in the full CRL; each shard's CRLNumber strictly
# increases across runs, also after anvil-crl is killed with SIGKILL
# mid-run, and every file is whole after each kill.
. "$(dirname "$0")/lib.sh"
: "${BASEPORT:=13000}"
EXTRA_CONF="[crl]
shards = 4"
. "$(dirname "$0")/server.sh"
CRL="$top_builddir/anvil-crl"
start_servers
PUB="$DATA/crl"
URLBASE="http://127.0.0.1:$PUBLISH_PORT/crl"

CB="$T/certbot"
certbot_run() {
	REQUESTS_CA_BUNDLE="$CA_PEM" timeout 180 certbot --non-interactive \
	    --server "$DIR_URL" --config-dir "$CB" --work-dir "$CB" \
	    --logs-dir "$CB" --agree-tos -m ops@example.org "$@"
}

# crldp FILE: the certificate's CRL distribution point URI.
crldp() {
	openssl x509 -in "$1" -noout -ext crlDistributionPoints 2>/dev/null |
	    sed -n 's/^ *URI://p'
}

# shard_of SERIALHEX: the serial modulo 4, plus one.
shard_of() {
	/usr/bin/python3 -c 'import sys; print(int(sys.argv[1], 16) % 4 + 1)' "$1"
}

# crlnum FILE: a CRL's CRLNumber in decimal, empty if it does not parse.
crlnum() {
	n=$(openssl crl -in "$1" -noout -crlnumber 2>/dev/null | sed -n 's/^crlNumber=0x//p')
	[ -n "$n" ] && printf '%d\n' "0x$n"
}

# in_crl FILE SERIALHEX: the CRL lists the serial.
in_crl() {
	certtool --crl-info --infile "$1" 2>/dev/null |
	    grep -qi "Serial Number (hex): $2\$"
}

# Issue until two shards are in use (at least three certificates, at
# most ten: all ten in one shard has odds 4^-9).
names=""; shards_seen=""; i=0
while [ $i -lt 10 ]; do
	i=$((i + 1))
	expect_exit 0 "certbot issues c$i" certbot_run certonly --standalone \
	    --http-01-address 127.0.0.1 --http-01-port "$HTTP01_PORT" \
	    -d "c$i.shard.example.test" --cert-name "c$i"
	f="$CB/live/c$i/cert.pem"
	[ -s "$f" ] || break
	s=$(cert_serial "$f"); k=$(shard_of "$s")
	names="$names c$i"
	eval "serial_c$i=$s shard_c$i=$k"
	[ "$(crldp "$f")" = "$URLBASE/anvil-s$k.crl" ] &&
	    ok "c$i (serial $s) names shard $k in its CRLDP" ||
	    fail "c$i: CRLDP $(crldp "$f"), wanted $URLBASE/anvil-s$k.crl"
	case " $shards_seen " in *" $k "*) ;; *) shards_seen="$shards_seen $k" ;; esac
	[ $i -ge 3 ] && [ "$(echo $shards_seen | wc -w)" -ge 2 ] && break
done
[ "$(echo $shards_seen | wc -w)" -ge 2 ] && ok "certificates in shards$shards_seen" ||
    { fail "all certificates in one shard:$shards_seen"; finish; }

# Revoke c1, and one certificate of another shard; keep the rest.
rev1=c1; rev2=""
for n in $names; do
	eval "k=\$shard_$n"
	[ "$k" != "$shard_c1" ] && { rev2=$n; break; }
done
for n in $rev1 $rev2; do
	expect_exit 0 "certbot revokes $n" certbot_run revoke \
	    --cert-path "$CB/live/$n/cert.pem" --reason keycompromise --no-delete-after-revoke
done

expect_exit 0 "anvil-crl writes the shards" "$CRL" --config "$CONF"
expect_out "CRL 1 written to $PUB/anvil.crl" "the full CRL is number 1"
expect_out "CRL shards 1 to 4 written to $PUB" "anvil-crl names the shards it wrote"
for k in 1 2 3 4; do
	for f in "anvil-s$k.crl" "anvil-s$k.crl.pem"; do
		[ -f "$PUB/$f" ] && ok "$f written" || fail "$f missing"
	done
	certtool --verify-crl --load-ca-certificate "$CA_PEM" \
	    --infile "$PUB/anvil-s$k.crl.pem" >"$T/v" 2>&1 &&
	    ok "certtool --verify-crl: shard $k verifies" ||
	    { fail "shard $k does not verify"; cat "$T/v"; }
	openssl crl -in "$PUB/anvil-s$k.crl.pem" -noout -text >"$T/t" 2>&1
	grep -A2 "Issuing Distribution Point: critical" "$T/t" |
	    grep -q "URI:$URLBASE/anvil-s$k.crl" &&
	    ok "shard $k: critical IDP names its URL" ||
	    { fail "shard $k: IDP"; cat "$T/t"; }
	[ "$(crlnum "$PUB/anvil-s$k.crl.pem")" = 1 ] && ok "shard $k is CRL number 1" ||
	    fail "shard $k number $(crlnum "$PUB/anvil-s$k.crl.pem")"
	# The shipped publish config serves the shard at the certificates' URL.
	curl -s --max-time 10 -o "$T/got.crl" "$URLBASE/anvil-s$k.crl" &&
	    cmp -s "$T/got.crl" "$PUB/anvil-s$k.crl" &&
	    ok "${ANVIL_WEB:-lighttpd} serves shard $k at $URLBASE/anvil-s$k.crl" ||
	    fail "shard $k not served at its URL"
done
openssl crl -in "$PUB/anvil.crl.pem" -noout -text 2>/dev/null |
    grep -q "Issuing Distribution Point" && fail "the full CRL has an IDP" ||
    ok "the full CRL has no IDP"

# A revoked certificate is in exactly its shard, and in the full CRL.
for n in $rev1 $rev2; do
	eval "s=\$serial_$n k=\$shard_$n"
	in_crl "$PUB/anvil.crl.pem" "$s" && ok "$n in the full CRL" || fail "$n not in the full CRL"
	for j in 1 2 3 4; do
		if [ "$j" = "$k" ]; then
			in_crl "$PUB/anvil-s$j.crl.pem" "$s" && ok "$n in its shard $j" ||
			    fail "$n not in its shard $j"
		else
			in_crl "$PUB/anvil-s$j.crl.pem" "$s" && fail "$n also in shard $j" ||
			    ok "$n not in shard $j"
		fi
	done
done

# openssl verify -crl_check: the right shard decides, a wrong one is out
# of scope (its IDP is not the certificate's CRLDP) and never passes.
for n in $names; do
	eval "s=\$serial_$n k=\$shard_$n"
	w=$((k % 4 + 1))
	case " $rev1 $rev2 " in *" $n "*) revoked=1 ;; *) revoked=0 ;; esac
	openssl verify -crl_check -CAfile "$CA_PEM" -CRLfile "$PUB/anvil-s$k.crl.pem" \
	    "$CB/live/$n/cert.pem" >"$T/ov" 2>&1; rc=$?
	if [ $revoked = 1 ]; then
		[ $rc -ne 0 ] && grep -q "certificate revoked" "$T/ov" &&
		    ok "openssl: revoked $n is revoked by shard $k" ||
		    { fail "openssl: revoked $n with shard $k: exit $rc"; cat "$T/ov"; }
	else
		[ $rc -eq 0 ] && ok "openssl: $n verifies with its shard $k" ||
		    { fail "openssl: $n with its shard $k: exit $rc"; cat "$T/ov"; }
	fi
	openssl verify -crl_check -CAfile "$CA_PEM" -CRLfile "$PUB/anvil-s$w.crl.pem" \
	    "$CB/live/$n/cert.pem" >"$T/ov" 2>&1; rc=$?
	[ $rc -ne 0 ] && grep -q "different CRL scope" "$T/ov" &&
	    ok "openssl: $n with the wrong shard $w fails (different CRL scope)" ||
	    { fail "openssl: $n with wrong shard $w: exit $rc"; cat "$T/ov"; }
done

# CRLNumber strictly increases per shard across runs.
prev=""
for k in 1 2 3 4; do prev="$prev $(crlnum "$PUB/anvil-s$k.crl.pem")"; done
grows() {	# grows DESC: every shard's number above the one in $prev
	set -- "$1" $prev
	d=$1; shift
	for k in 1 2 3 4; do
		n=$(crlnum "$PUB/anvil-s$k.crl.pem")
		[ -n "$n" ] && [ "$n" -gt "$1" ] && ok "$d: shard $k number $1 -> $n" ||
		    fail "$d: shard $k number $1 -> ${n:-unreadable}"
		shift
	done
	prev=""
	for k in 1 2 3 4; do prev="$prev $(crlnum "$PUB/anvil-s$k.crl.pem")"; done
}
expect_exit 0 "anvil-crl again" "$CRL" --config "$CONF" --quiet
grows "second run"

# SIGKILL at several points of a run: every file stays whole (old or
# new, it verifies), and the next run's numbers are above all before.
killed=0
for d in 0 0.01 0.02 0.04 0.07 0.1 0.15 0.2 0.3 0.5; do
	"$CRL" --config "$CONF" --quiet >/dev/null 2>&1 & p=$!
	sleep $d
	kill -9 $p 2>/dev/null && killed=$((killed + 1))
	wait $p 2>/dev/null
	for f in anvil.crl.pem anvil-s1.crl.pem anvil-s2.crl.pem anvil-s3.crl.pem anvil-s4.crl.pem; do
		certtool --verify-crl --load-ca-certificate "$CA_PEM" \
		    --infile "$PUB/$f" >/dev/null 2>&1 ||
		    fail "after SIGKILL at ${d}s: $f is not a whole CRL"
	done
	left=$(find "$PUB" -name '*.crl' -o -name '*.crl.pem' | wc -l)
	[ "$left" -ge 10 ] || fail "after SIGKILL at ${d}s: $left CRL files"
done
[ $killed -ge 1 ] && ok "$killed runs killed with SIGKILL mid-run, files whole" ||
    fail "no run was still going when killed"
expect_exit 0 "anvil-crl after the kills" "$CRL" --config "$CONF" --quiet
grows "after SIGKILL"
leftover=$(find "$PUB" -name '*.tmp-*' | wc -l)
[ "$leftover" -eq 0 ] && ok "a clean run removes the killed runs' temporary files" ||
    fail "$leftover temporary files left"

# Lowered to 2 shards: the four URLs certificates carry keep a fresh CRL.
sed -i 's/^shards = 4$/shards = 2/' "$CONF"
expect_exit 0 "anvil-crl with shards lowered to 2" "$CRL" --config "$CONF"
expect_out "CRL shards 1 to 4 written" "all four shards still written"
grows "shards lowered"

# After anvil-admin ca rollover (issue 20 part 3), still sharded: a new
# certificate names its own generation's shard, anvil-g2-s<k>.crl, which
# generation 2's key signs with its own critical IDP and CRL number;
# generation 1's shards keep being signed for the certificates before.
expect_exit 0 "anvil-admin ca rollover" "$ADMIN" --config "$CONF" ca rollover
expect_exit 0 "certbot issues g2 from generation 2" certbot_run certonly --standalone \
    --http-01-address 127.0.0.1 --http-01-port "$HTTP01_PORT" \
    -d "g2.shard.example.test" --cert-name g2
f="$CB/live/g2/cert.pem"
s=$(cert_serial "$f")
k=$(shard_of "$s")	# the running server still has shards = 4
g2k=$k
[ "$(crldp "$f")" = "$URLBASE/anvil-g2-s$k.crl" ] &&
    ok "g2 names generation 2's shard $k" ||
    fail "g2: CRLDP $(crldp "$f"), wanted $URLBASE/anvil-g2-s$k.crl"
expect_exit 0 "certbot revokes g2" certbot_run revoke --cert-path "$f" \
    --reason keycompromise --no-delete-after-revoke
expect_exit 0 "anvil-crl after the rollover" "$CRL" --config "$CONF"
expect_out "CRL 1 of CA generation 2 written to $PUB/anvil-g2.crl" "generation 2's full CRL"
g2="$PUB/anvil-g2-s$k.crl.pem"
certtool --verify-crl --load-ca-certificate "$DATA/ca-g2.pem" --infile "$g2" >"$T/v" 2>&1 &&
    ok "anvil-g2-s$k.crl verifies with generation 2's certificate" ||
    { fail "anvil-g2-s$k.crl does not verify"; cat "$T/v"; }
openssl crl -in "$g2" -noout -text 2>/dev/null | grep -A2 "Issuing Distribution Point: critical" |
    grep -q "URI:$URLBASE/anvil-g2-s$k.crl" && ok "its critical IDP names its URL" ||
    fail "anvil-g2-s$k.crl: IDP"
in_crl "$g2" "$s" && ok "g2 is in its generation's shard" || fail "g2 not in anvil-g2-s$k.crl"
in_crl "$PUB/anvil-s$k.crl.pem" "$s" && fail "g2 in generation 1's shard" ||
    ok "g2 is not in generation 1's shard $k"
openssl verify -crl_check -CAfile "$DATA/ca-g2.pem" -CRLfile "$g2" "$f" >"$T/ov" 2>&1
grep -q "certificate revoked" "$T/ov" && ok "openssl: g2 is revoked by its shard" ||
    { fail "openssl verify g2"; cat "$T/ov"; }
curl -s --max-time 10 -o "$T/got.crl" "$URLBASE/anvil-g2-s$k.crl" &&
    cmp -s "$T/got.crl" "$PUB/anvil-g2-s$k.crl" &&
    ok "generation 2's shard is served at its URL" || fail "anvil-g2-s$k.crl not served"
grows "after the rollover"

# db export carries every CRL counter (generations and shards), so that a
# store moved by db import (issue 23) goes on numbering each CRL upward.
expect_exit 0 "db export" "$ADMIN" --config "$CONF" db export "$T/s.exp"
for c in crl_number crl.g2 crl.g1.s1 crl.g1.s4 "crl.g2.s$g2k"; do
	grep -q "\"counter\": *\"$c\"" "$T/s.exp" && ok "the export holds counter $c" ||
	    fail "no counter $c in the export"
done
mkdir -m 700 "$T/moved"
cp "$DATA"/ca*.pem "$DATA"/ca*.key "$DATA/cas.json" "$T/moved/"
sed "s|^data_dir = .*|data_dir = $T/moved|" "$CONF" >"$T/moved.conf"
expect_exit 0 "init of the new store" "$ADMIN" --config "$T/moved.conf" init
expect_exit 0 "db import" "$ADMIN" --config "$T/moved.conf" db import "$T/s.exp"
expect_exit 0 "db export of the copy" "$ADMIN" --config "$T/moved.conf" db export "$T/m.exp"
cmp -s "$T/s.exp" "$T/m.exp" && ok "the copy exports the same records and counters" ||
    fail "exports differ: $(diff "$T/s.exp" "$T/m.exp" | head -4)"
finish
