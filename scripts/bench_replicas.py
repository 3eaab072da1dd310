"""Benchmark: K weight seeds of a config in one fit (tuner.training.replicas) against K fits.

    python -m scripts.bench_replicas --part speed [--configs 8] [--replicas 8] [--doc PATH]
    python -m scripts.bench_replicas --part choose [--configs 8] [--doc PATH]
    python -m scripts.bench_replicas --part equal [--seeds 40] [--doc PATH]

speed:  search trials as the product runs them (tuner.training.objective.Objective, mnist_mlp's
        study with [robustness] seeds = K, no pruning), the same configs (drawn from its space
        by a seeded random sampler) at K = 1 and at K, alternated: seed-fits per second of
        trial time, and the ratio.
choose: the goal's choosing round (10 capstone seeds) of the same configs, one plain fit per
        seed stopping early once 9 of 10 is out of reach (before), and all seeds in one fit
        (after): candidates judged per minute, and the ratio.
equal:  replicas against separate fits on the capstone split, the same seeds, for three configs:
        the course's capstone answer at 5 epochs, the course's section 2.3 dropout cell, and a
        config with every regularizer of the space on: mean test accuracy, the gap's mean and
        spread, and two-sample tests (Kolmogorov-Smirnov, Mann-Whitney) on test accuracy and gap.
Run it alone: it times fits, and the machine's other load shows in the figures.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import numpy as np
import optuna
from scipy import stats

from scripts.bench import doc
from scripts.bench.variants import write_variant
from tuner.judging.judge import CapstoneRetrain, Round, accuracy, judge
from tuner.results.exercises import COURSE_ANSWER
from tuner.study import DEFAULTS, load_study_spec, suggest
from tuner.training.backend import configure_worker, enable_determinism
from tuner.training.data import capstone_test, capstone_train, load_mnist, load_study_data
from tuner.training.objective import Objective, fit_and_measure
from tuner.training.replicas import per_replica_accuracy

STUDY = "mnist_mlp"
BASE = {k: v for k, v in DEFAULTS.items() if k not in ("units", "seed_repeat")}
# The configs the equality part compares on: the course's cells as written, and every
# regularizer of the space at once (each layer type the replicas re-implement).
EQUAL_CONFIGS = {
    "course capstone answer, 5 epochs": {**COURSE_ANSWER, "epochs": 5},
    "course 2.3 dropout cell": {**COURSE_ANSWER, "batch_size": 32, "epochs": 5},
    "every regularizer on": {
        **BASE,
        "layers": [256, 64],
        "n_layers": 2,
        "dropout": 0.3,
        "rescale": True,
        "input_noise": 0.2,
        "input_dropout": 0.1,
        "shift": 0.1,
        "l2": 1e-4,
        "batch_size": 64,
    },
}


def sampled_params(n: int) -> list[dict[str, Any]]:
    """n configs' params drawn from the study's space by a seeded random sampler."""
    spec = load_study_spec(STUDY)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    params = []
    for _ in range(n):
        trial = study.ask()
        suggest(trial, spec.space)
        params.append(trial.params)
        study.tell(trial, 0.0)
    return params


def speed(n_configs: int, k: int, work: Path, data_path: str | None) -> list[str]:
    rows, totals = [], {1: 0.0, k: 0.0}
    params = sampled_params(n_configs)
    overrides = {"pruner": None, "goal": None, "warm_start": None}
    specs = {
        r: write_variant(STUDY, {**overrides, "robustness": {"seeds": r}}, work / f"k{r}.toml")
        for r in (1, k)
    }
    data = load_study_data(specs[1], data_path)
    for i, p in enumerate(params):
        seconds = {}
        for r in (1, k) if i % 2 == 0 else (k, 1):  # alternated: drift hits both alike
            study = optuna.create_study(direction="maximize")
            study.enqueue_trial(p)
            start = time.perf_counter()
            study.optimize(Objective(specs[r], data), n_trials=1)
            seconds[r] = time.perf_counter() - start
            totals[r] += seconds[r]
        config = study.trials[0].user_attrs["config"]
        rows.append(
            [i, _describe(config), f"{seconds[1]:.1f}", f"{seconds[k]:.1f}",
             f"{k * seconds[1] / seconds[k]:.2f}x"]
        )  # fmt: skip
        print(rows[-1], flush=True)
    ratio = (k * n_configs / totals[k]) / (n_configs / totals[1])
    return [
        *doc.markdown_table(
            ["config", "params", "K=1 trial s", f"K={k} trial s", f"seed-fits/s ratio {k}:1"], rows
        ),
        "",
        f"Seed-fits per second of trial time: K=1 {n_configs / totals[1]:.3f}, "
        f"K={k} {k * n_configs / totals[k]:.3f}; **ratio {ratio:.2f}x**.",
    ]


def choose(n_configs: int, data_path: str | None) -> list[str]:
    raw, rules = load_mnist(data_path), load_study_spec(STUDY).capstone
    goal = load_study_spec(STUDY).goal
    assert goal is not None
    seeds = tuple(goal.choosing_seeds())
    rows, totals = [], {False: 0.0, True: 0.0}
    for i, p in enumerate(sampled_params(n_configs)):
        config = _config_of(p)
        outcome = {}
        for together in (False, True) if i % 2 == 0 else (True, False):
            start = time.perf_counter()
            [j] = judge(
                config,
                [Round("choosing", seeds, goal.choose_pass_rate, in_one_fit=together)],
                run_seeds=CapstoneRetrain(config, raw, rules, curves=False),
                label=f"config {i}",
                trial_number=None,
            )
            seconds = time.perf_counter() - start
            totals[together] += seconds
            outcome[together] = (seconds, j.passes, len(j.runs))
        (s0, p0, n0), (s1, p1, n1) = outcome[False], outcome[True]
        rows.append([i, _describe(config), f"{s0:.1f} ({p0}/{n0})", f"{s1:.1f} ({p1}/{n1})"])
        print(rows[-1], flush=True)
    per_minute = {t: 60 * n_configs / totals[t] for t in totals}
    return [
        *doc.markdown_table(
            ["config", "params", "one fit per seed: s (passed/run)", "one fit: s (passed/run)"],
            rows,
        ),
        "",
        f"Candidates judged per minute: one fit per seed {per_minute[False]:.2f}, all seeds in "
        f"one fit {per_minute[True]:.2f}; **ratio {per_minute[True] / per_minute[False]:.2f}x**.",
    ]


def equal(n_seeds: int, k: int, data_path: str | None) -> list[str]:
    raw = load_mnist(data_path)
    train, test = capstone_train(raw), capstone_test(raw)
    seeds = list(range(30000, 30000 + n_seeds))
    rows = []
    for name, config in EQUAL_CONFIGS.items():
        apart = np.array([_plain(config, train, test, s) for s in seeds])  # (n, 2): test, gap
        together = np.concatenate(
            [_together(config, train, test, seeds[i : i + k]) for i in range(0, n_seeds, k)]
        )
        ks_acc = stats.ks_2samp(apart[:, 0], together[:, 0]).pvalue
        mw_acc = stats.mannwhitneyu(apart[:, 0], together[:, 0]).pvalue
        ks_gap = stats.ks_2samp(apart[:, 1], together[:, 1]).pvalue
        mw_gap = stats.mannwhitneyu(apart[:, 1], together[:, 1]).pvalue
        rows.append(
            [
                name,
                f"{apart[:, 0].mean():.4f} / {together[:, 0].mean():.4f}",
                f"{abs(apart[:, 0].mean() - together[:, 0].mean()):.4f}",
                f"{apart[:, 1].mean():+.4f} ± {apart[:, 1].std(ddof=1):.4f} / "
                f"{together[:, 1].mean():+.4f} ± {together[:, 1].std(ddof=1):.4f}",
                f"{ks_acc:.2f}, {mw_acc:.2f}",
                f"{ks_gap:.2f}, {mw_gap:.2f}",
            ]
        )
        print(rows[-1], flush=True)
    return [
        f"{n_seeds} seeds each way (30000-{30000 + n_seeds - 1}), capstone split, replicas in "
        f"fits of {k}; separate / together:",
        "",
        *doc.markdown_table(
            [
                "config",
                "mean test accuracy",
                "difference",
                "gap mean ± std",
                "test accuracy: KS p, MW p",
                "gap: KS p, MW p",
            ],
            rows,
        ),
    ]


def _plain(config: dict[str, Any], train: Any, test: Any, seed: int) -> tuple[float, float]:
    model = fit_and_measure(config, train, None, seed=seed)["model"]
    test_acc, train_acc = accuracy(model, test), accuracy(model, train)
    return test_acc, train_acc - test_acc


def _together(config: dict[str, Any], train: Any, test: Any, seeds: list[int]) -> np.ndarray:
    model = fit_and_measure(config, train, None, seed=seeds[0], replicas=len(seeds))["model"]
    test_acc = per_replica_accuracy(model, test.x, test.y)
    train_acc = per_replica_accuracy(model, train.x, train.y)
    return np.stack([test_acc, train_acc - test_acc], axis=1)


def _config_of(params: dict[str, Any]) -> dict[str, Any]:
    spec = load_study_spec(STUDY)
    return suggest(optuna.trial.FixedTrial(params), spec.space)


def _describe(config: dict[str, Any]) -> str:
    layers = "-".join(str(w) for w in config["layers"])
    return f"{layers} {config['activation']} {config['optimizer']} b{config['batch_size']}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--part", choices=("speed", "choose", "equal"), required=True)
    parser.add_argument("--configs", type=int, default=8)
    parser.add_argument("--replicas", type=int, default=8, help="K (speed, equal)")
    parser.add_argument("--seeds", type=int, default=40, help="seeds each way (equal)")
    parser.add_argument("--data", help="local mnist.npz (default: $TUNER_DATA or download)")
    parser.add_argument("--work", type=Path, default=Path("runs/bench_replicas"))
    parser.add_argument("--doc", type=Path, help="write the section here instead of printing")
    args = parser.parse_args()
    configure_worker()  # $TUNER_THREADS, as a worker applies it
    enable_determinism()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    args.work.mkdir(parents=True, exist_ok=True)
    load_start = doc.load_average()
    if args.part == "speed":
        body = speed(args.configs, args.replicas, args.work, args.data)
    elif args.part == "choose":
        body = choose(args.configs, args.data)
    else:
        body = equal(args.seeds, args.replicas, args.data)
    title = {"speed": "trial speed", "choose": "choosing round", "equal": "same statistics"}
    doc.finish(
        f"Replicas: {title[args.part]}",
        module="scripts.bench_replicas",
        load_start=load_start,
        body=body,
        path=args.doc,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
