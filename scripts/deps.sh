#!/usr/bin/env bash
# Installs what tenantkit's dev server and tests need and is missing:
# the PostgreSQL server (15+), and for the tests Redis, PgBouncer, the
# versitygw S3 gateway and Chromium (the storefront's browser test).
# Usage: scripts/deps.sh dev|test
set -euo pipefail
want=(postgresql)
[ "${1:-dev}" = test ] && want+=(redis-server pgbouncer chromium)

have_pg() {
  for d in $(command -v pg_ctl 2>/dev/null | xargs -r dirname) /usr/lib/postgresql/*/bin; do
    [ -x "$d/initdb" ] && [ -x "$d/postgres" ] && return 0
  done
  return 1
}

# The storage tests run a real S3 gateway, versitygw, built from its Go
# module once per machine (internal/storage's tests do the same, under the
# same lock, when it is missing or another version).
if [ "${1:-dev}" = test ]; then
  vgw_dir="$HOME/.cache/tenantkit"
  if ! "${GO:-go}" version -m "$vgw_dir/bin/versitygw" 2>/dev/null | grep -q 'mod[[:space:]]*github.com/versity/versitygw[[:space:]]*v1.8.0'; then
    mkdir -p "$vgw_dir/bin"
    echo "installing versitygw v1.8.0 (go install)…"
    flock "$vgw_dir/versitygw.lock" env GOBIN="$vgw_dir/bin" "${GO:-go}" install github.com/versity/versitygw/cmd/versitygw@v1.8.0
  fi
fi

# PgBouncer 1.24, built from Debian's source tarball once per machine:
# Debian 12 packages 1.18, which keeps no prepared statement in
# transaction mode (1.21 and later do, with max_prepared_statements). The
# tests and benchmarks run it in front of PostgreSQL (tenantkittest finds
# it here; the packaged one stands in where it is missing).
build_pgbouncer() {
  local ver=1.24.1 sum=da72a3aba13072876d055a3e58dd4aba4a5de4ed6148e73033185245598fd3e0
  local dir="$HOME/.cache/tenantkit"
  [ -x "$dir/bin/pgbouncer" ] && "$dir/bin/pgbouncer" --version 2>/dev/null | grep -q "PgBouncer $ver" && return 0
  local need=()
  for pkg in libevent-dev libssl-dev pkg-config make gcc curl; do
    dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
  done
  if [ ${#need[@]} -gt 0 ]; then
    echo "installing ${need[*]} (apt-get)…"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  fi
  echo "building PgBouncer $ver…"
  mkdir -p "$dir/bin"
  local src
  src=$(mktemp -d)
  curl -fsSL -o "$src/pgbouncer.tar.gz" "http://deb.debian.org/debian/pool/main/p/pgbouncer/pgbouncer_$ver.orig.tar.gz"
  echo "$sum  $src/pgbouncer.tar.gz" | sha256sum -c --quiet
  tar -xzf "$src/pgbouncer.tar.gz" -C "$src"
  (cd "$src/pgbouncer-$ver" && ./configure --without-cares --without-systemd >/dev/null && make -j2 >/dev/null)
  install -m 0755 "$src/pgbouncer-$ver/pgbouncer" "$dir/bin/pgbouncer.new"
  mv "$dir/bin/pgbouncer.new" "$dir/bin/pgbouncer"
  rm -rf "$src"
}

sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
if [ "${1:-dev}" = test ] && [ "$(uname)" != Darwin ]; then
  mkdir -p "$HOME/.cache/tenantkit"
  exec 9>"$HOME/.cache/tenantkit/pgbouncer.lock"
  flock 9
  build_pgbouncer
  exec 9>&-
fi

missing=()
for p in "${want[@]}"; do
  case "$p" in
    postgresql) have_pg || missing+=(postgresql postgresql-contrib) ;;
    redis-server) command -v redis-server >/dev/null || missing+=(redis-server) ;;
    pgbouncer) command -v pgbouncer >/dev/null || [ -x /usr/sbin/pgbouncer ] || missing+=(pgbouncer) ;;
    chromium) command -v chromium >/dev/null || missing+=(chromium) ;;
  esac
done
# The email tests run a real SMTP server, mailpit, built from its Go module
# once per machine (internal/email's tests do the same, under the same lock,
# when it is missing or another version); tenantkit dev runs it as the
# platform's mail server.
if true; then
  mp_dir="$HOME/.cache/tenantkit"
  if ! "${GO:-go}" version -m "$mp_dir/bin/mailpit" 2>/dev/null | grep -q 'mod[[:space:]]*github.com/axllent/mailpit[[:space:]]*v1.33.1'; then
    mkdir -p "$mp_dir/bin"
    echo "installing mailpit v1.33.1 (go install)…"
    flock "$mp_dir/mailpit.lock" env GOBIN="$mp_dir/bin" "${GO:-go}" install github.com/axllent/mailpit@v1.33.1
  fi
fi
# The billing tests run Stripe's own mock API server, stripe-mock, built
# from its Go module once per machine (internal/stripemock.Ensure does the
# same, under the same lock, when it is missing or another version);
# tenantkit dev runs it as the platform's Stripe.
if true; then
  sm_dir="$HOME/.cache/tenantkit"
  if ! "${GO:-go}" version -m "$sm_dir/bin/stripe-mock" 2>/dev/null | grep -q 'mod[[:space:]]*github.com/stripe/stripe-mock[[:space:]]*v0.203.0'; then
    mkdir -p "$sm_dir/bin"
    echo "installing stripe-mock v0.203.0 (go install)…"
    flock "$sm_dir/stripe-mock.lock" env GOBIN="$sm_dir/bin" "${GO:-go}" install github.com/stripe/stripe-mock@v0.203.0
  fi
fi
# tenantkit dev runs Let's Encrypt's test DNS server, pebble-challtestsrv,
# which Pebble (the dev ACME CA) and custom domains' proofs resolve
# through; it is built from Pebble's Go module once per machine
# (internal/challtestsrv.Ensure does the same, under the same lock, when
# it is missing or another version).
if true; then
  ct_dir="$HOME/.cache/tenantkit"
  if ! "${GO:-go}" version -m "$ct_dir/bin/pebble-challtestsrv" 2>/dev/null | grep -q 'mod[[:space:]]*github.com/letsencrypt/pebble/v2[[:space:]]*v2.10.3'; then
    mkdir -p "$ct_dir/bin"
    echo "installing pebble-challtestsrv v2.10.3 (go install)…"
    flock "$ct_dir/pebble-challtestsrv.lock" env GOBIN="$ct_dir/bin" "${GO:-go}" install github.com/letsencrypt/pebble/v2/cmd/pebble-challtestsrv@v2.10.3
  fi
fi

[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(uname)" = Darwin ]; then
  echo "missing: ${missing[*]} — on macOS: brew install postgresql@17 redis pgbouncer" >&2
  exit 1
fi
echo "installing ${missing[*]} (apt-get)…"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# Debian starts packaged services on install; tenantkit runs its own.
for s in postgresql redis-server pgbouncer; do
  $sudo service "$s" stop >/dev/null 2>&1 || true
done
