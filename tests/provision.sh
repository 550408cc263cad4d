#!/usr/bin/env bash
# What `make test` needs from the machine, beyond the .venv: Debian's Chromium for the
# browser tests and the local PostgreSQL for the integration run. Installed or started
# when this user may (root with apt-get, as on CI); otherwise one line saying what to run
# and a non-zero exit, instead of every browser test erroring on its own.
set -euo pipefail

# The same variable tests/browser/conftest.py launches, so a check can point it elsewhere.
chromium="${DASHBOARD_CHROMIUM:-/usr/bin/chromium}"

# $EUID and `command -v` are bash's own: this runs with any PATH.
may_install() {
  [ "$EUID" -eq 0 ] && command -v apt-get >/dev/null
}

if [ ! -x "$chromium" ]; then
  if ! may_install; then
    echo "make test: no Chromium at $chromium for the browser tests; run: sudo apt-get install chromium (or set DASHBOARD_CHROMIUM to a Chromium binary)" >&2
    exit 1
  fi
  echo "installing Debian's chromium for the browser tests"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  if [ ! -x "$chromium" ]; then
    echo "make test: Debian's chromium is installed but $chromium is still missing; unset DASHBOARD_CHROMIUM or point it at /usr/bin/chromium" >&2
    exit 1
  fi
fi

# Without a PostgreSQL its tests skip (under CI, with CI=true, they fail): start the
# local cluster when it is installed but down and this user may start it.
if [ "$EUID" -eq 0 ] && command -v pg_isready >/dev/null && command -v pg_ctlcluster >/dev/null \
  && ! pg_isready -q -h 127.0.0.1 -p 5432; then
  shopt -s nullglob
  for version in /etc/postgresql/*/; do
    echo "starting PostgreSQL $(basename "$version")"
    # Not fatal here: the tests then say which PostgreSQL they could not reach.
    pg_ctlcluster --skip-systemctl-redirect "$(basename "$version")" main start || true
  done
fi
