#!/bin/sh
# crl_shards-apache.sh - tests/integration/crl_shards.sh under Apache
# (mod_fcgid), with apache/anvil-publish.conf serving the shard CRLs. Its
# ports (BASEPORT + 1, 53, 55, 80, 443, 444) miss crl_shards.sh's.
ANVIL_WEB=apache-fcgid
BASEPORT=13010
. "$(dirname "$0")/crl_shards.sh"
