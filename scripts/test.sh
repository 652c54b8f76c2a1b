#!/usr/bin/env bash
# Install everything and run the whole test suite, PostgreSQL included.
# Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --test
eval "$(bash tests/store/start_postgres.sh)"
export TRACKER_REQUIRE_POSTGRES=1 TRACKER_REQUIRE_BROWSER=1
exec .venv/bin/python -m pytest "$@"
