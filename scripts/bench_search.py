"""Benchmark part 1: time to a passing config, this product against what users would use instead.

    PYTHONPATH=. python scripts/bench_search.py [--arms product,optuna_tpe,optuna_random,kt_bayes,kt_hyperband]
        [--seeds 0,1,2] [--budget-seconds 300] [--parallel N] [--data PATH] [--no-doc]

Every arm searches the same space (studies/mnist_mlp.toml's [space], translated through
tuner.study.space.suggest, Keras Tuner's hyperparameters included), trains on the same rows
(x_train[:6000], 5 epochs) and is measured on the same validation rows (6000-16000), one trial at
a time (one worker each). An arm stops at its first config that passes the capstone rules: the
validation stand-in during the search (the study's [constraints], the same check for every arm),
then confirmed by a
retrain on the capstone split judged by tuner.report.judge (one seed: the trial's own). A
stand-in hit that fails the retrain does not stop the arm. The time counted is the arm's whole
wall time from process start (imports, data, search, confirming retrains).

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
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import benchlib

ARMS = ("product", "optuna_tpe", "optuna_random", "kt_bayes", "kt_hyperband")
STUDY = "mnist_mlp"
START = time.perf_counter()
# Smoke test of the stop path only: every trial counts as passing (never for figures).
SMOKE = os.environ.get("BENCH_SMOKE_ACCEPT") == "1"


def elapsed() -> float:
    return time.perf_counter() - START


class Confirmer:
    """Stand-in check, then the capstone retrain; shared by every arm."""

    def __init__(self, data_path: str | None) -> None:
        from tuner.study import load_study_spec
        from tuner.training.data import load_mnist, load_study_data

        self.spec = load_study_spec(STUDY)
        self.data = load_study_data(self.spec, data_path)
        self.raw = load_mnist(data_path)
        self.retrains: list[dict[str, Any]] = []

    def stand_in(self, *, val_accuracy: float, gap: float) -> bool:
        c = self.spec.constraints
        if SMOKE:
            return True
        return c.margin(val_accuracy, gap) >= 0

    def capstone(self, config: dict[str, Any], *, seed: int, label: str) -> bool:
        from tuner.results.report import judge

        j = judge(
            config,
            label=label,
            trial_number=None,
            raw=self.raw,
            seeds=[seed],
            rules=self.spec.capstone,
            threshold=1.0,
        )
        run = j.runs[0]
        self.retrains.append(
            {
                "label": label,
                "test_accuracy": run.test_accuracy,
                "train_accuracy": run.train_accuracy,
                "passed": run.passed,
                "at_seconds": round(elapsed(), 1),
            }
        )
        return j.robust or SMOKE


# --- plain Optuna --------------------------------------------------------------------------


def run_optuna(
    sampler_name: str, seed: int, budget: float, data_path: str | None
) -> dict[str, Any]:
    import keras
    import optuna

    from tuner.study import suggest
    from tuner.training.objective import fit_and_measure

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    confirm = Confirmer(data_path)
    sampler = (
        optuna.samplers.TPESampler(seed=seed)
        if sampler_name == "tpe"
        else optuna.samplers.RandomSampler(seed=seed)
    )
    study = optuna.create_study(direction="maximize", sampler=sampler)
    found: dict[str, Any] = {}
    epochs = 0

    def objective(trial: optuna.Trial) -> float:
        nonlocal epochs
        config = suggest(trial, confirm.spec.space)
        keras.backend.clear_session()
        result = fit_and_measure(
            config, confirm.data.train, confirm.data.validation, seed=seed + trial.number
        )
        epochs += config["epochs"]
        if confirm.stand_in(val_accuracy=result["val_accuracy"], gap=result["gap"]):
            if confirm.capstone(config, seed=seed + trial.number, label=f"trial {trial.number}"):
                found.update(trial=trial.number, config=config, val_accuracy=result["val_accuracy"])
                trial.study.stop()
        return result["val_accuracy"]

    def over_budget(study: optuna.Study, _trial) -> None:
        if elapsed() > budget:
            study.stop()

    study.optimize(objective, callbacks=[over_budget], gc_after_trial=True)
    return _result(found, trials=len(study.trials), epochs=epochs, confirm=confirm)


# --- Keras Tuner ---------------------------------------------------------------------------


class _HpTrial:
    """Lets tuner.study.space.suggest sample from a Keras Tuner HyperParameters: same space, no copy."""

    def __init__(self, hp) -> None:
        self.hp = hp

    def suggest_categorical(self, name: str, choices: list) -> Any:
        value = self.hp.Choice(name, choices)
        # Keras Tuner stores booleans as 0/1; give the model builder the study's type back.
        return bool(value) if all(isinstance(c, bool) for c in choices) else value

    def suggest_int(
        self, name: str, low: int, high: int, *, step: int = 1, log: bool = False
    ) -> int:
        return self.hp.Int(name, low, high, step=step, sampling="log" if log else "linear")

    def suggest_float(
        self, name: str, low: float, high: float, *, step=None, log: bool = False
    ) -> float:
        return self.hp.Float(name, low, high, step=step, sampling="log" if log else "linear")


def run_keras_tuner(kind: str, seed: int, budget: float, data_path: str | None) -> dict[str, Any]:
    import keras
    import keras_tuner as kt

    from tuner.study import suggest
    from tuner.training.callbacks import EVAL_BATCH
    from tuner.training.model import build_model

    confirm = Confirmer(data_path)
    found: dict[str, Any] = {}
    counts = {"trials": 0, "epochs": 0}

    class Stop(kt.errors.FatalError):
        pass

    class Mlp(kt.HyperModel):
        def build(self, hp):
            if elapsed() > budget:
                raise Stop("budget")
            config = suggest(_HpTrial(hp), confirm.spec.space)
            keras.utils.set_random_seed(seed + counts["trials"])
            return build_model(config)

        def fit(self, hp, model, x, y, validation_data=None, callbacks=None, **kwargs):
            config = suggest(_HpTrial(hp), confirm.spec.space)
            counts["trials"] += 1
            train_seed = seed + counts["trials"] - 1
            last = int(kwargs.get("epochs", config["epochs"]))
            first = int(kwargs.get("initial_epoch", 0))
            history = model.fit(
                x,
                y,
                batch_size=config["batch_size"],
                epochs=last,
                initial_epoch=first,
                validation_data=validation_data,
                validation_batch_size=EVAL_BATCH,
                callbacks=callbacks,
                verbose=0,
            )
            counts["epochs"] += last - first
            val_accuracy = float(history.history["val_accuracy"][-1])
            if last == config["epochs"]:  # only fully trained models can pass a 5-epoch capstone
                train_acc = float(
                    model.evaluate(x, y, batch_size=EVAL_BATCH, verbose=0, return_dict=True)[
                        "accuracy"
                    ]
                )
                if confirm.stand_in(val_accuracy=val_accuracy, gap=train_acc - val_accuracy):
                    if confirm.capstone(
                        config, seed=train_seed, label=f"kt trial {counts['trials']}"
                    ):
                        found.update(
                            trial=counts["trials"] - 1, config=config, val_accuracy=val_accuracy
                        )
                        raise Stop("passed")
            return {"val_accuracy": val_accuracy}

    directory = tempfile.mkdtemp(prefix="bench_kt_")
    common = dict(
        objective=kt.Objective("val_accuracy", "max"),
        seed=seed,
        directory=directory,
        project_name=kind,
        overwrite=True,
    )
    if kind == "kt_bayes":
        tuner = kt.BayesianOptimization(Mlp(), max_trials=10_000, **common)
    else:
        tuner = kt.Hyperband(
            Mlp(),
            max_epochs=confirm.spec.space["epochs"].value,
            factor=3,
            hyperband_iterations=1000,
            **common,
        )
    train, validation = confirm.data.train, confirm.data.validation
    try:
        tuner.search(train.x, train.y, validation_data=(validation.x, validation.y), verbose=0)
    except Stop:
        pass
    return _result(found, trials=counts["trials"], epochs=counts["epochs"], confirm=confirm)


# --- this product --------------------------------------------------------------------------


def run_product(seed: int, budget: float, data_path: str | None, workers: int) -> dict[str, Any]:
    import optuna

    from tuner.execution.storage import open_storage
    from tuner.study import resolve_study_path

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    work = Path(tempfile.mkdtemp(prefix="bench_product_"))
    text = resolve_study_path(STUDY).read_text()
    name = f"bench_{STUDY}_s{seed}"
    text = re.sub(r'^name = ".*"$', f'name = "{name}"', text, count=1, flags=re.M)
    text = re.sub(r"^seed = \d+$", f"seed = {seed}", text, count=1, flags=re.M)
    study_file = work / f"{name}.toml"
    study_file.write_text(text)
    url = f"sqlite:///{work / 'optuna.db'}"
    env = {**os.environ, "PYTHONPATH": benchlib.python_path()}
    cmd = [
        sys.executable,
        "-m",
        "tuner.launch",
        "--study",
        str(study_file),
        "--storage",
        url,
        "--workers",
        str(workers),
        "--n-trials",
        "10000",
    ]
    if data_path:
        cmd += ["--data", data_path]
    proc = subprocess.Popen(
        cmd,
        cwd=work,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=open(work / "launch.log", "w"),
        start_new_session=True,
        # A shell's background job ignores SIGINT, and its children would
        # inherit that: give the launcher back its Ctrl-C.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    confirm = None
    judged: set[int] = set()
    found: dict[str, Any] = {}
    trials = epochs = 0
    try:
        while elapsed() < budget and proc.poll() is None and not found:
            time.sleep(2)
            try:
                study = optuna.load_study(study_name=name, storage=open_storage(url))
            except Exception:  # not created yet
                continue
            done = study.get_trials(deepcopy=False)
            for t in sorted(done, key=lambda t: t.number):
                if t.state != optuna.trial.TrialState.COMPLETE or t.number in judged:
                    continue
                if not t.user_attrs.get("feasible"):
                    continue
                judged.add(t.number)
                if confirm is None:
                    confirm = Confirmer(data_path)
                config = t.user_attrs["config"]
                if confirm.capstone(config, seed=t.user_attrs["seed"], label=f"trial {t.number}"):
                    found.update(
                        trial=t.number, config=config, val_accuracy=t.user_attrs["val_accuracy"]
                    )
                    break
        seconds = elapsed()
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGINT)
            try:
                proc.wait(timeout=90)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
    study = optuna.load_study(study_name=name, storage=open_storage(url))
    all_trials = study.get_trials(deepcopy=False)
    started = [t for t in all_trials if "failed_trial" not in t.system_attrs]
    epochs = sum(len(t.intermediate_values) for t in all_trials)
    trials = (found["trial"] + 1) if found else len(started)
    result = _result(found, trials=trials, epochs=epochs, confirm=confirm, seconds=seconds)
    result["pruned"] = sum(t.state == optuna.trial.TrialState.PRUNED for t in all_trials)
    result["launch_rc"] = proc.returncode
    return result


def _result(
    found: dict[str, Any],
    *,
    trials: int,
    epochs: int,
    confirm: Confirmer | None,
    seconds: float | None = None,
) -> dict[str, Any]:
    return {
        "passed": bool(found),
        "seconds": round(elapsed() if seconds is None else seconds, 1),
        "trials": trials,
        "epochs": epochs,
        "found": found,
        "retrains": confirm.retrains if confirm else [],
    }


# --- driver --------------------------------------------------------------------------------


def run_one(
    arm: str, seed: int, budget: float, data_path: str | None, workers: int
) -> dict[str, Any]:
    if arm == "product":
        return run_product(seed, budget, data_path, workers)
    if arm in ("optuna_tpe", "optuna_random"):
        return run_optuna(arm.split("_")[1], seed, budget, data_path)
    return run_keras_tuner(arm, seed, budget, data_path)


def _collect(arm: str, seed: int, stdout: str, stderr: str, load_before: str) -> dict[str, Any]:
    line = next((l for l in stdout.splitlines() if l.startswith("RESULT ")), None)
    if line is None:
        print(stdout[-2000:], stderr[-4000:], file=sys.stderr)
        result = {
            "passed": False,
            "seconds": float("nan"),
            "trials": 0,
            "epochs": 0,
            "found": {},
            "retrains": [],
            "error": stderr.strip().splitlines()[-1:],
        }
    else:
        result = json.loads(line[len("RESULT ") :])
    result.update(seed=seed, load_before=load_before)
    print(
        f"{arm:14s} seed {seed}: {'PASS' if result['passed'] else 'no pass'} "
        f"{result['seconds']:.0f} s, {result['trials']} trials, {result['epochs']} epochs, "
        f"retrains {[(r['test_accuracy'], r['train_accuracy']) for r in result['retrains']]}",
        flush=True,
    )
    return result


def median_or_censored(runs: list[dict[str, Any]], key: str, budget: float) -> str:
    values = sorted(r[key] if r["passed"] else float("inf") for r in runs)
    med = statistics.median(values)
    if med == float("inf"):
        return f"> {budget:.0f} s budget" if key == "seconds" else "not reached"
    return f"{med:.0f}" if key == "seconds" else f"{med:g}"


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
        print(
            "RESULT "
            + json.dumps(run_one(arm, int(seed), args.budget_seconds, args.data, args.workers))
        )
        return 0

    arms = [a for a in args.arms.split(",") if a]
    unknown = [a for a in arms if a not in ARMS]
    if unknown:
        parser.error(f"unknown arm {unknown[0]!r}; choose from {', '.join(ARMS)}")
    seeds = [int(s) for s in args.seeds.split(",")]
    load_start = benchlib.load_average()
    jobs = [(arm, seed) for seed in seeds for arm in arms]
    cores = sorted(os.sched_getaffinity(0))
    if args.parallel < 1:
        parser.error(f"--parallel must be at least 1, got {args.parallel}")
    if args.parallel > 1 and args.parallel > len(cores):
        parser.error(
            f"--parallel {args.parallel} needs as many CPU cores; this process has {len(cores)}"
        )
    results: dict[str, list[dict[str, Any]]] = {a: [] for a in arms}
    running: dict[int, tuple] = {}  # core slot -> (arm, seed, process, (stdout, stderr), load)
    free = list(range(args.parallel))
    while jobs or running:
        while jobs and free:
            arm, seed = jobs.pop(0)
            slot = free.pop(0)
            cmd = [
                sys.executable,
                __file__,
                "--run-one",
                arm,
                str(seed),
                "--budget-seconds",
                str(args.budget_seconds),
                "--workers",
                str(args.workers),
            ]
            if args.data:
                cmd += ["--data", args.data]
            pin = {cores[slot]} if args.parallel > 1 else None
            # Files, not pipes: a child that fills a pipe nobody reads yet would stall.
            out, err = tempfile.TemporaryFile("w+"), tempfile.TemporaryFile("w+")
            proc = subprocess.Popen(
                cmd,
                stdout=out,
                stderr=err,
                text=True,
                env={**os.environ, "PYTHONPATH": benchlib.python_path()},
                preexec_fn=(lambda pin=pin: os.sched_setaffinity(0, pin)) if pin else None,
            )
            running[slot] = (arm, seed, proc, (out, err), benchlib.load_average())
        time.sleep(1)
        for slot, (arm, seed, proc, (out, err), load_before) in list(running.items()):
            if proc.poll() is None:
                continue
            del running[slot]
            free.append(slot)
            out.seek(0), err.seek(0)
            results[arm].append(_collect(arm, seed, out.read(), err.read(), load_before))
            out.close(), err.close()
    for runs in results.values():
        runs.sort(key=lambda r: r["seed"])
    load_end = benchlib.load_average()

    rows = []
    for arm in arms:
        runs = results[arm]
        rows.append(
            [
                arm,
                f"{sum(r['passed'] for r in runs)}/{len(runs)}",
                median_or_censored(runs, "seconds", args.budget_seconds),
                median_or_censored(runs, "trials", args.budget_seconds),
                "; ".join(
                    f"s{r['seed']}: {'%.0f s, %d trials' % (r['seconds'], r['trials'])}"
                    f"{' PASS' if r['passed'] else ' (censored)'}"
                    for r in runs
                ),
            ]
        )
    table = benchlib.markdown_table(
        ["arm", "passed", "median wall s to pass", "median trials to pass", "per seed"], rows
    )
    print("\n".join(table))
    details = {
        arm: [
            {
                k: r[k]
                for k in (
                    "seed",
                    "passed",
                    "seconds",
                    "trials",
                    "epochs",
                    "found",
                    "retrains",
                    "load_before",
                )
            }
            for r in runs
        ]
        for arm, runs in results.items()
    }
    if not args.no_doc:
        body = [
            f"Budget per (arm, seed): {args.budget_seconds:.0f} s wall, seeds {seeds}; product with "
            f"{args.workers} worker(s), the peers one trial at a time in one process; "
            + (
                f"{args.parallel} runs at once, each pinned to one CPU core. "
                if args.parallel > 1
                else "one run at a time. "
            )
            + "Censored runs (no passing config within the budget) count as infinite in the median.",
            "",
            *table,
            "",
            "<details><summary>Raw results (retrains are the capstone confirmations)</summary>",
            "",
            "```json",
            json.dumps(details, indent=1, default=str),
            "```",
            "</details>",
        ]
        benchlib.append_section(
            "Part 1: time to a passing config", load_start=load_start, load_end=load_end, body=body
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
