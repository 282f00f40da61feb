#!/usr/bin/env bash
# Make PostgreSQL (127.0.0.1:5432, database "test", user postgres without a
# password) and Redis (127.0.0.1:6379) reachable for the test suite.
# Installs them from Debian packages where missing and starts them where
# stopped. Fails loudly when a service still cannot be reached: the suite never
# skips a backend it was asked to test.
set -euo pipefail

PG_URL_HINT="postgresql://postgres@127.0.0.1:5432/test"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

say() { printf 'ensure-services: %s\n' "$*" >&2; }
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

apt_updated=0
apt_install() {
  if [ "$apt_updated" -eq 0 ]; then
    $SUDO apt-get update -qq
    apt_updated=1
  fi
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "$@" >/dev/null
}

wait_for_port() {
  for _ in $(seq 1 60); do
    port_open "$1" && return 0
    sleep 0.5
  done
  return 1
}

# --- PostgreSQL --------------------------------------------------------------
pg_installed_now=0
if ! command -v pg_ctlcluster >/dev/null 2>&1 || [ -z "$(ls /etc/postgresql 2>/dev/null)" ]; then
  say "installing PostgreSQL from Debian packages"
  apt_install postgresql
  pg_installed_now=1
fi
pg_version=$(ls /etc/postgresql | sort -V | tail -n 1)
if [ "$pg_installed_now" -eq 1 ]; then
  # A fresh Debian cluster asks for passwords on TCP; the tests connect as
  # postgres without one, on loopback only.
  hba="/etc/postgresql/$pg_version/main/pg_hba.conf"
  $SUDO sed -i '1i host all all 127.0.0.1/32 trust\nhost all all ::1/128 trust' "$hba"
fi
if ! port_open 5432; then
  say "starting PostgreSQL $pg_version"
  $SUDO pg_ctlcluster --skip-systemctl-redirect "$pg_version" main start || true
fi
if ! wait_for_port 5432; then
  say "PostgreSQL does not answer on 127.0.0.1:5432; see /var/log/postgresql/"
  exit 1
fi
if [ "$pg_installed_now" -eq 1 ]; then
  $SUDO pg_ctlcluster --skip-systemctl-redirect "$pg_version" main reload
fi
if ! psql -h 127.0.0.1 -U postgres -d postgres -tAc 'SELECT 1' >/dev/null 2>&1; then
  say "cannot log in to $PG_URL_HINT without a password; allow trust for 127.0.0.1 in pg_hba.conf"
  say "or point LIVECLASS_TEST_POSTGRES_URL at a database you can use"
  exit 1
fi
if [ "$(psql -h 127.0.0.1 -U postgres -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = 'test'")" != "1" ]; then
  psql -h 127.0.0.1 -U postgres -d postgres -qc 'CREATE DATABASE test' >/dev/null
fi

# --- Redis -------------------------------------------------------------------
if ! command -v redis-server >/dev/null 2>&1; then
  say "installing Redis from Debian packages"
  apt_install redis-server
fi
if ! port_open 6379; then
  say "starting Redis"
  $SUDO redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no
fi
if ! wait_for_port 6379 || [ "$(redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null)" != "PONG" ]; then
  say "Redis does not answer on 127.0.0.1:6379"
  exit 1
fi

say "PostgreSQL and Redis are up on loopback"
