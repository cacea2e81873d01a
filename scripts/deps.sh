#!/usr/bin/env bash
# Installs what tenantkit's dev server and tests need and is missing:
# the PostgreSQL server (15+), and for the tests Redis and PgBouncer.
# Usage: scripts/deps.sh dev|test
set -euo pipefail
want=(postgresql)
[ "${1:-dev}" = test ] && want+=(redis-server pgbouncer)

have_pg() {
  for d in $(command -v pg_ctl 2>/dev/null | xargs -r dirname) /usr/lib/postgresql/*/bin; do
    [ -x "$d/initdb" ] && [ -x "$d/postgres" ] && return 0
  done
  return 1
}

missing=()
for p in "${want[@]}"; do
  case "$p" in
    postgresql) have_pg || missing+=(postgresql postgresql-contrib) ;;
    redis-server) command -v redis-server >/dev/null || missing+=(redis-server) ;;
    pgbouncer) command -v pgbouncer >/dev/null || [ -x /usr/sbin/pgbouncer ] || missing+=(pgbouncer) ;;
  esac
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(uname)" = Darwin ]; then
  echo "missing: ${missing[*]} — on macOS: brew install postgresql@17 redis pgbouncer" >&2
  exit 1
fi
sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
echo "installing ${missing[*]} (apt-get)…"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# Debian starts packaged services on install; tenantkit runs its own.
for s in postgresql redis-server pgbouncer; do
  $sudo service "$s" stop >/dev/null 2>&1 || true
done
