"""Benchmark parts 2 and 3: orchestration overhead, Keras speed settings, fit time against the
compute bound. Everything runs in this one process, side by side, so the ratios hold even when
other work shares the cores.

    PYTHONPATH=. python scripts/bench_fit.py [--part overhead,settings,bound] [--repeats 2]
        [--epochs-bound 2] [--data PATH] [--no-doc]

overhead: one mnist_mlp trial run by the product's real worker loop (tuner.worker.run_worker on a
  fresh SQLite study with the config enqueued: budget lock, ask, heartbeat thread, TrialCallback,
  user attributes, tell) against the same config, same seed, in a plain Keras loop (build, fit
  with the validation rows, evaluate on the training rows). Robustness re-runs are switched off
  for the trial, so both sides train once. Alternated, --repeats times each; the median counts.
settings: the plain loop with Keras' defaults against one speed setting at a time: evaluation
  batch 2048 (the product's), steps_per_execution, data as tf tensors, jit_compile on/off.
  Same seed each: "results equal" means the same final validation and train accuracy.
bound: FLOPs of an epoch from the layer sizes (scripts/benchlib.fit_flops) divided by this
  machine's measured float32 matmul throughput, against the measured time of the second epoch
  (the first includes tracing), for batch sizes 16-256. `TUNER_THREADS=1` sets the threads per
  op as each of two workers has them; two such runs at once measure the fits the product runs:
      for i in 1 2; do TUNER_THREADS=1 PYTHONPATH=. python scripts/bench_fit.py --part bound \
          --no-doc & done; wait
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import os
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import benchlib
from bench.fit_bound import part_bound

# A config from the region where capstone passes live (see studies/mnist_mlp.toml's shift note).
CONFIG_PARAMS: dict[str, Any] = {
    "n_layers": 1,
    "units_1": 256,
    "activation": "relu",
    "dropout": 0.3,
    "dropout_position": "all",
    "loss": "categorical_crossentropy",
    "optimizer": "adam",
    "learning_rate": 1e-3,
    "batch_size": 64,
    "rescale": True,
    "input_noise": 0.0,
    "input_dropout": 0.0,
    "shift": 0.1,
    "l2": 0.0,
}
SEED = 1


def timed(fn: Callable[[], Any]) -> tuple[float, float, Any]:
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn()
    return time.perf_counter() - wall, time.process_time() - cpu, out


def product_config(spec) -> dict[str, Any]:
    import optuna

    from tuner.study import suggest

    trial = optuna.trial.FixedTrial(CONFIG_PARAMS)
    return suggest(trial, spec.space)


def plain_loop(
    config,
    data,
    *,
    eval_batch: int | None = None,
    steps_per_execution: int = 1,
    tensors: bool = False,
    jit_compile: Any = "auto",
) -> dict[str, float]:
    """What a user writes by hand: build, fit with validation, evaluate on the training rows."""
    import keras

    from tuner.training.model import build_model

    keras.backend.clear_session()
    keras.utils.set_random_seed(SEED)
    model = build_model(config)
    if steps_per_execution != 1 or jit_compile != "auto":
        model.compile(
            optimizer=model.optimizer,
            loss=config["loss"],
            metrics=["accuracy"],
            steps_per_execution=steps_per_execution,
            jit_compile=jit_compile,
        )
    x, y, xv, yv = data.train.x, data.train.y, data.validation.x, data.validation.y
    if tensors:
        import tensorflow as tf

        x, y, xv, yv = (tf.convert_to_tensor(a) for a in (x, y, xv, yv))
    history = model.fit(
        x,
        y,
        epochs=config["epochs"],
        batch_size=config["batch_size"],
        validation_data=(xv, yv),
        validation_batch_size=eval_batch,
        verbose=0,
    )
    train = model.evaluate(x, y, batch_size=eval_batch, verbose=0, return_dict=True)
    return {
        "val_accuracy": float(history.history["val_accuracy"][-1]),
        "train_accuracy": float(train["accuracy"]),
    }


def product_trial(spec, config, data_path: str | None) -> dict[str, float]:
    """One trial through the real worker loop, on a fresh SQLite study."""
    import optuna

    from tuner.execution.create import create_study
    from tuner.execution.loop import run_worker
    from tuner.execution.storage import open_storage
    from tuner.training.data import load_study_data

    work = Path(tempfile.mkdtemp(prefix="bench_overhead_"))
    url = f"sqlite:///{work / 'optuna.db'}"
    data = load_study_data(spec, data_path)
    study = create_study(spec, url, n_trials=1, data_digest=data.digest)
    study.enqueue_trial(CONFIG_PARAMS)
    wall, cpu, rc = timed(lambda: run_worker(spec, url, data_path))
    trial = optuna.load_study(study_name=spec.name, storage=open_storage(url)).get_trials()[0]
    assert rc == 0 and trial.state.name == "COMPLETE", (rc, trial.state)
    return {
        "worker_wall": wall,
        "worker_cpu": cpu,
        "trial_wall": (trial.datetime_complete - trial.datetime_start).total_seconds(),
        "val_accuracy": trial.user_attrs["val_accuracy"],
        "train_accuracy": trial.user_attrs["train_accuracy"],
        "seed": trial.user_attrs["seed"],
    }


def part_overhead(spec, data, data_path, repeats: int) -> list[str]:
    from tuner.training.objective import trial_seed

    global SEED
    config = product_config(spec)
    SEED = trial_seed(spec, 0, config)  # the seed the product gives trial 0
    bare, prod = [], []
    for _ in range(repeats):
        wall, cpu, out = timed(lambda: plain_loop(config, data, eval_batch=2048))
        bare.append({"wall": wall, "cpu": cpu, **out})
        prod.append(product_trial(spec, config, data_path))
        print("overhead rep:", bare[-1], prod[-1], flush=True)
    b_wall = statistics.median(r["wall"] for r in bare)
    b_cpu = statistics.median(r["cpu"] for r in bare)
    t_wall = statistics.median(r["trial_wall"] for r in prod)
    w_wall = statistics.median(r["worker_wall"] for r in prod)
    w_cpu = statistics.median(r["worker_cpu"] for r in prod)
    rows = [
        [
            "plain Keras loop (build, fit + validation, evaluate train)",
            f"{b_wall:.2f}",
            f"{b_cpu:.2f}",
            "1.00",
            f"{bare[0]['val_accuracy']:.4f} / {bare[0]['train_accuracy']:.4f}",
        ],
        [
            "product trial (storage start -> complete)",
            f"{t_wall:.2f}",
            "",
            f"{t_wall / b_wall:.2f}",
            f"{prod[0]['val_accuracy']:.4f} / {prod[0]['train_accuracy']:.4f}",
        ],
        [
            "product worker loop, whole (data load, lock, ask, heartbeat, tell)",
            f"{w_wall:.2f}",
            f"{w_cpu:.2f}",
            f"{w_wall / b_wall:.2f} (CPU {w_cpu / b_cpu:.2f})",
            "",
        ],
    ]
    print(f"overhead ratio trial/bare {t_wall / b_wall:.3f}, worker/bare {w_wall / b_wall:.3f}")
    return [
        f"Config (mnist_mlp space, trial seed {SEED}, 5 epochs, batch 64): `{config}`. "
        f"Robustness re-runs off for this trial. Medians of {repeats} alternated repeats.",
        "",
        *benchlib.markdown_table(
            ["run", "wall s", "CPU s", "ratio to plain", "val / train acc"], rows
        ),
    ]


def part_settings(spec, data) -> list[str]:
    config = product_config(spec)
    variants: list[tuple[str, dict[str, Any]]] = [
        ("Keras defaults (eval batch = 32 / fit batch)", {}),
        ("eval batch 2048 (product)", {"eval_batch": 2048}),
        ("eval 2048 + steps_per_execution 8", {"eval_batch": 2048, "steps_per_execution": 8}),
        ("eval 2048 + steps_per_execution 32", {"eval_batch": 2048, "steps_per_execution": 32}),
        ("eval 2048 + data as tf tensors", {"eval_batch": 2048, "tensors": True}),
        ("eval 2048 + jit_compile=True", {"eval_batch": 2048, "jit_compile": True}),
        ("eval 2048 + jit_compile=False", {"eval_batch": 2048, "jit_compile": False}),
        ("Keras defaults again (drift check)", {}),
    ]
    results = []
    for label, kwargs in variants:
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                wall, cpu, out = timed(functools.partial(plain_loop, config, data, **kwargs))
            if any("jit_compile" in str(w.message) for w in caught):
                label += " (Keras: model does not support it, ran without XLA)"
        except Exception as e:  # a setting this config cannot use (e.g. XLA and an op)
            results.append((label, None, None, {"error": f"{type(e).__name__}: {str(e)[:120]}"}))
            continue
        results.append((label, wall, cpu, out))
        print("setting", label, round(wall, 2), round(cpu, 2), out, flush=True)
    base_wall = statistics.mean(r[1] for r in (results[0], results[-1]) if r[1])
    base_cpu = statistics.mean(r[2] for r in (results[0], results[-1]) if r[2])
    ref = results[1][3]
    rows = []
    for label, wall, cpu, out in results:
        if wall is None:
            rows.append([label, "error", "", "", out["error"]])
            continue
        same = (
            "same"
            if (out["val_accuracy"], out["train_accuracy"])
            == (ref["val_accuracy"], ref["train_accuracy"])
            else f"differs ({out['val_accuracy']:.4f} / {out['train_accuracy']:.4f})"
        )
        rows.append(
            [
                label,
                f"{wall:.2f}",
                f"{cpu:.2f}",
                f"{wall / base_wall:.2f} (CPU {cpu / base_cpu:.2f})",
                same,
            ]
        )
    return [
        "Plain loop, same config and seed as the overhead part, one run per setting; ratio to the "
        "mean of the two Keras-defaults runs. 'Results' compares final val / train accuracy with "
        "the product's current settings (eval batch 2048).",
        "",
        *benchlib.markdown_table(
            ["setting", "wall s", "CPU s", "ratio to defaults", "results"], rows
        ),
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--part", default="overhead,settings,bound")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--epochs-bound", type=int, default=2)
    parser.add_argument("--train-rows", type=int, default=None, help="smoke tests only: fewer rows")
    parser.add_argument("--data", default=os.environ.get("TUNER_DATA"))
    parser.add_argument("--no-doc", action="store_true")
    args = parser.parse_args()

    from tuner.study import Robustness, load_study_spec
    from tuner.training.backend import configure_worker

    configure_worker()  # $TUNER_THREADS, as a worker: run two at once to see two workers' fits
    from tuner.training.data import load_study_data

    spec = load_study_spec("mnist_mlp")
    # One trial of the search: no re-runs, no warm starts, no judging of candidates.
    spec = dataclasses.replace(spec, robustness=Robustness(extra_seeds=0), goal=None, warm_start=())
    if args.train_rows:
        spec = dataclasses.replace(
            spec, data=dataclasses.replace(spec.data, train_rows=args.train_rows)
        )
    data = load_study_data(spec, args.data)
    parts = args.part.split(",")
    titles = {
        "overhead": "Part 2a: orchestration overhead",
        "settings": "Part 2b: Keras speed settings",
        "bound": "Part 3: fit time against the compute bound",
    }
    for part in parts:
        load_start = benchlib.load_average()
        if part == "overhead":
            body = part_overhead(spec, data, args.data, args.repeats)
        elif part == "settings":
            body = part_settings(spec, data)
        elif part == "bound":
            body = part_bound(data, args.epochs_bound, seed=SEED)
        else:
            parser.error(f"unknown part {part!r}")
        print("\n".join(body), flush=True)
        if not args.no_doc:
            benchlib.append_section(
                titles[part], load_start=load_start, load_end=benchlib.load_average(), body=body
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
