#!/bin/sh
# shape-apache-cgi.sh - certbot and lego through the shipped apache-cgi config.
ANVIL_WEB=apache-cgi
BASEPORT=29000
. "$(dirname "$0")/shape.sh"
