"""Trial throughput (issue 14): where a trial's time goes, and this tree against the branch point,
side by side in one run. Prints every table and appends a section to docs/BENCHMARKS.md.

    PYTHONPATH=. python scripts/profile_trial.py [--trials 24] [--base main] [--data PATH]
        [--part profile,throughput,workers,reporter,accuracy] [--workers-list 1,2,4] [--no-doc]

profile:    one worker (1 worker = all cores) runs `--trials` mnist_mlp trials on a fresh SQLite
            study; the phases come from each trial's `timings` record (tuner/training/timing.py),
            process start and data load from a separate timed import, storage and sampler
            calls as the rest of the worker's wall time.
throughput: `tuner.launch` with each tree's default --workers, same study file, sampler seed and
            trial count, before (the merge base with --base, exported by `git archive`) and after;
            with the profile, also before at 1 worker. With 2 workers the sampler's path depends
            on timing, so the trials run differ; the time of the trials both runs trained with
            the same config and seed is compared too. With 1 worker the paths are the same.
workers:    this tree at each entry of --workers-list (default 1,2,4): N CPU workers, or gpu:K for
            --gpus all --workers-per-gpu K (a GPU box, e.g. with KERAS_BACKEND=jax:
            --part workers --workers-list 8,16,gpu:1,gpu:2,gpu:4). A run the profile or the
            throughput part already made (1 worker, the default) is not repeated.
reporter:   seconds per capstone retrain of a 4-layer config (2 seeds, determinism on), as
            `tuner.report --config` runs it (with learning curves) and as the main job's judges
            do (without), before and after.
accuracy:   5 configs x 5 seeds, validation accuracy and gap, before and after.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from io import BytesIO
from pathlib import Path
from typing import Any

import tomllib

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import benchlib

from tuner.cli import DEFAULT_WORKERS

VARIANT = Path(__file__).resolve().parent / "bench" / "speed_variant.py"
PHASES = (
    "claim_wait",
    "claim",
    "build",
    "tracing",
    "train_steps",
    "validation",
    "train_accuracy",
    "final_evaluate",
    "extra_seeds",
)


def export_base(base: str, into: Path) -> tuple[Path, str]:
    """The branch point's tree, unpacked from `git archive` (no worktree is registered)."""
    commit = subprocess.run(
        ["git", "merge-base", "HEAD", base], cwd=benchlib.ROOT, capture_output=True, text=True
    ).stdout.strip()
    archive = subprocess.run(["git", "archive", commit], cwd=benchlib.ROOT, capture_output=True)
    with tarfile.open(fileobj=BytesIO(archive.stdout)) as tar:
        tar.extractall(into, filter="data")
    return into, commit[:9]


def child_env(tree: Path, data: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "TUNER_STORAGE"}
    env["PYTHONPATH"] = str(tree)
    if data:
        env["TUNER_DATA"] = data
    return env


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def launch(tree: Path, work: Path, *, trials: int, workers: int | str | None, data: str | None):
    """Run `tuner.launch` on a fresh SQLite study with `workers` (N, "gpu:K" or the default);
    (wall s, CPU s, the study's trials)."""
    import optuna

    work.mkdir(parents=True)
    url = f"sqlite:///{work / 'optuna.db'}"
    cmd = [sys.executable, "-m", "tuner.launch", "--study", str(search_only(tree, work))]
    cmd += ["--storage", url, "--n-trials", str(trials)]
    if isinstance(workers, str) and workers.startswith("gpu:"):
        cmd += ["--gpus", "all", "--workers-per-gpu", workers.removeprefix("gpu:")]
    elif workers is not None:
        cmd += ["--workers", str(workers)]
    cpu, start = children_cpu(), time.perf_counter()
    done = subprocess.run(cmd, cwd=work, env=child_env(tree, data), capture_output=True, text=True)
    wall, cpu = time.perf_counter() - start, children_cpu() - cpu
    if done.returncode != 0:
        raise SystemExit(f"launch failed in {work}:\n{done.stderr[-2000:]}")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.load_study(study_name="mnist_mlp", storage=url)
    return wall, cpu, study.get_trials(deepcopy=False)


def search_only(tree: Path, work: Path) -> Path:
    """The tree's mnist_mlp without [goal] and warm starts: trials per minute of the search
    alone (a goal study would also judge candidates and stop at a verdict)."""
    import tomli_w

    raw = tomllib.loads((tree / "studies/mnist_mlp.toml").read_text())
    raw.pop("goal", None)
    raw.pop("warm_start", None)
    path = work / "mnist_mlp.toml"
    path.write_text(tomli_w.dumps(raw))
    return path


