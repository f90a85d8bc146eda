#!/bin/sh
# shape-apache-fcgid.sh - certbot and lego through the shipped apache-fcgid config.
ANVIL_WEB=apache-fcgid
BASEPORT=27000
. "$(dirname "$0")/shape.sh"
