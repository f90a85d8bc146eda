#!/bin/sh
# shape-apache-cgi.sh - certbot and lego through the shipped apache-cgi config.
ANVIL_WEB=apache-cgi
BASEPORT=24000
. "$(dirname "$0")/shape.sh"
