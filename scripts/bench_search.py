"""Benchmark part 1: time to a passing config, this product against what users would use instead.

    PYTHONPATH=. python scripts/bench_search.py
        [--arms product,optuna_tpe,optuna_random,kt_bayes,kt_hyperband] [--seeds 0,1,2]
        [--budget-seconds 300] [--workers 1] [--parallel N] [--data PATH] [--no-doc]

Every arm searches the same space (studies/mnist_mlp.toml's [space], translated through
tuner.study.space.suggest, Keras Tuner's hyperparameters included), trains on the same rows
(x_train[:6000], 5 epochs) and is measured on the same validation rows (6000-16000), one trial at
a time (one worker each). An arm stops at its first config that passes the capstone rules: the
validation stand-in during the search (the study's [constraints], the same check for every arm),
then confirmed by a retrain on the capstone split judged by tuner.results.report.judge (one
seed: the trial's own). A stand-in hit that fails the retrain does not stop the arm. The time
counted is the arm's whole wall time from process start (imports, data, search, confirming
retrains).

Arms:
- product:       `python -m tuner.launch --study <mnist_mlp, sampler seed = SEED> --workers 1`
                 on a fresh SQLite file; this process polls the storage and judges each feasible
                 trial while the workers go on.
- optuna_tpe:    a plain Optuna script: TPESampler(seed), no constraints, no pruning callback,
                 maximizing validation accuracy; one trial at a time.
- optuna_random: the same with RandomSampler(seed).
- kt_bayes:      keras_tuner.BayesianOptimization(seed), one trial at a time.
- kt_hyperband:  keras_tuner.Hyperband(max_epochs=5, factor=3, seed); only models trained for all
                 5 epochs can pass (the capstone fixes 5 epochs).

Each (arm, seed) runs in its own process, one after another, seeds in the outer loop so slow
periods of a shared machine spread over the arms. With --parallel N (a machine with many cores),
N of them run at once, each pinned to its own CPU core, so every arm gets the same compute. An
arm that has not passed after --budget-seconds is stopped (peers finish the trial in flight)
and counts as censored.

The arms, the shared pass check, the scheduler and the doc writer live in scripts/bench/.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import benchlib
from bench import doc, schedule
from bench.arms import ARMS, run_arm
from bench.confirm import ArmRun


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--arms", default=",".join(ARMS))
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--budget-seconds", type=float, default=300.0)
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="product workers (default 1: the peers run one trial at a time too)",
    )
    parser.add_argument("--data", default=os.environ.get("TUNER_DATA"))
    parser.add_argument(
        "--parallel",
        type=int,
        default=1,
        help="(arm, seed) runs at once, one CPU core each (default 1: one after "
        "another with every core)",
    )
    parser.add_argument(
        "--no-doc", action="store_true", help="print only; do not append to docs/BENCHMARKS.md"
    )
    parser.add_argument("--run-one", nargs=2, metavar=("ARM", "SEED"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.data:
        args.data = os.path.abspath(args.data)  # the product's launcher runs in its own folder
    if args.run_one:
        arm, seed = args.run_one
        run = ArmRun(int(seed), args.budget_seconds, args.data, args.workers)
        schedule.print_result(run_arm(arm, run))
        return 0

    arms = [a for a in args.arms.split(",") if a]
    unknown = [a for a in arms if a not in ARMS]
    if unknown:
        parser.error(f"unknown arm {unknown[0]!r}; choose from {', '.join(ARMS)}")
    seeds = [int(s) for s in args.seeds.split(",")]
    cores = len(os.sched_getaffinity(0))
    if args.parallel < 1:
        parser.error(f"--parallel must be at least 1, got {args.parallel}")
    if args.parallel > 1 and args.parallel > cores:
        parser.error(
            f"--parallel {args.parallel} needs as many CPU cores; this process has {cores}"
        )

    def command(arm: str, seed: int) -> list[str]:
        cmd = [sys.executable, __file__, "--run-one", arm, str(seed)]
        cmd += ["--budget-seconds", str(args.budget_seconds), "--workers", str(args.workers)]
        return cmd + (["--data", args.data] if args.data else [])

    load_start = benchlib.load_average()
    jobs = [(arm, seed) for seed in seeds for arm in arms]
    results = schedule.run_all(jobs, command, parallel=args.parallel)
    load_end = benchlib.load_average()
    table = doc.summary_table(results, args.budget_seconds)
    print("\n".join(table))
    if not args.no_doc:
        doc.append_section(
            results,
            table,
            budget=args.budget_seconds,
            seeds=seeds,
            workers=args.workers,
            parallel=args.parallel,
            load_start=load_start,
            load_end=load_end,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
