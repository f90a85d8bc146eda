#!/bin/sh
# pg-start.sh - a throwaway PostgreSQL server for the tests (issue 23).
#
#   pg-start.sh start        prints the libpq conninfo of a new server
#   pg-start.sh stop DIR     stops the server whose conninfo said host=DIR
#                            and removes DIR
#   pg-start.sh pause DIR    stops that server, keeping its data
#   pg-start.sh resume DIR   starts it again (the conninfo stays valid)
#
# The server is Debian's (/usr/lib/postgresql/<major>/bin, package
# postgresql), initialised in a new folder under ${TMPDIR:-/tmp} by an
# unprivileged user (postgres when run as root: initdb refuses root) and
# listening only on a unix socket in that folder, with trust
# authentication: nothing outside this machine's file system reaches it.
# Exits 77 when no PostgreSQL is installed, so that a test can skip.
set -eu

PGBIN=${PGBIN:-}
if [ -z "$PGBIN" ]; then
	for d in /usr/lib/postgresql/*/bin; do
		[ -x "$d/initdb" ] && PGBIN=$d
	done
fi

# as_owner CMD...: runs CMD as the user who owns the server's files.
as_owner() {
	if [ "$(id -u)" = 0 ]; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

# server_start DIR: pg_ctl start on the cluster in DIR/data.
server_start() {
	as_owner "$PGBIN/pg_ctl" -D "$1/data" -l "$1/server.log" -w -t 60 \
	    -o "-c listen_addresses='' -c unix_socket_directories='$1' \
	    -c max_connections=200" start >/dev/null 2>&1 || {
		echo "pg-start: the server did not start:" >&2
		cat "$1/server.log" >&2
		return 1
	}
}

case "${1:-}" in
pause|resume)
	dir=${2:?usage: pg-start.sh $1 DIR}
	[ -d "$dir/data" ] || { echo "pg-start: no server in $dir" >&2; exit 2; }
	if [ "$1" = pause ]; then
		as_owner "$PGBIN/pg_ctl" -D "$dir/data" -m fast -w -t 30 stop \
		    >/dev/null
	else
		server_start "$dir"
	fi
	;;
start)
	if [ -z "$PGBIN" ] || [ ! -x "$PGBIN/pg_ctl" ]; then
		echo "pg-start: no PostgreSQL server installed (Debian: postgresql)" >&2
		exit 77
	fi
	if [ "$(id -u)" = 0 ] && ! id postgres >/dev/null 2>&1; then
		echo "pg-start: running as root and there is no user postgres" >&2
		exit 77
	fi
	dir=$(mktemp -d "${TMPDIR:-/tmp}/anvil-pg.XXXXXX")
	# The socket path must fit in sun_path (107 bytes).
	if [ ${#dir} -gt 80 ]; then
		rmdir "$dir"
		dir=$(mktemp -d /tmp/anvil-pg.XXXXXX)
	fi
	trap 'as_owner "$PGBIN/pg_ctl" -D "$dir/data" -m immediate stop \
	    >/dev/null 2>&1 || :; rm -rf "$dir"' EXIT
	chmod 0755 "$dir"
	if [ "$(id -u)" = 0 ]; then
		chown postgres "$dir"
		# A TMPDIR that postgres cannot reach: /tmp instead.
		if ! runuser -u postgres -- test -w "$dir"; then
			rm -rf "$dir"
			dir=$(mktemp -d /tmp/anvil-pg.XXXXXX)
			chmod 0755 "$dir"
			chown postgres "$dir"
		fi
	fi
	as_owner "$PGBIN/initdb" -D "$dir/data" -U anvil -A trust -E UTF8 \
	    --no-locale >"$dir/initdb.log" 2>&1 || {
		echo "pg-start: initdb failed:" >&2
		cat "$dir/initdb.log" >&2
		exit 1
	}
	server_start "$dir" || exit 1
	trap - EXIT
	echo "host=$dir port=5432 dbname=postgres user=anvil"
	;;
stop)
	dir=${2:?usage: pg-start.sh stop DIR}
	case "$dir" in
	*/anvil-pg.*) ;;
	*) echo "pg-start: $dir is not a folder pg-start.sh made" >&2; exit 2 ;;
	esac
	if [ -d "$dir/data" ]; then
		as_owner "$PGBIN/pg_ctl" -D "$dir/data" -m fast -w -t 30 stop \
		    >/dev/null 2>&1 ||
		    as_owner "$PGBIN/pg_ctl" -D "$dir/data" -m immediate stop \
		    >/dev/null 2>&1 || :
	fi
	rm -rf "$dir"
	;;
*)
	echo "usage: pg-start.sh start | stop DIR" >&2
	exit 2
	;;
esac
