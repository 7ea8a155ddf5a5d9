#!/usr/bin/env bash
# Set up .venv if needed, then run the whole study on the embedded synthetic cohort
# (quick CPU profile). Results: results/runs/quick-synthetic/report.md. Rerun to resume.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup_env.sh
exec .venv/bin/nnunet-fm benchmark "$@"
