#!/usr/bin/env bash
# Runs Aura's whole test suite. Installs the test peers it needs (npm/pip, cached) and uses the local PostgreSQL
# when one answers on 127.0.0.1:5432 (or DATABASE_URL), so the store tests run on both backends.
set -euo pipefail
cd "$(dirname "$0")/.."

# Telegram Bot API emulator (npm telegram-test-api + our compatibility layer).
peer=tests/peers/telegram
if [ ! -d "$peer/node_modules/telegram-test-api" ] || [ "$peer/package-lock.json" -nt "$peer/node_modules/.package-lock.json" ]; then
  echo "test.sh: installing the Telegram emulator (npm ci)"
  (cd "$peer" && npm ci --no-audit --no-fund --loglevel=error)
fi

# Synapse homeserver (PyPI matrix-synapse) in a cached venv, for the Matrix tests.
tests/peers/synapse/install.sh >/dev/null

if [ -z "${DATABASE_URL:-}" ] && command -v pg_isready >/dev/null && pg_isready -q -h 127.0.0.1 -p 5432; then
  export DATABASE_URL=postgres://postgres@127.0.0.1:5432/test
fi
if [ -n "${DATABASE_URL:-}" ]; then
  echo "test.sh: store and API tests run on SQLite and on PostgreSQL (${DATABASE_URL%%@*}@…)"
else
  echo "test.sh: no PostgreSQL found; the PostgreSQL variants are skipped (set DATABASE_URL to run them)"
fi

cargo test --locked "$@"
