#!/usr/bin/env bash
# The PostgreSQL the test suite expects: a server at 127.0.0.1:5432 where `postgres` connects without
# a password (trust, loopback only) and a database `test` (or set TEST_DATABASE_URL instead). Some
# suites also start private clusters from the server binaries (test/support/private-postgres.ts).
# Idempotent: on a machine that has all this already, it changes nothing.
set -euo pipefail
url="postgres://postgres@127.0.0.1:5432/postgres"

if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  echo "ci: installing postgresql"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
fi

cluster_version="$(ls /etc/postgresql | sort -V | tail -1)"
pg_isready -h 127.0.0.1 -q || pg_ctlcluster --skip-systemctl-redirect "$cluster_version" main start

if ! psql "$url" -Atqc 'select 1' >/dev/null 2>&1; then
  # A fresh Debian cluster asks for passwords on TCP: trust loopback only, as the suite expects.
  hba="/etc/postgresql/$cluster_version/main/pg_hba.conf"
  echo "ci: trusting 127.0.0.1 in $hba"
  sed -i '1i host all all 127.0.0.1/32 trust' "$hba"
  pg_ctlcluster --skip-systemctl-redirect "$cluster_version" main reload
  for _ in $(seq 1 20); do psql "$url" -Atqc 'select 1' >/dev/null 2>&1 && break; sleep 0.5; done
fi

psql "$url" -Atqc "select 1 from pg_database where datname = 'test'" | grep -q 1 ||
  psql "$url" -qc 'create database test'
psql "postgres://postgres@127.0.0.1:5432/test" -Atqc 'select version()'
