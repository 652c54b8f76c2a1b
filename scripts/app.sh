#!/usr/bin/env bash
# Install, load the demo patient into a local SQLite store (./tracker-data),
# and start the app on http://localhost:8501.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export TRACKER_STORE="${TRACKER_STORE:-$PWD/tracker-data}"
.venv/bin/tracker demo --samples sample_images --store "$TRACKER_STORE"
exec .venv/bin/streamlit run app.py --server.headless true "$@"
