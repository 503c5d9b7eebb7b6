#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for tests and benchmarks: its own port on 127.0.0.1, its data and
# socket in a new temp dir, trust authentication, superuser `postgres`. PostgreSQL refuses to run
# as root, so as root the cluster runs as the `postgres` user (Debian's package makes it), through
# runuser; anyone else runs it as themselves. Used by .ci/run and by the tests' setup
# (test/setup/postgres.ts), so both start it the same way.
#
#   scripts/throwaway-postgres.sh bindir           the directory of initdb/pg_ctl, or exit 3 when none
#   scripts/throwaway-postgres.sh start [--fast]   prints PW_TEST_DATABASE_URL=... and PW_TEST_POSTGRES_DIR=...
#                                                  (--fast: no fsync, for tests; never for benchmarks)
#   scripts/throwaway-postgres.sh stop DIR         stops the cluster of DIR and removes DIR
#   scripts/throwaway-postgres.sh pause|resume DIR stops the server as a crash would / starts it again
set -euo pipefail

# initdb and pg_ctl: on PATH, else Debian's /usr/lib/postgresql/<version>/bin (newest first)
pw_pg_bindir() {
  local initdb dir
  if initdb="$(command -v initdb 2>/dev/null)" && [ -x "$(dirname "$initdb")/pg_ctl" ]; then
    dirname "$(readlink -f "$initdb")"
    return 0
  fi
  for dir in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
    if [ -x "$dir/initdb" ] && [ -x "$dir/pg_ctl" ]; then
      echo "$dir"
      return 0
    fi
  done
  return 3
}

# runs a command as the cluster's owner: `postgres` when we are root, else ourselves
pw_pg_as_owner() {
  if [ "$(id -u)" = 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

pw_pg_port_taken() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

pw_pg_server() {
  local bin="$1" dir="$2" action="$3"
  if [ "$action" = start ]; then
    pw_pg_as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start >/dev/null
  else
    pw_pg_as_owner "$bin/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1
  fi
}

pw_pg_start() {
  local bin dir port tries=0
  bin="$(pw_pg_bindir)" || { echo "throwaway-postgres: no initdb/pg_ctl on PATH or in /usr/lib/postgresql/*/bin: apt-get install -y postgresql" >&2; return 3; }
  if [ "$(id -u)" = 0 ] && ! id postgres >/dev/null 2>&1; then
    echo "throwaway-postgres: PostgreSQL refuses to run as root and there is no \`postgres\` user to run it as" >&2
    return 1
  fi
  dir="$(mktemp -d "${TMPDIR:-/tmp}/pw-postgres.XXXXXX")"
  chmod 700 "$dir"
  [ "$(id -u)" = 0 ] && chown postgres: "$dir"
  if ! pw_pg_as_owner "$bin/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1; then
    echo "throwaway-postgres: initdb failed: $(tail -n 1 "$dir/initdb.log")" >&2
    rm -rf "$dir"
    return 1
  fi
  # the settings live in the cluster's own file, so `resume` starts it the same way
  {
    echo "listen_addresses = '127.0.0.1'"
    echo "unix_socket_directories = '$dir'"
    echo "max_connections = 200"
    if [ "${1:-}" = "--fast" ]; then
      echo "fsync = off"
      echo "synchronous_commit = off"
      echo "full_page_writes = off"
    fi
  } | pw_pg_as_owner tee -a "$dir/data/postgresql.conf" >/dev/null
  # a port of its own: a random one that nothing answers on, tried again if another took it first
  while :; do
    port=$((20000 + RANDOM % 20000))
    pw_pg_port_taken "$port" && continue
    echo "port = $port" | pw_pg_as_owner tee -a "$dir/data/postgresql.conf" >/dev/null
    pw_pg_server "$bin" "$dir" start && break
    tries=$((tries + 1))
    if [ "$tries" -ge 5 ]; then
      echo "throwaway-postgres: the server did not start: $(tail -n 1 "$dir/server.log" 2>/dev/null)" >&2
      rm -rf "$dir"
      return 1
    fi
  done
  echo "PW_TEST_DATABASE_URL=postgres://postgres@127.0.0.1:$port/postgres"
  echo "PW_TEST_POSTGRES_DIR=$dir"
}

# only directories this script made
pw_pg_owned_dir() {
  case "$1" in
    */pw-postgres.*) [ -d "$1/data" ] ;;
    *) echo "throwaway-postgres: $1 is not a directory this script made" >&2; return 2 ;;
  esac
}

pw_pg_stop() {
  local bin dir="$1"
  pw_pg_owned_dir "$dir" || return $?
  if bin="$(pw_pg_bindir)"; then
    pw_pg_server "$bin" "$dir" stop || true
  fi
  rm -rf "$dir"
}

case "${1:-}" in
  bindir) pw_pg_bindir ;;
  start) shift; pw_pg_start "$@" ;;
  stop) [ -n "${2:-}" ] || { echo "usage: $0 stop DIR" >&2; exit 2; }; pw_pg_stop "$2" ;;
  # the server goes away (as in a crash) and comes back with its data, on the same port
  pause | resume)
    [ -n "${2:-}" ] || { echo "usage: $0 $1 DIR" >&2; exit 2; }
    pw_pg_owned_dir "$2"
    bin="$(pw_pg_bindir)"
    if [ "$1" = pause ]; then pw_pg_server "$bin" "$2" stop; else pw_pg_server "$bin" "$2" start; fi
    ;;
  *) echo "usage: $0 bindir | start [--fast] | stop DIR | pause DIR | resume DIR" >&2; exit 2 ;;
esac
