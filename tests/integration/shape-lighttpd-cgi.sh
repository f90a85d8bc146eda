#!/bin/sh
# shape-lighttpd-cgi.sh - certbot and lego through the shipped lighttpd-cgi config.
ANVIL_WEB=lighttpd-cgi
BASEPORT=26000
. "$(dirname "$0")/shape.sh"
