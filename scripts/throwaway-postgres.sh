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

pw_pg_start() {
  local bin dir port tries=0 settings=""
  bin="$(pw_pg_bindir)" || { echo "throwaway-postgres: no initdb/pg_ctl on PATH or in /usr/lib/postgresql/*/bin: apt-get install -y postgresql" >&2; return 3; }
  if [ "$(id -u)" = 0 ] && ! id postgres >/dev/null 2>&1; then
    echo "throwaway-postgres: PostgreSQL refuses to run as root and there is no \`postgres\` user to run it as" >&2
    return 1
  fi
  [ "${1:-}" = "--fast" ] && settings="-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
  dir="$(mktemp -d "${TMPDIR:-/tmp}/pw-postgres.XXXXXX")"
  chmod 700 "$dir"
  [ "$(id -u)" = 0 ] && chown postgres: "$dir"
  if ! pw_pg_as_owner "$bin/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1; then
    echo "throwaway-postgres: initdb failed: $(tail -n 1 "$dir/initdb.log")" >&2
    rm -rf "$dir"
    return 1
  fi
  # a port of its own: a random one that nothing answers on, tried again if another took it first
  while :; do
    port=$((20000 + RANDOM % 20000))
    pw_pg_port_taken "$port" && continue
    if pw_pg_as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
      -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c max_connections=200 $settings" start >/dev/null; then
      break
    fi
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

pw_pg_stop() {
  local bin dir="$1"
  case "$dir" in
    */pw-postgres.*) ;;
    *) echo "throwaway-postgres: $dir is not a directory this script made" >&2; return 2 ;;
  esac
  if [ -d "$dir/data" ] && bin="$(pw_pg_bindir)"; then
    pw_pg_as_owner "$bin/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
  fi
  rm -rf "$dir"
}

case "${1:-}" in
  bindir) pw_pg_bindir ;;
  start) shift; pw_pg_start "$@" ;;
  stop) [ -n "${2:-}" ] || { echo "usage: $0 stop DIR" >&2; exit 2; }; pw_pg_stop "$2" ;;
  *) echo "usage: $0 bindir | start [--fast] | stop DIR" >&2; exit 2 ;;
esac
