"""Benchmark of the main job: from a fresh clone, `bash scripts/quickstart.sh` until best.json.

    PYTHONPATH=. python scripts/bench_goal.py [--seeds 0,1,2] [--data mnist.npz]
                                              [--keras-seeds 50000-50009] [--no-doc]

For each sampler seed: clone this repository (its committed HEAD) into a temporary folder, set
the sampler seed of its studies/mnist_mlp.toml (through tuner.study.overrides), and run the
README's main command there, as a new user would. It records the set-up time and the job's wall
time, the trials, when the first candidate began to be judged (the progress line's clock), the
verdict written into best.json, and then retrains best.json in plain Keras on `--keras-seeds`
(scripts/reproduce_keras.py, no tuner import), seeds the job never used. Runs one after another:
they share the machine's cores, so timings are only comparable within one run of this script.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import benchlib

from tuner.study.overrides import write_variant

CLOCK = re.compile(r"\| (\d+)m(\d\d)s,")  # the progress line's elapsed time


def run_seed(seed: int, *, data: str | None, keras_seeds: str, work: Path) -> dict[str, Any]:
    clone = work / f"clone-{seed}"
    subprocess.run(["git", "clone", "--quiet", str(benchlib.ROOT), str(clone)], check=True)
    write_variant(
        str(clone / "studies/mnist_mlp.toml"),
        {"sampler": {"seed": seed}},
        clone / "studies/mnist_mlp.toml",
    )
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "TUNER_STORAGE")}
    if data:
        env["TUNER_DATA"] = data
    start = time.perf_counter()
    setup = subprocess.run(["bash", "scripts/setup.sh"], cwd=clone, env=env, capture_output=True)
    setup_seconds = time.perf_counter() - start
    if setup.returncode != 0:
        raise SystemExit(f"error: set-up failed in {clone}: {setup.stderr.decode()[-500:]}")
    start = time.perf_counter()
    job = subprocess.run(
        ["bash", "scripts/quickstart.sh"], cwd=clone, env=env, capture_output=True, text=True
    )
    job_seconds = time.perf_counter() - start
    progress = job.stderr.replace("\r", "\n").splitlines()
    judged_at = next((_clock(line) for line in progress if "choosing #" in line), None)
    best = json.loads((clone / "best.json").read_text()) if (clone / "best.json").exists() else {}
    trials = _trials(clone)
    plain = subprocess.run(
        [str(clone / ".venv/bin/python"), "scripts/reproduce_keras.py", "best.json"]
        + ["--seeds", keras_seeds, "--out", "plain.json"]
        + (["--data", data] if data else []),
        cwd=clone,
        env=env,
        capture_output=True,
        text=True,
    )
    runs = json.loads((clone / "plain.json").read_text()) if plain.returncode == 0 else []
    verdict = best.get("verdict") or {}
    return {
        "seed": seed,
        "exit": job.returncode,
        "setup_s": round(setup_seconds),
        "job_s": round(job_seconds),
        "trials": trials,
        "first_judged_s": judged_at,
        "verified": best.get("verified"),
        "trial": best.get("best_trial"),
        "confirmed": f"{verdict['passes']}/{verdict['seeds']}" if verdict else "-",
        "wilson_95": verdict.get("wilson_95"),
        "plain_keras": f"{sum(r['passed'] for r in runs)}/{len(runs)}" if runs else "failed",
        "plain_test": [round(r["test_accuracy"], 4) for r in runs],
        "plain_gap": [round(r["gap"], 4) for r in runs],
        "tail": job.stdout.strip().splitlines()[-3:],
    }


def _clock(line: str) -> int | None:
    match = CLOCK.search(line)
    return int(match[1]) * 60 + int(match[2]) if match else None


def _trials(clone: Path) -> int:
    import optuna

    storage = f"sqlite:///{clone / 'runs/optuna.db'}"
    study = optuna.load_study(study_name="mnist_mlp", storage=storage)
    return sum(t.state.is_finished() for t in study.get_trials(deepcopy=False))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", default="0,1,2", help="sampler seeds, one job each")
    parser.add_argument("--data", default=os.environ.get("TUNER_DATA"), help="local mnist.npz")
    parser.add_argument("--keras-seeds", default="50000-50009", help="plain-Keras retrain seeds")
    parser.add_argument("--keep", action="store_true", help="keep the clones")
    parser.add_argument("--no-doc", action="store_true", help="print only")
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    load_start = benchlib.load_average()
    work = Path(tempfile.mkdtemp(prefix="bench_goal_"))
    results = []
    try:
        for seed in seeds:
            results.append(run_seed(seed, data=args.data, keras_seeds=args.keras_seeds, work=work))
            print(json.dumps(results[-1]), flush=True)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    header = ["sampler seed", "exit", "set-up s", "job s", "trials", "first judged at s"]
    header += ["verified", "trial", "confirmed", "Wilson 95%", f"plain Keras ({args.keras_seeds})"]
    rows = [
        [
            r["seed"],
            r["exit"],
            r["setup_s"],
            r["job_s"],
            r["trials"],
            r["first_judged_s"],
            r["verified"],
            r["trial"],
            r["confirmed"],
            "-" if r["wilson_95"] is None else "[{:.2f}, {:.2f}]".format(*r["wilson_95"]),
            r["plain_keras"],
        ]
        for r in results
    ]
    table = benchlib.markdown_table(header, rows)
    print("\n".join(table))
    if not args.no_doc:
        body = [
            "Each row: a fresh clone, `bash scripts/quickstart.sh` with that sampler seed "
            "(set-up, then the job until best.json), then scripts/reproduce_keras.py on "
            f"best.json with seeds {args.keras_seeds}, which the job never used.",
            "",
            *table,
            "",
            "Plain-Keras test accuracies and gaps per seed: "
            + "; ".join(f"seed {r['seed']}: {r['plain_test']} / {r['plain_gap']}" for r in results),
        ]
        benchlib.append_section(
            "Main job: time to a confirmed config",
            load_start=load_start,
            load_end=benchlib.load_average(),
            body=body,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
