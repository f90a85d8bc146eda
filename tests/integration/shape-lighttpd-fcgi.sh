#!/bin/sh
# shape-lighttpd-fcgi.sh - certbot and lego through the shipped lighttpd-fcgi config.
ANVIL_WEB=lighttpd-fcgi
BASEPORT=25000
. "$(dirname "$0")/shape.sh"
