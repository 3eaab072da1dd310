"""Benchmark part 3 (scripts/bench_fit.py --part bound): fit time against the compute bound.

The FLOPs of a fit (scripts/benchlib.py) over the matmul throughput measured on this machine,
for the course's dense stack at batch sizes 16-256.
"""

from __future__ import annotations

import time
from typing import Any

import benchlib

from tuner.study import DEFAULTS

# Part 3 uses the course's own dense stack (no augmentation), so matmuls dominate the work.
BOUND_CONFIG: dict[str, Any] = {
    **{k: v for k, v in DEFAULTS.items() if k != "units"},
    "layers": [256, 128],
    "n_layers": 2,
    "batch_size": 64,
    "epochs": 2,
    "rescale": True,
}


def matmul_gflops(n: int, m: int, k: int, *, seconds: float = 1.5) -> float:
    """float32 matmul throughput of TensorFlow on this machine for an (n,k) x (k,m) product."""
    import numpy as np
    import tensorflow as tf

    a = tf.constant(np.random.default_rng(0).standard_normal((n, k), dtype=np.float32))
    b = tf.constant(np.random.default_rng(1).standard_normal((k, m), dtype=np.float32))
    step = tf.function(lambda a, b: tf.reduce_sum(tf.matmul(a, b)))
    step(a, b).numpy()
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        step(a, b).numpy()
        count += 1
    return 2 * n * m * k * count / (time.perf_counter() - start) / 1e9


def part_bound(data, epochs: int, *, seed: int) -> list[str]:
    import keras

    from tuner.training.backend import intra_op_threads
    from tuner.training.model import build_model

    peak = matmul_gflops(1024, 1024, 1024)
    numpy_peak = numpy_gflops(1024)
    rows = []
    for batch in (16, 32, 64, 128, 256):
        config = {**BOUND_CONFIG, "batch_size": batch, "epochs": epochs}
        shaped = matmul_gflops(batch, 256, 784, seconds=1.0)

        class EpochTimes(keras.callbacks.Callback):
            def on_epoch_begin(self, epoch, logs=None):
                self.t = time.perf_counter()

            def on_epoch_end(self, epoch, logs=None):
                self.times.append(time.perf_counter() - self.t)

        timer = EpochTimes()
        timer.times = []
        keras.backend.clear_session()
        keras.utils.set_random_seed(seed)
        model = build_model(config)
        model.fit(
            data.train.x,
            data.train.y,
            epochs=epochs,
            batch_size=batch,
            callbacks=[timer],
            verbose=0,
        )
        epoch_s = timer.times[-1]
        flops = benchlib.fit_flops(config, samples=len(data.train), epochs=1)
        rows.append(
            [
                batch,
                f"{flops / 1e9:.2f}",
                f"{flops / peak / 1e9 * 1e3:.0f}",
                f"{shaped:.1f}",
                f"{flops / shaped / 1e9 * 1e3:.0f}",
                f"{epoch_s * 1e3:.0f}",
                f"{epoch_s / (flops / peak / 1e9):.1f}",
                f"{flops / epoch_s / 1e9:.1f}",
            ]
        )
        print("bound", rows[-1], flush=True)
    return [
        f"Course stack 784-256-128-10 ReLU, Adam, no augmentation, {len(data.train)} rows; time of "
        f"epoch {epochs} of {epochs} (tracing excluded). FLOPs = 3 x forward matmul FLOPs x rows. "
        f"Peak TF float32 matmul (1024^3): {peak:.1f} GFLOP/s; numpy: {numpy_peak:.1f} GFLOP/s. "
        f"Threads per op: {intra_op_threads() or 'TensorFlow default'}.",
        "",
        *benchlib.markdown_table(
            [
                "batch",
                "GFLOP per epoch",
                "bound at peak ms",
                "TF GFLOP/s at (batch x 784) x (784 x 256)",
                "bound at that shape ms",
                "measured epoch ms",
                "measured / peak bound",
                "achieved GFLOP/s",
            ],
            rows,
        ),
    ]


def numpy_gflops(n: int, seconds: float = 1.5) -> float:
    import numpy as np

    a = np.random.default_rng(0).standard_normal((n, n), dtype=np.float32)
    a @ a
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        a @ a
        count += 1
    return 2 * n**3 * count / (time.perf_counter() - start) / 1e9
