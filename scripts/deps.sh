#!/bin/sh
# deps.sh - install the Debian 12 packages Anvil needs to build, test and
# serve. Does nothing when every package is already installed; otherwise
# runs apt-get update and install (as root, or through sudo).
set -eu

PACKAGES="
autoconf automake libtool pkg-config make gcc
libfcgi-dev libgnutls28-dev libssl-dev libtasn1-6-dev libtasn1-bin libdb5.3-dev
db5.3-util libjansson-dev libcurl4-gnutls-dev libunbound-dev libevent-dev
libidn2-dev nettle-dev libcriterion-dev gnutls-bin softhsm2 openssl ca-certificates
lighttpd lighttpd-mod-gnutls lighttpd-modules-lua certbot lego pebble python3-requests python3-cryptography
apache2-suexec-pristine
apache2 libapache2-mod-fcgid spawn-fcgi curl media-types
clang libclang-rt-14-dev procps iproute2 python3 nsd ldnsutils
prometheus debhelper lintian linux-perf
libpq-dev postgresql haproxy
"

missing=""
for p in $PACKAGES; do
	if ! dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null |
	    grep -q '^install ok installed$'; then
		missing="$missing $p"
	fi
done
[ -z "$missing" ] && exit 0

echo "deps: installing:$missing"
SUDO=""
if [ "$(id -u)" != 0 ]; then
	if command -v sudo >/dev/null 2>&1; then
		SUDO=sudo
	else
		echo "deps: missing packages:$missing; run as root or install sudo" >&2
		exit 1
	fi
fi
export DEBIAN_FRONTEND=noninteractive
# A fresh machine has no package lists: retry once, the archive may blink.
$SUDO apt-get update -q || { sleep 5; $SUDO apt-get update -q; }
# shellcheck disable=SC2086
$SUDO apt-get install -y -q --no-install-recommends $missing ||
    { sleep 5; $SUDO apt-get install -y -q --no-install-recommends $missing; }
