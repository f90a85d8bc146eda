#!/bin/sh
# shape-apache-nph.sh - certbot and lego through the shipped apache-nph config.
ANVIL_WEB=apache-nph
BASEPORT=34000
. "$(dirname "$0")/shape.sh"
