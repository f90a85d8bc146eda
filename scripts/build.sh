#!/bin/sh
# build.sh - install what is missing, then configure and build Anvil in the
# source tree (warnings are errors). Re-running only rebuilds what changed.
set -eu
cd "$(dirname "$0")/.."
sh scripts/deps.sh
if [ ! -x configure ] || [ configure.ac -nt configure ] || [ Makefile.am -nt configure ]; then
	autoreconf -fi
fi
if [ ! -f Makefile ] || [ configure -nt Makefile ]; then
	./configure --enable-werror ${ANVIL_CONFIGURE_FLAGS:-}
fi
make -j"$(nproc)"
