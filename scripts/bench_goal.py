"""Benchmark: the main job from a fresh clone, as a new user runs it, until best.json.

    python -m scripts.bench_goal [--seeds 0,1,2] [--study-set TABLE.KEY=VALUE ...] [--in-place]
                                 [--keras-seeds 50000-50009] [--doc PATH]

For each sampler seed: clone this repository's committed HEAD into a temporary folder, set the
seed in the clone's studies/mnist_mlp.toml (and any `--study-set table.key=value`, e.g.
`capstone.min_test_accuracy=0.90` for a variant), and run the README's main command there,
`bash scripts/quickstart.sh`. `--in-place` runs the same job (2 workers) in this checkout on
the variant study file instead, without the clone and set-up: for comparing search choices.
It records the set-up and job wall times, the trials, when the first candidate was judged (the
progress line's clock), the verdict in best.json, and then retrains best.json in plain Keras on
`--keras-seeds`, seeds the job never used (scripts/reproduce_keras.py, which imports no tuner
code). Runs go one after another; run it alone: the job's wall time is the figure.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import tomllib

from scripts.bench import doc
from scripts.bench.variants import write_variant

CLOCK = re.compile(r"\| (\d+)m(\d\d)s,")  # the progress line's elapsed time


def run_seed(
    seed: int, overrides: dict[str, Any], *, keras_seeds: str, work: Path, in_place: bool
) -> dict[str, Any]:
    """One run of the main job with this sampler seed: from a fresh clone (set-up included), or
    with `in_place` in this checkout, on a variant study file in a folder of its own."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "TUNER_STORAGE")}
    folder = work / f"run-{seed}"
    setup_seconds: float | None = None
    if in_place:
        folder.mkdir(parents=True)
        study = folder / "mnist_mlp.toml"
        write_variant("mnist_mlp", {**overrides, "sampler": {"seed": seed}}, study)
        python, env["PYTHONPATH"] = sys.executable, str(doc.ROOT)
        job_command = [python, "-m", "tuner.launch", "--study", str(study), "--workers", "2"]
        export = [python, "-m", "tuner.export", "--study", str(study), "--out", "best.json"]
        reproduce = [python, str(doc.ROOT / "scripts/reproduce_keras.py")]
    else:
        subprocess.run(["git", "clone", "--quiet", str(doc.ROOT), str(folder)], check=True)
        study = folder / "studies/mnist_mlp.toml"
        write_variant(str(study), {**overrides, "sampler": {"seed": seed}}, study)
        start = time.perf_counter()
        setup = subprocess.run(
            ["bash", "scripts/setup.sh"], cwd=folder, env=env, capture_output=True
        )
        setup_seconds = time.perf_counter() - start
        if setup.returncode != 0:
            raise SystemExit(f"error: set-up failed in {folder}: {setup.stderr.decode()[-500:]}")
        job_command, export = ["bash", "scripts/quickstart.sh"], []
        reproduce = [str(folder / ".venv/bin/python"), "scripts/reproduce_keras.py"]
    start = time.perf_counter()
    job = subprocess.run(job_command, cwd=folder, env=env, capture_output=True, text=True)
    job_seconds = time.perf_counter() - start
    if export:
        subprocess.run(export, cwd=folder, env=env, capture_output=True, check=False)
    progress = job.stderr.replace("\r", "\n").splitlines()
    judged_at = next((_clock(line) for line in progress if "choosing #" in line), None)
    trials = next((line for line in reversed(progress) if " done: " in line), "")
    best = json.loads((folder / "best.json").read_text()) if (folder / "best.json").exists() else {}
    plain = subprocess.run(
        [*reproduce, "best.json", "--seeds", keras_seeds, "--out", "plain.json"]
        + (["--data", env["TUNER_DATA"]] if env.get("TUNER_DATA") else []),
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
    )
    runs = json.loads((folder / "plain.json").read_text()) if plain.returncode == 0 else []
    verdict = best.get("verdict") or {}
    lo, hi = verdict.get("wilson_95") or (None, None)
    return {
        "seed": seed,
        "exit": job.returncode,
        "setup s": round(setup_seconds) if setup_seconds is not None else "-",
        "job s": round(job_seconds),
        "trials": (m.group(1) if (m := re.search(r"(\d+)/\d+ done", trials)) else "?"),
        "first judged s": judged_at if judged_at is not None else "-",
        "trial": best.get("best_trial", "-"),
        "confirmed": f"{verdict['passes']}/{verdict['seeds']}" if verdict else "not confirmed",
        "Wilson 95%": f"[{lo:.2f}, {hi:.2f}]" if verdict else "-",
        "plain Keras": f"{sum(r['passed'] for r in runs)}/{len(runs)}" if runs else "-",
    }


def _clock(line: str) -> int | None:
    found = CLOCK.search(line)
    return int(found.group(1)) * 60 + int(found.group(2)) if found else None


def parse_sets(pairs: list[str]) -> dict[str, Any]:
    """`table.key=value` (value in TOML) -> {"table": {"key": value}}."""
    overrides: dict[str, Any] = {}
    for pair in pairs:
        key, _, value = pair.partition("=")
        table, _, name = key.rpartition(".")
        parsed = tomllib.loads(f"v = {value}")["v"]
        (overrides.setdefault(table, {}) if table else overrides)[name] = parsed
    return overrides


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", default="0,1,2", help="sampler seeds, one fresh clone each")
    parser.add_argument("--study-set", action="append", default=[], metavar="TABLE.KEY=VALUE")
    parser.add_argument("--keras-seeds", default="50000-50009")
    parser.add_argument(
        "--in-place",
        action="store_true",
        help="run in this checkout on a variant study file, without a clone and set-up",
    )
    parser.add_argument("--doc", type=Path, help="write the section here instead of printing")
    args = parser.parse_args()
    if not os.environ.get("TUNER_DATA"):
        print("note: no TUNER_DATA; each clone downloads MNIST through Keras", file=sys.stderr)
    overrides = parse_sets(args.study_set)
    load_start = doc.load_average()
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-goal-") as tmp:
        for seed in (int(s) for s in args.seeds.split(",")):
            row = run_seed(
                seed,
                overrides,
                keras_seeds=args.keras_seeds,
                work=Path(tmp),
                in_place=args.in_place,
            )
            rows.append(row)
            print(rows[-1], flush=True)
    variant = ", ".join(args.study_set) or "the shipped studies/mnist_mlp.toml"
    body = [
        f"Study: {variant}; plain Keras on seeds {args.keras_seeds}.",
        "",
        *doc.markdown_table(list(rows[0]), [list(r.values()) for r in rows]),
    ]
    doc.finish(
        "Main job from a fresh clone",
        module="scripts.bench_goal",
        load_start=load_start,
        body=body,
        path=args.doc,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
