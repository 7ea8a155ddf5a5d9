#!/usr/bin/env bash
# Set up .venv if needed, then run the whole test suite (CPU, ~10 min on 2 cores).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup_env.sh
exec .venv/bin/python -m pytest -q "$@"
