#!/usr/bin/env bash
# Install what the project needs on a Debian machine with Python 3.11:
# system packages (python3-venv; with --test also PostgreSQL for the storage
# tests, Chromium for the browser tests and poppler-utils for the PDF report's),
# then a virtual environment in .venv with the project and its test tools.
# Safe to run again. Needs root or sudo for apt-get.
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

missing=()
python3 -c "import ensurepip, venv" 2>/dev/null || missing+=(python3-venv)
if [ "${1:-}" = "--test" ] && ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then
    missing+=(postgresql)
fi
# tests/e2e drives the app in Debian's Chromium (Playwright's own browser download is not used)
if [ "${1:-}" = "--test" ] && [ ! -x /usr/bin/chromium ]; then
    missing+=(chromium)
fi
# tests/report renders the PDF report's pages to PNG with pdftoppm
if [ "${1:-}" = "--test" ] && ! command -v pdftoppm >/dev/null; then
    missing+=(poppler-utils)
fi
if [ ${#missing[@]} -gt 0 ]; then
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
fi

if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
if [ "${1:-}" = "--test" ]; then
    .venv/bin/python -m pip install -q -e '.[test]'
else
    .venv/bin/python -m pip install -q -e .
fi
