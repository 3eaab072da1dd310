#!/usr/bin/env bash
# The main job: set up, tune mnist_mlp until a config is confirmed on fresh capstone seeds (its
# [goal]), then export it to best.json with its verdict. Offline? Point TUNER_DATA at a local
# Keras mnist.npz first. Exit code: 0 confirmed; 1 the budget ran out first (best.json then
# holds the best candidate, "verified": false); 2 bad input; 130 stopped with Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
status=0
.venv/bin/python -m tuner.launch --study mnist_mlp --workers "${WORKERS:-2}" "$@" || status=$?
if [ "$status" -le 1 ]; then
  .venv/bin/python -m tuner.export --study mnist_mlp --out best.json
fi
exit "$status"
