#!/usr/bin/env bash
# Set up (if needed) and run the whole test suite. CI runs exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export TUNER_DATA=${TUNER_DATA:-$(cd .. && pwd)/shared/data/mnist.npz}
exec .venv/bin/python -m pytest "$@"
