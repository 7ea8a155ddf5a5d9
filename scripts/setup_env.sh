#!/usr/bin/env bash
# Create (or reuse) .venv and install nnunet-fm with CPU-only PyTorch.
# torch and torchvision are pinned together in setup.cfg (torch 2.13.0 CPU wheel +
# torchvision 0.28.0), so the resolver never upgrades torch to a CUDA build.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
stamp=.venv/.nnunet_fm_installed
want=$(sha256sum setup.cfg | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "[setup] installing nnunet-fm and its pinned dependencies into .venv (first time: ~2-4 min)" >&2
  .venv/bin/python -m pip install -q --upgrade pip setuptools wheel
  .venv/bin/python -m pip install -q -e ".[test]"
  echo "$want" > "$stamp"
fi