def variant(tree: Path, what: str, data: str | None) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, str(VARIANT), what, *(["--data", data] if data else [])],
        env=child_env(tree, data),
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise SystemExit(f"{what} failed under {tree}:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def rate(trials: int, wall: float) -> float:
    return 60 * trials / wall


def profile_table(wall: float, trials: list, startup: dict[str, float]) -> list[str]:
    from tuner.study import record

    totals = {phase: 0.0 for phase in PHASES}
    in_trial = 0.0
    for t in trials:
        timings = record.timings(t)
        for phase in PHASES:
            totals[phase] += timings.get(phase, 0.0)
        if t.datetime_complete and t.datetime_start:
            in_trial += (t.datetime_complete - t.datetime_start).total_seconds()
    objective = sum(v for k, v in totals.items() if not k.startswith("claim"))
    rows = [("process start (Python, TensorFlow, Keras import)", startup["import"])]
    rows += [("data load", startup["data_load"])]
    rows += [(phase, totals[phase]) for phase in PHASES]
    rows += [("storage and sampler calls inside trials", max(0.0, in_trial - objective))]
    accounted = sum(seconds for _, seconds in rows)
    rows += [("rest of the worker's wall (tell, launcher, study creation)", wall - accounted)]
    n = len(trials)
    return [
        *benchlib.markdown_table(
            ("phase", "total s", "per trial s", "share of wall"),
            [(name, f"{s:.1f}", f"{s / n:.2f}", f"{s / wall:.0%}") for name, s in rows],
        ),
        "",
        f"{n} trials, {wall:.1f} s wall: {rate(n, wall):.1f} trials/min (1 worker).",
    ]


def matched(before: list, after: list) -> str:
    """Trial time of the trials both runs trained with the same config and seed: the code's
    speed alone, apart from the sampler's path (with 2 workers it depends on timing)."""
    from tuner.study import record

    def durations(trials: list) -> dict[str, float]:
        return {
            json.dumps([record.config(t), record.seed(t)], sort_keys=True): (
                t.datetime_complete - t.datetime_start
            ).total_seconds()
            for t in trials
            if t.datetime_complete and t.datetime_start
        }

    old, new = durations(before), durations(after)
    common = sorted(old.keys() & new.keys())
    if not common:
        return "No trial had the same config and seed in both runs."
    b, a = sum(old[k] for k in common), sum(new[k] for k in common)
    return (
        f"{len(common)} trials had the same config and seed in both runs: {b:.0f} s before, "
        f"{a:.0f} s after, **{b / a:.2f}x**."
    )


def summary(values: list[float]) -> str:
    return f"{statistics.mean(values):.4f} ± {statistics.stdev(values):.4f}"


def accuracy_table(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    rows = []
    for name, runs in before["configs"].items():
        new = after["configs"][name]
        rows.append(
            (
                name,
                summary([r["val_accuracy"] for r in runs]),
                summary([r["val_accuracy"] for r in new]),
                summary([r["gap"] for r in runs]),
                summary([r["gap"] for r in new]),
                sum(a == b for a, b in zip(runs, new, strict=True)),
            )
        )
    header = ("config", "val acc before", "val acc after", "gap before", "gap after")
    return [
        *benchlib.markdown_table((*header, "seeds identical"), rows),
        "",
        f"25 fits: {before['seconds']:.0f} s before, {after['seconds']:.0f} s after "
        f"({before['seconds'] / after['seconds']:.2f}x).",
    ]


def reporter_table(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """`tuner.report`'s retrain (with the curves it plots) and the main job's judging (none),
    each against the before tree's; a tree without the second path judged with curves."""
    rows, ratios = [], []
    for path, label in (("report", "tuner.report"), ("judging", "main job's judges")):
        old = before.get(path, before["report"])
        new = after.get(path)
        if new is None:
            continue
        rows += [
            (f"before, {label}", f"{old['seconds_per_retrain']:.1f}", old["test_accuracies"]),
            (f"after, {label}", f"{new['seconds_per_retrain']:.1f}", new["test_accuracies"]),
        ]
        ratios.append(f"{label} **{old['seconds_per_retrain'] / new['seconds_per_retrain']:.2f}x**")
    return [
        *benchlib.markdown_table(("tree, path", "s per retrain", "test accuracies"), rows),
        "",
        "Ratio: " + ", ".join(ratios),
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trials", type=int, default=24)
    parser.add_argument("--base", default="main")
    parser.add_argument("--part", default="profile,throughput,workers,reporter,accuracy")
    parser.add_argument("--data", default=os.environ.get("TUNER_DATA"))
    parser.add_argument("--workers-list", default="1,2,4", help="N CPU workers or gpu:K")
    parser.add_argument("--no-doc", action="store_true")
    args = parser.parse_args()
    parts = set(args.part.split(","))
    load_start = benchlib.load_average()
    scratch = Path(tempfile.mkdtemp(prefix="profile_trial_"))
    after = benchlib.ROOT
    body: list[str] = []
    if parts & {"throughput", "reporter", "accuracy"}:
        before, commit = export_base(args.base, scratch / "before")
        body.append(f"Before: `{commit}` (merge base with {args.base}); after: this tree.")

    def section(title: str, lines: list[str]) -> None:
        body.extend(["", f"### {title} (load {benchlib.load_average()})", "", *lines])
        print("\n".join(body[-len(lines) - 2 :]), flush=True)

    rates: dict[str, float] = {}
    one_worker: tuple[float, float] | None = None
    w1_trials: list = []
    if "profile" in parts:
        startup = variant(after, "startup", args.data)
        wall, cpu, w1_trials = launch(
            after, scratch / "w1", trials=args.trials, workers=1, data=args.data
        )
        rates["1"] = rate(len(w1_trials), wall)
        one_worker = (rates["1"], cpu / args.trials)
        section(
            "Where a trial's time goes (this tree, 1 worker)",
            profile_table(wall, w1_trials, startup),
        )
    if "throughput" in parts:
        runs, studies = {}, {}
        for name, tree in (("before", before), ("after", after)):
            wall, cpu, studies[name] = launch(
                tree, scratch / f"default-{name}", trials=args.trials, workers=None, data=args.data
            )
            runs[name] = (rate(args.trials, wall), cpu / args.trials)
        rates[str(DEFAULT_WORKERS)] = runs["after"][0]
        lines = [matched(studies["before"], studies["after"])]
        if one_worker:
            # One worker samples the same configs in the same order in both trees (the fits are
            # identical, see the accuracy table), so this ratio is the code's alone.
            wall, cpu, trials = launch(
                before, scratch / "w1-before", trials=args.trials, workers=1, data=args.data
            )
            runs["before, 1 worker"] = (rate(args.trials, wall), cpu / args.trials)
            runs["after, 1 worker"] = one_worker
            lines.append("1 worker: " + matched(trials, w1_trials))
        section(
            "Trials per minute with the default --workers, same study file, seed and trial count",
            [
                *benchlib.markdown_table(
                    ("tree", "trials/min", "CPU s per trial"),
                    [(k, f"{r:.2f}", f"{c:.1f}") for k, (r, c) in runs.items()],
                ),
                "",
                f"Ratio after / before: **{runs['after'][0] / runs['before'][0]:.2f}x**.",
                *lines,
            ],
        )
    if "workers" in parts:
        wanted = args.workers_list.split(",")
        for workers in (w for w in wanted if w not in rates):
            wall, _, trials = launch(
                after,
                scratch / f"w{workers.replace(':', '-')}",
                trials=args.trials,
                workers=workers if workers.startswith("gpu:") else int(workers),
                data=args.data,
            )
            rates[workers] = rate(len(trials), wall)
        section(
            "Workers on this machine (this tree)",
            benchlib.markdown_table(
                ("workers", "trials/min"), [(w, f"{rates[w]:.2f}") for w in wanted]
            ),
        )
    if "reporter" in parts:
        section(
            "Reporter: seconds per capstone retrain (4 layers, 2 seeds, determinism on)",
            reporter_table(
                variant(before, "reporter", args.data), variant(after, "reporter", args.data)
            ),
        )
    if "accuracy" in parts:
        old, new = variant(before, "accuracy", args.data), variant(after, "accuracy", args.data)
        section("Same results: 5 configs x 5 seeds (mean ± std)", accuracy_table(old, new))
    if not args.no_doc:
        benchlib.append_section(
            "Issue 14: trial throughput, before and after",
            load_start=load_start,
            load_end=benchlib.load_average(),
            body=body,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
