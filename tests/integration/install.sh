#!/bin/sh
# install.sh - "make install DESTDIR=..." puts every file in its place,
# "make uninstall" takes them away again, and the config man page is the
# one the sample config makes.
. "$(dirname "$0")/lib.sh"
dest="$T/dest"
# The prefix the tree was configured with (paths are compiled in).
prefix=$(sed -n 's/^prefix = //p' "$top_builddir/Makefile")
make -C "$top_builddir" -s install DESTDIR="$dest" >"$T/out" 2>&1 ||
    { cat "$T/out"; fail "make install"; finish; }
ok "make install DESTDIR"
for f in bin/anvil-admin bin/anvil-crl libexec/anvil etc/anvil/anvil.conf.sample \
    share/man/man8/anvil.8 share/man/man8/anvil-admin.8 share/man/man8/anvil-crl.8 \
    share/man/man5/anvil.conf.5 share/anvil/examples/anvil-crl.cron \
    share/anvil/examples/anvil-crl.service share/anvil/examples/anvil-crl.timer \
    share/anvil/lighttpd/anvil-fastcgi.conf share/anvil/lighttpd/anvil-cgi.conf \
    share/anvil/lighttpd/anvil-publish.conf share/anvil/lighttpd/anvil-nonce.conf \
    share/anvil/lighttpd/anvil-nonce.lua share/anvil/lighttpd/anvil-ocsp.conf \
    share/anvil/lighttpd/anvil-ocsp.lua share/anvil/apache/anvil-ocsp.conf \
    share/anvil/apache/anvil-fcgid.conf \
    share/anvil/apache/anvil-proxy-fcgi.conf share/anvil/apache/anvil-cgi.conf \
    share/anvil/apache/anvil-nph.conf \
    share/anvil/apache/anvil-publish.conf share/anvil/apache/anvil-fcgi.socket \
    share/anvil/apache/anvil-fcgi.service share/anvil/cgi-bin/anvil \
    share/anvil/cgi-bin/nph-anvil share/anvil/shared-host/anvil.cgi \
    share/anvil/shared-host/htaccess share/anvil/shared-host/htaccess-fcgid \
    share/anvil/shared-host/crontab \
    ${EXTRA_INSTALLED:-}; do
	[ -e "$dest$prefix/$f" ] && ok "installed $f" || fail "missing $f"
done
[ -d "$dest$prefix/var/lib/anvil" ] && ok "data folder created" || fail "no var/lib/anvil"
m=$(stat -c %a "$dest$prefix/var/lib/anvil" 2>/dev/null)
[ "$m" = 700 ] && ok "data folder mode 0700" || fail "data folder mode $m"
grep -q "$prefix/bin/anvil-crl --quiet --config $prefix/etc/anvil/anvil.conf" \
    "$dest$prefix/share/anvil/examples/anvil-crl.cron" && ok "cron example has installed paths" ||
    fail "cron example paths: $(cat "$dest$prefix/share/anvil/examples/anvil-crl.cron")"
[ -x "$dest$prefix/share/anvil/cgi-bin/nph-anvil" ] &&
    grep -q "exec \"$prefix/libexec/anvil\"" "$dest$prefix/share/anvil/cgi-bin/nph-anvil" &&
    ok "nph-anvil is executable and runs the installed program" || fail "nph-anvil wrapper"
[ -x "$dest$prefix/share/anvil/shared-host/anvil.cgi" ] &&
    grep -q "exec \"$prefix/libexec/anvil\"" "$dest$prefix/share/anvil/shared-host/anvil.cgi" &&
    grep -q "^ANVIL_CONFIG=$prefix/etc/anvil/anvil.conf\$" "$dest$prefix/share/anvil/shared-host/anvil.cgi" &&
    ok "shared-host anvil.cgi is executable, with the installed program and config" ||
    fail "shared-host anvil.cgi: $(cat "$dest$prefix/share/anvil/shared-host/anvil.cgi")"
"$dest$prefix/bin/anvil-crl" --help >/dev/null && ok "installed anvil-crl runs" || fail "anvil-crl --help"
"$dest$prefix/bin/anvil-admin" --help |
    grep -q "$prefix/etc/anvil/anvil.conf" && ok "default config path is under the prefix" ||
    fail "default config path not under the prefix"

make -C "$top_builddir" -s uninstall DESTDIR="$dest" >"$T/out" 2>&1 ||
    { cat "$T/out"; fail "make uninstall"; }
left=$(find "$dest" -type f | wc -l)
[ "$left" -eq 0 ] && ok "make uninstall removes every file" || { fail "$left files left"; find "$dest" -type f; }

if [ -x /usr/bin/python3 ]; then
	/usr/bin/python3 "$top_srcdir/scripts/mkman-conf.py" "$top_srcdir/etc/anvil.conf.sample" |
	    cmp -s - "$top_srcdir/man/anvil.conf.5" && ok "anvil.conf.5 matches the sample" ||
	    fail "man/anvil.conf.5 is stale: run scripts/mkman-conf.py etc/anvil.conf.sample > man/anvil.conf.5"
fi
finish
