"""Benchmark part 1: time to a confirmed config, this product against what users would use instead.

    PYTHONPATH=. python scripts/bench_search.py
        [--arms product,optuna_tpe,optuna_random,kt_bayes,kt_hyperband] [--seeds 0,1,2]
        [--budget-seconds 300] [--workers 1] [--parallel N] [--data PATH] [--no-doc]

Every arm searches the same space (studies/mnist_mlp.toml's [space], translated through
tuner.study.space.suggest, Keras Tuner's hyperparameters included), trains on the same rows
(x_train[:6000], 5 epochs) and is measured on the same validation rows (6000-16000). An arm
passes with its first config confirmed on fresh seeds, by one rule for every arm: the rule of
mnist_mlp's [goal] (tuner.execution.goal.choose_then_confirm), retrains on the capstone split
judged by tuner.results.judge.judge: first on the choosing seeds (10000+i) at
`choose_pass_rate`, then, if chosen, on the fresh confirming seeds (20000+i) at `pass_rate`,
each stopping early once the threshold is out of reach. A peer judges each trial that passes
the validation stand-in (the study's [constraints]); the product's own workers judge its
candidates. The time counted is the wall time at confirmation; a confirmation after the budget
does not count.

Arms:
- product:       `python -m tuner.launch --study <mnist_mlp, sampler seed = SEED, [goal]
                 max_minutes = the budget> --workers N` on a fresh SQLite file, its own
                 goal-driven job (warm starts included); the arm reads `goal_verdict` from the
                 storage, its time from the launch to `confirmed_at`.
- optuna_tpe:    a plain Optuna script: TPESampler(seed), no constraints, no pruning callback,
                 maximizing validation accuracy; one trial at a time, judging inside it.
- optuna_random: the same with RandomSampler(seed).
- kt_bayes:      keras_tuner.BayesianOptimization(seed), one trial at a time.
- kt_hyperband:  keras_tuner.Hyperband(max_epochs=5, factor=3, seed); only models trained for all
                 5 epochs can pass (the capstone fixes 5 epochs).

Each (arm, seed) runs in its own process, one after another, seeds in the outer loop so slow
periods of a shared machine spread over the arms. With --parallel N (a machine with many cores),
N of them run at once, each pinned to its own CPU core, so every arm gets the same compute. An
arm with no confirmed config after --budget-seconds is stopped and counts as censored: a peer
starts no trial or judging seed after it (the one in flight finishes), the product's launcher
is stopped (Ctrl-C) at it.

The arms, the shared rule, the scheduler and the doc writer live in scripts/bench/.
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
from bench.confirm import STUDY, ArmRun, bench_goal

from tuner.study import load_study_spec


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
    ratio = doc.ratio_line(results, args.budget_seconds)
    print("\n".join(table + ([ratio] if ratio else [])))
    if not args.no_doc:
        doc.append_section(
            results,
            table,
            ratio,
            goal=bench_goal(load_study_spec(STUDY).goal),
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
