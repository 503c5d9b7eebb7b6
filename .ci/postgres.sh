# Sourced by .ci/run: PostgreSQL for the store tests. Installs Debian's `postgresql` when initdb is
# missing, starts a throwaway cluster (a port of its own, data in a temp dir; run as the
# `postgres` user when we are root, since PostgreSQL refuses root) with scripts/throwaway-postgres.sh,
# exports PW_TEST_DATABASE_URL for the tests, and stops the cluster when the shell exits. A
# PW_TEST_DATABASE_URL already set is used as it is.

# apt-get as root, or through sudo without a password
pw_ci_apt() {
  if [ "$(id -u)" = 0 ]; then
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 "$@"
  else
    sudo -n env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 "$@"
  fi
}

pw_ci_use_postgres() {
  local cluster
  if [ -n "${PW_TEST_DATABASE_URL:-}" ]; then
    echo "CI: PostgreSQL from PW_TEST_DATABASE_URL"
    return 0
  fi
  if ! scripts/throwaway-postgres.sh bindir >/dev/null; then
    echo "CI: installing Debian's postgresql for the store tests"
    if ! pw_ci_apt install -y --no-install-recommends postgresql >/dev/null; then
      pw_ci_apt update >/dev/null
      pw_ci_apt install -y --no-install-recommends postgresql >/dev/null
    fi
  fi
  cluster="$(scripts/throwaway-postgres.sh start --fast)"
  PW_CI_POSTGRES_DIR="$(sed -n 's/^PW_TEST_POSTGRES_DIR=//p' <<<"$cluster")"
  PW_TEST_DATABASE_URL="$(sed -n 's/^PW_TEST_DATABASE_URL=//p' <<<"$cluster")"
  export PW_TEST_DATABASE_URL
  trap 'scripts/throwaway-postgres.sh stop "$PW_CI_POSTGRES_DIR"' EXIT
  echo "CI: PostgreSQL at $PW_TEST_DATABASE_URL (throwaway, data in $PW_CI_POSTGRES_DIR)"
}
