#!/usr/bin/env bash
# System parts the tests use, set up idempotently; `make test` runs this (and `.ci/run` runs `make test`).
#   Chromium    browser tests       Debian's `chromium` package, installed when missing and we are root on Debian
#   PostgreSQL  postgres_url tests  started when installed and down; database `test` created when missing
#   Redis       redis_url tests     redis-server started on 127.0.0.1:6379 when installed and down
# Never fails: a part it cannot provide is reported here, and the tests that need it are skipped with a line
# saying how to get it (GLASSBOARD_REQUIRE_ALL=1 turns those skips into failures).
set -uo pipefail

say() { printf 'setup-system: %s\n' "$*"; }
is_root() { [ "$(id -u)" = 0 ]; }

# --- Chromium (headless browser tests through Playwright; never `playwright install`)
if command -v chromium >/dev/null 2>&1; then
  :
elif is_root && [ -f /etc/debian_version ] && command -v apt-get >/dev/null 2>&1; then
  say "installing Debian's chromium (browser tests)"
  if ! { DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
         DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }; then
    say "could not install chromium; browser tests will be skipped"
  fi
else
  say "chromium missing and not installable here (needs root on Debian); browser tests will be skipped." \
      "Get it: sudo apt-get install chromium"
fi

# --- PostgreSQL on 127.0.0.1:5432, trust auth for user postgres, database `test`
if command -v pg_isready >/dev/null 2>&1; then
  if ! pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null && command -v pg_ctlcluster >/dev/null 2>&1; then
    for version in $(ls /etc/postgresql 2>/dev/null); do
      say "starting PostgreSQL $version"
      pg_ctlcluster --skip-systemctl-redirect "$version" main start 2>/dev/null ||
        say "could not start PostgreSQL $version (not root?)"
    done
    for _ in 1 2 3 4 5 6 7 8 9 10; do pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null && break; sleep 0.5; done
  fi
  if pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null && command -v psql >/dev/null 2>&1; then
    if ! psql -h 127.0.0.1 -U postgres -d postgres -tAc "select 1 from pg_database where datname = 'test'" \
        2>/dev/null | grep -q 1; then
      psql -h 127.0.0.1 -U postgres -d postgres -qc "create database test" 2>/dev/null ||
        say "could not create database 'test' as user postgres; PostgreSQL tests will be skipped"
    fi
  fi
else
  say "PostgreSQL not installed; its tests will be skipped. Get it: sudo apt-get install postgresql"
fi

# --- Redis on 127.0.0.1:6379
redis_up() { command -v redis-cli >/dev/null 2>&1 && [ "$(redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null)" = PONG ]; }
if command -v redis-server >/dev/null 2>&1; then
  if ! redis_up; then
    say "starting redis-server on 127.0.0.1:6379"
    redis-server --bind 127.0.0.1 --port 6379 --daemonize yes --save '' --appendonly no >/dev/null ||
      say "could not start redis-server"
  fi
else
  say "redis-server not installed; Redis tests will be skipped. Get it: sudo apt-get install redis-server"
fi
exit 0
