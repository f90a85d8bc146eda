#!/bin/sh
# shape-apache-proxy-fcgi.sh - certbot and lego through the shipped apache-proxy-fcgi config.
ANVIL_WEB=apache-proxy-fcgi
BASEPORT=28000
. "$(dirname "$0")/shape.sh"
