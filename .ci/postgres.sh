# shellcheck shell=bash
# Start a throw-away PostgreSQL server for the task-store tests.
#
#   source .ci/postgres.sh   # exports OCTANE_TEST_POSTGRES_URL, stops the server on EXIT
#
# Does nothing when OCTANE_TEST_POSTGRES_URL is already set. Otherwise finds initdb, pg_ctl
# and postgres (pg_config --bindir, /usr/lib/postgresql/*/bin, PATH), installs the
# 'postgresql' package with apt-get when they are missing and we are root, and runs a
# private cluster (trust auth, 127.0.0.1 and a private socket dir, free port) as the
# 'postgres' user when we are root, since PostgreSQL refuses to run as root.
# Call octane_pg_stop to stop it earlier. On failure prints why and returns non-zero.
# Meant to be sourced by bash; it never calls `exit` and leaves `set -e/-u` alone.

_octane_pg_has_bins() {
  [ -n "${1:-}" ] && [ -x "$1/initdb" ] && [ -x "$1/pg_ctl" ] && [ -x "$1/postgres" ]
}

_octane_pg_find_bindir() {
  local dir candidate
  if command -v pg_config >/dev/null 2>&1; then
    dir=$(pg_config --bindir 2>/dev/null) || dir=""
    if _octane_pg_has_bins "$dir"; then printf '%s\n' "$dir"; return 0; fi
  fi
  for candidate in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
    if _octane_pg_has_bins "$candidate"; then printf '%s\n' "$candidate"; return 0; fi
  done
  if command -v initdb >/dev/null 2>&1; then
    # Resolve wrappers/symlinks so pg_ctl finds the postgres next to it.
    dir=$(dirname "$(readlink -f "$(command -v initdb)")")
    if _octane_pg_has_bins "$dir"; then printf '%s\n' "$dir"; return 0; fi
  fi
  return 1
}

_octane_pg_free_port() {
  local py
  for py in python3 python; do
    if command -v "$py" >/dev/null 2>&1; then
      "$py" -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()' && return 0
    fi
  done
  echo $((20000 + RANDOM % 30000))
}

# Run a command as the server's owner (postgres when we are root, else ourselves).
_octane_pg_as_owner() {
  if [ "$(id -u)" -ne 0 ]; then
    "$@"
  elif command -v runuser >/dev/null 2>&1; then
    runuser -u postgres -- "$@"
  else
    su -s /bin/sh postgres -c '"$0" "$@"' "$@"
  fi
}

octane_pg_stop() {
  if [ -n "${_OCTANE_PG_DIR:-}" ] && [ -d "${_OCTANE_PG_DIR}" ]; then
    _octane_pg_as_owner "${_OCTANE_PG_BIN}/pg_ctl" -D "${_OCTANE_PG_DIR}/data" \
      -m fast -w -t 30 stop >/dev/null 2>&1 || true
    rm -rf "${_OCTANE_PG_DIR}"
  fi
  if [ -n "${_OCTANE_PG_DIR:-}" ]; then
    unset OCTANE_TEST_POSTGRES_URL
  fi
  unset _OCTANE_PG_DIR _OCTANE_PG_BIN
  return 0
}

_octane_pg_start() {
  local bindir tmp port db previous log psql
  if [ -n "${OCTANE_TEST_POSTGRES_URL:-}" ]; then
    return 0
  fi
  if ! bindir=$(_octane_pg_find_bindir); then
    if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
      echo "postgres.sh: installing the postgresql package with apt-get" >&2
      if ! { DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null \
        && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; }; then
        echo "postgres.sh: apt-get install postgresql failed" >&2
        return 1
      fi
    fi
    if ! bindir=$(_octane_pg_find_bindir); then
      echo "postgres.sh: initdb, pg_ctl and postgres not found; install the PostgreSQL" \
        "server (e.g. apt-get install postgresql) or set OCTANE_TEST_POSTGRES_URL" >&2
      return 1
    fi
  fi
  if [ "$(id -u)" -eq 0 ] && ! id -u postgres >/dev/null 2>&1; then
    if ! useradd -r -M -s /usr/sbin/nologin postgres >/dev/null 2>&1 \
      && ! useradd -r postgres >/dev/null 2>&1; then
      echo "postgres.sh: cannot create the 'postgres' user to run the server as" >&2
      return 1
    fi
  fi
  if ! tmp=$(mktemp -d "${TMPDIR:-/tmp}/octane-pg.XXXXXX"); then
    echo "postgres.sh: cannot create a temp folder under ${TMPDIR:-/tmp}" >&2
    return 1
  fi
  if [ "$(id -u)" -eq 0 ]; then
    chown postgres "$tmp" || { rm -rf "$tmp"; return 1; }
  fi
  _OCTANE_PG_DIR=$tmp
  _OCTANE_PG_BIN=$bindir
  log="$tmp/server.log"
  if ! _octane_pg_as_owner "$bindir/initdb" -D "$tmp/data" -U postgres -A trust -E UTF8 \
    --no-sync >"$tmp/initdb.log" 2>&1; then
    echo "postgres.sh: initdb failed:" >&2
    tail -n 5 "$tmp/initdb.log" >&2
    octane_pg_stop
    return 1
  fi
  port=$(_octane_pg_free_port)
  if ! _octane_pg_as_owner "$bindir/pg_ctl" -D "$tmp/data" -l "$log" -w -t 30 \
    -o "-k $tmp -p $port -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
    start >/dev/null 2>&1; then
    echo "postgres.sh: the server did not start on 127.0.0.1:$port:" >&2
    tail -n 5 "$log" >&2
    octane_pg_stop
    return 1
  fi
  db="octane_test"
  psql="$bindir/psql"
  [ -x "$psql" ] || psql=$(command -v psql) || psql="psql"
  if ! _octane_pg_as_owner "$psql" -X -q -h "$tmp" -p "$port" -U postgres -d postgres \
    -c "CREATE DATABASE $db" >/dev/null 2>"$tmp/createdb.log"; then
    echo "postgres.sh: cannot create database $db:" >&2
    tail -n 5 "$tmp/createdb.log" >&2
    octane_pg_stop
    return 1
  fi
  export OCTANE_TEST_POSTGRES_URL="postgresql+psycopg://postgres@127.0.0.1:$port/$db"
  # Keep an EXIT trap the caller already had, and run ours first.
  previous=$(trap -p EXIT)
  if [ -n "$previous" ]; then
    eval "set -- $previous"
    trap "octane_pg_stop; $3" EXIT
  else
    trap octane_pg_stop EXIT
  fi
  return 0
}

_octane_pg_start
