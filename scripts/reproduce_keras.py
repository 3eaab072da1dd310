"""Retrain an exported config in plain Keras, without the tuner package, and judge the capstone.

    python scripts/reproduce_keras.py best.json [--data mnist.npz] [--seeds 100-109]
                                      [--threads N] [--out F]

Everything comes from the JSON: the model (`keras.models.model_from_json`), the compile settings
(optimizer, loss, metrics) and the fit settings (epochs, batch size). The data definitions are
the course's, written out here as the course writes them:

    X_train = x_train.reshape(60000, 784)[:6000]    X_test = x_test.reshape(10000, 784)[:10000]
    raw 0-255 float32, labels one-hot

Per seed it prints test and train accuracy (train accuracy from predictions on X_train, dropout
off), the gap and whether the capstone rules in the JSON hold. On TensorFlow it trains with the
threads per op the verdict's judge used (`--threads` overrides): a seed's result can depend on
how a matmul's sums are split, so only the same thread count gives the same figures. This script
imports no `tuner` module on purpose: it shows that the JSON alone reproduces the result.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np


def parse_seeds(text: str) -> list[int]:
    """ "100-109" or "1,2,5" -> a list of seeds."""
    if "-" in text:
        low, high = (int(part) for part in text.split("-", 1))
        return list(range(low, high + 1))
    return [int(part) for part in text.split(",")]


def use_threads(threads: int | None) -> None:
    """Threads per TensorFlow op (and at most 2 ops at once, as the tuner's workers run); None
    leaves TensorFlow's default. Must run before TensorFlow's first op."""
    import keras

    if threads and keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(min(threads, 2))


def load_data(path: str | None):
    import keras

    if path:
        with np.load(path, allow_pickle=False) as f:
            keys = ("x_train", "y_train", "x_test", "y_test")
            x_train, y_train, x_test, y_test = (f[k] for k in keys)
    else:
        (x_train, y_train), (x_test, y_test) = keras.datasets.mnist.load_data()
    # The course's data definitions, unchanged.
    X_train = x_train.reshape(60000, 784)[:6000].astype("float32")
    X_test = x_test.reshape(10000, 784)[:10000].astype("float32")
    Y_train = keras.utils.to_categorical(y_train[:6000], 10)
    Y_test = keras.utils.to_categorical(y_test[:10000], 10)
    return X_train, Y_train, X_test, Y_test


def accuracy(model, x: np.ndarray, y: np.ndarray) -> float:
    predicted = model.predict(x, batch_size=2048, verbose=0).argmax(axis=1)
    return float((predicted == y.argmax(axis=1)).sum()) / len(x)


def run_seed(exported: dict, data, seed: int) -> dict:
    import keras

    keras.utils.set_random_seed(seed)
    model = keras.models.model_from_json(json.dumps(exported["model"]))
    if keras.backend.backend() == "jax":
        # As the tuner builds it: Keras marks RandomTranslation unfit for XLA, which only
        # TensorFlow lacks; on JAX the train step then compiles instead of running op by op.
        for layer in model.layers:
            if isinstance(layer, keras.layers.RandomTranslation):
                layer.supports_jit = True
    compile_cfg = exported["compile"]
    model.compile(
        optimizer=keras.optimizers.deserialize(compile_cfg["optimizer"]),
        loss=compile_cfg["loss"],
        metrics=compile_cfg["metrics"],
    )
    X_train, Y_train, X_test, Y_test = data
    fit_cfg = exported["fit"]
    model.fit(
        X_train, Y_train, epochs=fit_cfg["epochs"], batch_size=fit_cfg["batch_size"], verbose=0
    )
    test_acc, train_acc = accuracy(model, X_test, Y_test), accuracy(model, X_train, Y_train)
    rules = exported["rules"]["capstone"]
    gap = round(abs(train_acc - test_acc), 10)
    passed = (
        round(test_acc, 10) >= rules["min_test_accuracy"]
        and gap < rules["max_gap"]
        and fit_cfg["epochs"] == rules["epochs"]
    )
    return {
        "seed": seed,
        "test_accuracy": test_acc,
        "train_accuracy": train_acc,
        "gap": train_acc - test_acc,
        "passed": passed,
        "optimizer": type(model.optimizer).__name__,
        "learning_rate": float(model.optimizer.learning_rate),
        "layers": [layer.name for layer in model.layers],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("config", type=Path, help="an exported best.json")
    parser.add_argument("--data", help="a local Keras-layout mnist.npz (default: Keras download)")
    parser.add_argument("--seeds", default="100-109", help="e.g. 100-109 or 1,2,3")
    parser.add_argument(
        "--threads", type=int, help="threads per op (default: the verdict's, else all cores)"
    )
    parser.add_argument("--out", type=Path, help="also write the per-seed results as JSON")
    args = parser.parse_args()
    try:
        exported = json.loads(args.config.read_text())
        exported["model"], exported["compile"], exported["fit"]
    except (OSError, json.JSONDecodeError, KeyError, TypeError) as e:
        print(f"error: {args.config} is not an exported config: {e}", file=sys.stderr)
        return 2
    threads = args.threads or (exported.get("verdict") or {}).get("threads")
    if threads is not None and (type(threads) is not int or threads < 1):
        print(f"error: {args.config}: threads must be a positive integer", file=sys.stderr)
        return 2
    use_threads(threads)
    print(f"threads per op: {threads or 'TensorFlow default'}", flush=True)
    data = load_data(args.data)
    runs = []
    for seed in parse_seeds(args.seeds):
        runs.append(run_seed(exported, data, seed))
        r = runs[-1]
        print(
            f"seed {seed}: test {r['test_accuracy']:.4f} train {r['train_accuracy']:.4f} "
            f"gap {r['gap']:+.4f} {'PASS' if r['passed'] else 'fail'}",
            flush=True,
        )
    passes = sum(r["passed"] for r in runs)
    print(f"plain Keras: {passes}/{len(runs)} seeds pass the capstone")
    if args.out:
        args.out.write_text(json.dumps(runs, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
