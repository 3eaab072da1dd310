#!/usr/bin/env bash
# Create .venv and install the project: `setup.sh` for the main job, `setup.sh test` with the
# test tools as well (Ray, JAX, Selenium, kubectl, ruff, mypy). Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
extras=${1:+[$1]}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e ".${extras}"
