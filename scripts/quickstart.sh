#!/usr/bin/env bash
# Set up, tune mnist_mlp with 2 workers on the embedded storage, export the best config.
# Offline? Point TUNER_DATA at a local Keras mnist.npz first.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/python -m tuner.launch --study mnist_mlp --workers "${WORKERS:-2}" "$@"
.venv/bin/python -m tuner.export --study mnist_mlp --out best.json
