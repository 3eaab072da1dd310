"""This product: `python -m tuner.launch --study <mnist_mlp, sampler seed = SEED> --workers N` on
a fresh SQLite file. This process polls the storage and judges each feasible trial (the workers'
own stand-in check) with the capstone retrain while the workers go on.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import benchlib
import optuna
from optuna.trial import FrozenTrial, TrialState

from bench.confirm import STUDY, ArmRun, Confirmer, arm_result, elapsed
from tuner.errors import TunerError
from tuner.execution.storage import open_storage
from tuner.study.overrides import write_variant

POLL_SECONDS = 2


def run(run: ArmRun) -> dict[str, Any]:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    work = Path(tempfile.mkdtemp(prefix="bench_product_"))
    name = f"bench_{STUDY}_s{run.seed}"
    study_file = work / f"{name}.toml"
    # A budget the time limit ends first; the sampler seeded like the peers.
    write_variant(
        STUDY, {"name": name, "n_trials": 10_000, "sampler": {"seed": run.seed}}, study_file
    )
    url = f"sqlite:///{work / 'optuna.db'}"
    cmd = [sys.executable, "-m", "tuner.launch", "--study", str(study_file), "--storage", url]
    cmd += ["--workers", str(run.workers)]
    if run.data_path:
        cmd += ["--data", run.data_path]
    with (work / "launch.log").open("w") as log:  # the launcher keeps its own copy open
        proc = subprocess.Popen(
            cmd,
            cwd=work,
            env={**os.environ, "PYTHONPATH": benchlib.python_path()},
            stdout=subprocess.DEVNULL,
            stderr=log,
            start_new_session=True,
            # A shell's background job ignores SIGINT, and its children would
            # inherit that: give the launcher back its Ctrl-C.
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )
    watcher = _Watcher(name, url, run.data_path)
    try:
        while elapsed() < run.budget_seconds and proc.poll() is None and not watcher.passed:
            time.sleep(POLL_SECONDS)
            watcher.judge_new_trials()
        seconds = elapsed()
    finally:
        _stop(proc)
    trials = optuna.load_study(study_name=name, storage=open_storage(url)).get_trials(
        deepcopy=False
    )
    confirm = watcher.confirm
    started = [t for t in trials if "failed_trial" not in t.system_attrs]
    result = arm_result(
        confirm,
        trials=confirm.found["trial"] + 1 if confirm and confirm.found else len(started),
        epochs=sum(len(t.intermediate_values) for t in trials),
        seconds=seconds,
    )
    result["pruned"] = sum(t.state == TrialState.PRUNED for t in trials)
    result["launch_rc"] = proc.returncode
    return result


class _Watcher:
    """Retrains the launcher's feasible trials (the workers' stand-in check) as they finish."""

    def __init__(self, name: str, url: str, data_path: str | None) -> None:
        self.name, self.url, self.data_path = name, url, data_path
        self.judged: set[int] = set()
        self.confirm: Confirmer | None = None  # loaded once a trial needs judging

    @property
    def passed(self) -> bool:
        return bool(self.confirm and self.confirm.found)

    def judge_new_trials(self) -> None:
        """Judge each feasible trial not judged yet, in trial order, until one passes."""
        try:
            study = optuna.load_study(study_name=self.name, storage=open_storage(self.url))
        except (KeyError, TunerError):  # the launcher has not created the storage or study yet
            return
        for trial in sorted(study.get_trials(deepcopy=False), key=lambda t: t.number):
            if trial.number in self.judged or not _feasible(trial):
                continue
            self.judged.add(trial.number)
            self.confirm = self.confirm or Confirmer(self.data_path)
            attrs = trial.user_attrs
            label = f"trial {trial.number}"
            if self.confirm.capstone(attrs["config"], seed=attrs["seed"], label=label):
                self.confirm.accept(
                    attrs["config"], trial=trial.number, val_accuracy=attrs["val_accuracy"]
                )
                return


def _feasible(trial: FrozenTrial) -> bool:
    return trial.state == TrialState.COMPLETE and bool(trial.user_attrs.get("feasible"))


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """Ctrl-C the launcher's process group (workers finish their trial), then kill if stuck."""
    if proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGINT)
    try:
        proc.wait(timeout=90)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
