#!/usr/bin/env bash
# Set up with the test tools (if needed) and run the whole test suite. CI runs exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh test
# The shared MNIST file beside the repository where there is one; else Keras's download (cached
# in ~/.keras/datasets), as the product does.
shared="$(cd .. && pwd)/shared/data/mnist.npz"
if [ -z "${TUNER_DATA:-}" ] && [ -f "$shared" ]; then
  export TUNER_DATA=$shared
fi
exec .venv/bin/python -m pytest "$@"
