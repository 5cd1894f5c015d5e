#!/usr/bin/env bash
# A PostgreSQL server on loopback for the cluster example (and for trying @arbor/cluster on Postgres):
# installs Debian's `postgresql` when missing, starts its cluster, makes a role `arbor` with a password and its
# database `arbor`. Idempotent: fast when all is done already. Needs root (or sudo) and apt-get.
#
#   bash scripts/postgres.sh            prints the URL to pass as --store
set -euo pipefail
password="${ARBOR_PG_PASSWORD:-arbor}"
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

if ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then
  command -v apt-get >/dev/null || { echo "install PostgreSQL's server (Debian: apt-get install postgresql)" >&2; exit 1; }
  as_root apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -q postgresql >/dev/null
fi
version="$(ls /etc/postgresql | sort -n | tail -1)"
port="$(awk '$1 == "port" { print $3 }' "/etc/postgresql/$version/main/postgresql.conf")"
as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start >/dev/null 2>&1 || true
psql() { as_root runuser -u postgres -- psql -p "$port" -qtA "$@"; }
if [ "$(psql -c "SELECT 1 FROM pg_roles WHERE rolname = 'arbor'")" != 1 ]; then
  psql -c "CREATE ROLE arbor LOGIN PASSWORD '$password'"
fi
if [ "$(psql -c "SELECT 1 FROM pg_database WHERE datname = 'arbor'")" != 1 ]; then
  psql -c "CREATE DATABASE arbor OWNER arbor"
fi
psql -c "ALTER DATABASE arbor OWNER TO arbor"
echo "postgres://arbor:$password@127.0.0.1:$port/arbor"
