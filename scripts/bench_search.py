"""Benchmark: time to a confirmed config, this product against what users would use instead.

    python -m scripts.bench_search [--arms product,optuna_tpe,optuna_random,kt_bayes,kt_hyperband]
        [--seeds 0,1,2] [--budget-seconds 900] [--workers 1] [--parallel N] [--data PATH]
        [--doc PATH]

Run from the repository root; Keras Tuner's arms need the bench extra (pip install -e '.[bench]').
Every arm (scripts/bench/arms/: this product's goal-driven launcher, plain Optuna with TPE or
random search, Keras Tuner's Bayesian optimization or Hyperband) searches studies/mnist_mlp.toml's
space on the same rows and starts from nothing: the product's study runs without its
`[[warm_start]]` configs. An arm passes with its first config confirmed on fresh seeds by one
rule, mnist_mlp's [goal] (scripts/bench/confirm.py); its time is the wall time at confirmation.

Each (arm, seed) runs in its own process, one after another, seeds in the outer loop so slow
periods of a shared machine spread over the arms; with --parallel N, N at once, each pinned to
its own CPU core. An arm with no confirmed config after --budget-seconds is stopped and counts
as censored. The figures are medians over the seeds. At the end it prints a dated markdown
section (the table, the ratio product / best peer, the product trials' overhead over their fit,
the raw results) to fold into docs/BENCHMARKS.md by hand; --doc PATH writes it to PATH instead.

Smoke test of the whole path (never for figures): under BENCH_SMOKE_ACCEPT=1 the first trial is
a candidate and the goal one seed per round at a pass rate of 0, e.g.
    BENCH_SMOKE_ACCEPT=1 python -m scripts.bench_search --arms product,optuna_tpe --seeds 0 \
        --budget-seconds 120
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from scripts.bench import doc, schedule, summary
from scripts.bench.arms import ARMS, run_arm
from scripts.bench.confirm import STUDY, ArmRun, bench_goal

MODULE = "scripts.bench_search"


def main() -> int:
    parser = argparse.ArgumentParser(
        prog=f"python -m {MODULE}", description=(__doc__ or "").split("\n")[0]
    )
    add = parser.add_argument
    add("--arms", default=",".join(ARMS))
    add("--seeds", default="0,1,2")
    add("--budget-seconds", type=float, default=900.0, help="per (arm, seed); default 900")
    add("--workers", type=int, default=1, help="product workers (default 1, as the peers run)")
    add("--data", default=os.environ.get("TUNER_DATA"))
    add("--parallel", type=int, default=1, help="(arm, seed) runs at once, one core each")
    add("--doc", type=Path, help="write the section to PATH instead of printing it")
    add("--run-one", nargs=2, metavar=("ARM", "SEED"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.data:
        args.data = os.path.abspath(args.data)  # the product's launcher runs in its own folder
    if args.run_one:
        arm, seed = args.run_one
        schedule.print_result(
            run_arm(arm, ArmRun(int(seed), args.budget_seconds, args.data, args.workers))
        )
        return 0

    arms = [a for a in args.arms.split(",") if a]
    unknown = [a for a in arms if a not in ARMS]
    if unknown:
        parser.error(f"unknown arm {unknown[0]!r}; choose from {', '.join(ARMS)}")
    seeds = [int(s) for s in args.seeds.split(",")]
    cores = len(os.sched_getaffinity(0))
    if args.parallel < 1:
        parser.error(f"--parallel must be at least 1, got {args.parallel}")
    if args.parallel > cores:
        parser.error(
            f"--parallel {args.parallel} needs as many CPU cores; this process has {cores}"
        )

    def command(arm: str, seed: int) -> list[str]:
        cmd = [sys.executable, "-m", MODULE, "--run-one", arm, str(seed)]
        cmd += ["--budget-seconds", str(args.budget_seconds), "--workers", str(args.workers)]
        return cmd + (["--data", args.data] if args.data else [])

    from tuner.study import load_study_spec

    load_start = doc.load_average()
    jobs = [(arm, seed) for seed in seeds for arm in arms]
    results = schedule.run_all(jobs, command, parallel=args.parallel)
    body = summary.body(
        results,
        goal=bench_goal(load_study_spec(STUDY).goal),
        budget=args.budget_seconds,
        seeds=seeds,
        workers=args.workers,
        parallel=args.parallel,
    )
    doc.finish(
        "Time to a confirmed config", module=MODULE, load_start=load_start, body=body, path=args.doc
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
