#!/bin/sh
# hardening.sh - the programs as built carry the protections configure
# found (configure.ac, "hardening"): a position-independent executable,
# RELRO with immediate binding, a non-executable stack, the stack
# protector, _FORTIFY_SOURCE's checked calls, and CET (-fcf-protection)
# in every object of ours. Read with readelf (binutils, which gcc needs),
# so the check needs no hardening-check package.
#
# On x86_64 with gcc every flag must have been found: a compiler upgrade
# that made a probe fail would otherwise drop a protection in silence.
# What the flags cannot show in a binary (-fstack-clash-protection leaves
# no marker) is checked in the Makefile only.
. "$(dirname "$0")/lib.sh"

mk="$top_builddir/Makefile"
var() { sed -n "s/^$1 = *//p" "$mk"; }
harden_cflags=$(var HARDEN_CFLAGS)
harden_cppflags=$(var HARDEN_CPPFLAGS)
harden_ldflags=$(var HARDEN_LDFLAGS)
warn_cflags=$(var WARN_CFLAGS)
san_ldflags=$(var SAN_LDFLAGS)
cflags=$(var CFLAGS)
cc=$(var CC)
has() { case " $1 " in *" $2 "*) return 0 ;; esac; return 1; }

# What configure chose, where the platform is known to offer it all.
case "$(uname -m)" in
x86_64)
	if "$cc" --version 2>/dev/null | grep -qi "gcc\|free software"; then
		for f in -fstack-clash-protection -fcf-protection -fPIE; do
			has "$harden_cflags" "$f" && ok "configure: $f" ||
			    fail "configure dropped $f (HARDEN_CFLAGS=$harden_cflags)"
		done
		for f in -pie -Wl,-z,relro -Wl,-z,now; do
			has "$harden_ldflags" "$f" && ok "configure: $f" ||
			    fail "configure dropped $f (HARDEN_LDFLAGS=$harden_ldflags)"
		done
		has "$warn_cflags" -fstack-protector-strong &&
		    ok "configure: -fstack-protector-strong" ||
		    fail "configure dropped -fstack-protector-strong"
		# Fortify needs optimisation and stays off with the sanitizers
		# or when the builder set it in CPPFLAGS/CFLAGS.
		case " $cflags $(var CPPFLAGS) " in
		*_FORTIFY_SOURCE*) ok "configure: _FORTIFY_SOURCE from the builder" ;;
		*" -O0 "*) ok "configure: no _FORTIFY_SOURCE at -O0" ;;
		*" -O"[123s]*|*" -Og "*)
			if [ -n "$san_ldflags" ]; then
				[ -z "$harden_cppflags" ] &&
				    ok "configure: no _FORTIFY_SOURCE with the sanitizers" ||
				    fail "_FORTIFY_SOURCE with the sanitizers"
			else
				case $harden_cppflags in
				*-D_FORTIFY_SOURCE=[23]*) ok "configure: $harden_cppflags" ;;
				*) fail "configure dropped _FORTIFY_SOURCE (CFLAGS=$cflags)" ;;
				esac
			fi ;;
		esac
	fi ;;
esac

for prog in anvil anvil-admin anvil-crl; do
	b="$top_builddir/$prog"
	[ -x "$b" ] || { fail "$prog not built"; continue; }
	readelf -hW "$b" >"$T/h" 2>&1 || { fail "$prog: readelf -h"; continue; }
	readelf -lW "$b" >"$T/l" 2>&1
	readelf -dW "$b" >"$T/d" 2>&1
	readelf -sW --dyn-syms "$b" >"$T/s" 2>&1

	if has "$harden_ldflags" -pie; then
		grep -q "Type:[[:space:]]*DYN" "$T/h" && grep -q "^ *INTERP " "$T/l" &&
		    ok "$prog: PIE (ELF DYN with an interpreter)" ||
		    fail "$prog: not a PIE"
	fi
	if has "$harden_ldflags" -Wl,-z,relro; then
		grep -q "^ *GNU_RELRO " "$T/l" && ok "$prog: GNU_RELRO segment" ||
		    fail "$prog: no GNU_RELRO segment"
	fi
	if has "$harden_ldflags" -Wl,-z,now; then
		grep -Eq "\(FLAGS\).*BIND_NOW|\(FLAGS_1\).*NOW|\(BIND_NOW\)" "$T/d" &&
		    ok "$prog: immediate binding (BIND_NOW)" ||
		    fail "$prog: lazy binding"
	fi
	# An executable stack would be RWE.
	grep "^ *GNU_STACK " "$T/l" | grep -q " RW  " &&
	    ok "$prog: stack not executable" || fail "$prog: executable or no GNU_STACK"
	if has "$warn_cflags" -fstack-protector-strong; then
		grep -q " __stack_chk_fail" "$T/s" && ok "$prog: stack protector" ||
		    fail "$prog: no __stack_chk_fail"
	fi
	case $harden_cppflags in
	*-D_FORTIFY_SOURCE=*)
		n=$(grep -oE " __[a-z0-9_]+_chk(@|$)" "$T/s" | grep -v __stack_chk | sort -u | wc -l)
		[ "$n" -gt 0 ] && ok "$prog: $n fortified calls (__*_chk)" ||
		    fail "$prog: no __*_chk call under $harden_cppflags" ;;
	esac
done

# CET: the property note is on every object we compile. The executable
# keeps it only if every object linked in has it, the C library's start
# files included (not so on Debian 12), so it is required there only when
# the start file has it.
if has "$harden_cflags" -fcf-protection; then
	lib="$top_builddir/libanvil.a"
	members=$(ar t "$lib" | grep -c '\.o$')
	marked=$(readelf -nW "$lib" 2>/dev/null | grep -c "x86 feature: IBT, SHSTK")
	[ "$members" -gt 0 ] && [ "$marked" -eq "$members" ] &&
	    ok "libanvil.a: IBT and SHSTK in all $members objects" ||
	    fail "libanvil.a: IBT and SHSTK in $marked of $members objects"
	for o in "$top_builddir"/src/bin/*.o; do
		readelf -nW "$o" 2>/dev/null | grep -q "x86 feature: IBT, SHSTK" &&
		    ok "${o##*/}: IBT and SHSTK" || fail "${o##*/}: no CET property"
	done
	crt=$("$cc" -print-file-name=Scrt1.o 2>/dev/null)
	if [ -f "$crt" ] && readelf -nW "$crt" 2>/dev/null | grep -q "IBT, SHSTK"; then
		for prog in anvil anvil-admin anvil-crl; do
			readelf -nW "$top_builddir/$prog" | grep -q "x86 feature: IBT, SHSTK" &&
			    ok "$prog: IBT and SHSTK" || fail "$prog: CET property lost at link"
		done
	else
		ok "executables: CET not checked ($crt has no CET property)"
	fi
fi

finish
