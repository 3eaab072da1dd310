"""One trial's fit on the active Keras backend: seconds per phase and epoch, validation accuracy.

    KERAS_BACKEND=jax PYTHONPATH=. python scripts/bench_backend.py [--uncompiled] [--data PATH]
    KERAS_BACKEND=tensorflow PYTHONPATH=. python scripts/bench_backend.py

Each config is trained twice as a search trial trains it (tuner.training.objective's
fit_and_measure: 5 epochs, validation on rows 6000-16000 every epoch, then the training split
evaluated), seeds 0 and 1. Tracing or compiling is the first epoch's excess (PhaseTimer).
`--uncompiled` runs the train step without XLA, as Keras chose on JAX for any model with the
image shift before tuner.training.model marked the layer compilable. Pin one core
(`taskset -c 0`) to compare backends as one worker of two sees them.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import keras
from bench.speed_variant import CONFIGS as ACCURACY_CONFIGS

from tuner.training import objective
from tuner.training.data import load_search_data
from tuner.training.timing import PhaseTimer

# Two of profile_trial's accuracy configs: the warm start and a larger net at batch 32.
CONFIGS = {
    name: {**ACCURACY_CONFIGS[name], "epochs": 5}
    for name in (
        "128 ReLU, shift 0.1, noise 0.3, dropout 0.5, batch 64",
        "512-256 ReLU, momentum 0.01, shift 0.05, L2 1e-4, batch 32",
    )
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--uncompiled", action="store_true")
    parser.add_argument("--data")
    args = parser.parse_args()
    data = load_search_data(args.data, train_rows=6000, validation_rows=(6000, 16000))
    if args.uncompiled:
        built = objective.build_model
        objective.build_model = lambda config: _uncompiled(built(config))
    mode = "uncompiled" if args.uncompiled else "as built"
    print(f"backend {keras.backend.backend()}, train step {mode}")
    for name, config in CONFIGS.items():
        for seed in (0, 1):
            timer = PhaseTimer()
            start = time.perf_counter()
            run = objective.fit_and_measure(
                config, data.train, data.validation, seed=seed, timer=timer
            )
            phases = run["timings"]
            epochs = ", ".join(f"{s:.2f}" for s in timer.steps)
            print(
                f"{name}, seed {seed}: trial {time.perf_counter() - start:.2f} s, tracing "
                f"{phases['tracing']:.2f} s, train steps per epoch [{epochs}] s, validation "
                f"{phases['validation']:.2f} s, val {run['val_accuracy']:.4f}",
                flush=True,
            )
    return 0


def _uncompiled(model: keras.Model) -> keras.Model:
    model.jit_compile = False
    return model


if __name__ == "__main__":
    sys.exit(main())
