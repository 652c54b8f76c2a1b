#!/usr/bin/env bash
# Start Debian's PostgreSQL on 127.0.0.1:5432 with an empty test database for the
# store tests, then print the line to export. Needs root; safe to run twice.
#   eval "$(bash tests/store/start_postgres.sh)"   # sets TRACKER_TEST_POSTGRES_URL
set -euo pipefail
if ! command -v pg_ctlcluster >/dev/null || [ -z "$(ls /usr/lib/postgresql 2>/dev/null)" ]; then
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2
fi
version=$(ls /usr/lib/postgresql | sort -V | tail -1)
if ! pg_lsclusters -h | awk -v v="$version" '$1 == v && $2 == "main"' | grep -q .; then
    pg_createcluster "$version" main >&2
fi
pg_ctlcluster "$version" main start >&2 || pg_lsclusters -h | grep -q online
as_pg() { su postgres -c "$1"; }
for _ in $(seq 30); do as_pg "pg_isready -q -h 127.0.0.1" && break; sleep 1; done
as_pg "psql -qtAc \"SELECT 1 FROM pg_roles WHERE rolname = 'tracker'\"" | grep -q 1 \
    || as_pg "psql -qc \"CREATE ROLE tracker LOGIN PASSWORD 'tracker'\"" >&2
as_pg "psql -qtAc \"SELECT 1 FROM pg_database WHERE datname = 'tracker_test'\"" | grep -q 1 \
    || as_pg "createdb -O tracker tracker_test" >&2
echo "export TRACKER_TEST_POSTGRES_URL=postgresql://tracker:tracker@127.0.0.1:5432/tracker_test"
