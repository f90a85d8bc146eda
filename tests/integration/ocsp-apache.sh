#!/bin/sh
# ocsp-apache.sh - tests/integration/ocsp.sh under Apache (mod_fcgid), with
# apache/anvil-ocsp.conf serving the pre-signed answers.
ANVIL_WEB=apache-fcgid
BASEPORT=18500
. "$(dirname "$0")/ocsp.sh"
