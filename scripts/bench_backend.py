"""One trial's fit on the active Keras backend: seconds per epoch, whole trial, validation accuracy.

    KERAS_BACKEND=jax PYTHONPATH=. python scripts/bench_backend.py [--uncompiled] [--data PATH]
    KERAS_BACKEND=tensorflow PYTHONPATH=. python scripts/bench_backend.py

Each config is built and fitted twice as a search trial fits (5 epochs, validation on rows
6000-16000 every epoch, then the training split evaluated), seeds 0 and 1; epoch 1 includes
tracing or compiling. `--uncompiled` runs the train step without XLA, as Keras chose on JAX
for any model with the image shift before tuner.training.model marked the layer compilable.
Pin one core (`taskset -c 0`) to compare backends as one worker of two sees them.
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

from tuner.training.data import load_search_data
from tuner.training.model import build_model

# Two of profile_trial's accuracy configs: the warm start and a larger net at batch 32.
CONFIGS = {
    name: {**ACCURACY_CONFIGS[name], "epochs": 5}
    for name in (
        "128 ReLU, shift 0.1, noise 0.3, dropout 0.5, batch 64",
        "512-256 ReLU, momentum 0.01, shift 0.05, L2 1e-4, batch 32",
    )
}


class EpochTimes(keras.callbacks.Callback):
    def __init__(self) -> None:
        super().__init__()
        self.seconds: list[float] = []

    def on_epoch_begin(self, epoch, logs=None):
        self.start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self.start)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--uncompiled", action="store_true")
    parser.add_argument("--data")
    args = parser.parse_args()
    data = load_search_data(args.data, train_rows=6000, validation_rows=(6000, 16000))
    mode = "uncompiled" if args.uncompiled else "as built"
    print(f"backend {keras.backend.backend()}, train step {mode}")
    for name, config in CONFIGS.items():
        for seed in (0, 1):
            keras.utils.set_random_seed(seed)
            start = time.perf_counter()
            model = build_model(config)
            if args.uncompiled:
                model.jit_compile = False
            timer = EpochTimes()
            history = model.fit(
                data.train.x,
                data.train.y,
                epochs=config["epochs"],
                batch_size=config["batch_size"],
                validation_data=(data.validation.x, data.validation.y),
                validation_batch_size=1000,
                callbacks=[timer],
                verbose=0,
            )
            model.evaluate(data.train.x, data.train.y, batch_size=1000, verbose=0)
            epochs = ", ".join(f"{s:.2f}" for s in timer.seconds)
            print(
                f"{name}, seed {seed}: trial {time.perf_counter() - start:.2f} s, "
                f"epochs [{epochs}] s, val {history.history['val_accuracy'][-1]:.4f}",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
