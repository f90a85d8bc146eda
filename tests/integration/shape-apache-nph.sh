#!/bin/sh
# shape-apache-nph.sh - certbot and lego through the shipped apache-nph config.
ANVIL_WEB=apache-nph
BASEPORT=20000
. "$(dirname "$0")/shape.sh"
