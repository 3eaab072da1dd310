"""The exported config: a trial's params, a rebuildable Keras model, metrics, provenance."""

from __future__ import annotations

import datetime as dt
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import optuna

from tuner.errors import TunerError
from tuner.execution.storage import redact
from tuner.study import record


def build_export(
    study: optuna.Study, url: str, *, trial_number: int | None = None
) -> dict[str, Any]:
    from tuner.training.backend import versions
    from tuner.training.model import build_model

    if trial_number is None:
        trial, feasible = record.best_trial(study)
        if trial is None:
            raise TunerError(f"study {study.study_name!r} has no completed trial to export")
    else:
        trial = _complete_trial(study, trial_number)
        feasible = record.is_feasible(trial)
    config = record.config(trial)
    if config is None:
        raise TunerError(f"study {study.study_name!r}: trial #{trial.number} recorded no config")
    provenance = record.Provenance.read(study)
    return {
        "study": study.study_name,
        "best_trial": trial.number,
        "feasible": feasible,
        "note": None
        if feasible
        else "no trial met the constraints; this is the best infeasible one",
        "params": trial.params,
        "config": config,
        "seed": record.seed(trial),
        "model": json.loads(build_model(config).to_json()),
        "metrics": {
            "objective": trial.value,
            **_measured(trial),
            "constraints": trial.constraints,
            "feasible": feasible,
        },
        "rules": {
            "validation_constraints": provenance.validation_constraints,
            "capstone": provenance.capstone_rules,
        },
        "provenance": {
            "optuna": optuna.__version__,
            **versions(),
            "data_digest": provenance.data_digest,
            "data": provenance.data,
            "sampler": provenance.sampler,
            "study_file": provenance.study_file,
            "storage": redact(url),
            "exported_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        },
    }


def _measured(trial: optuna.trial.FrozenTrial) -> dict[str, float | None]:
    """The trial's recorded accuracies and fit time; None where it recorded none."""
    m = record.Measurements.read(trial)
    if m is None:
        return dict.fromkeys(("val_accuracy", "train_accuracy", "gap", "fit_seconds"))
    return {
        "val_accuracy": m.val_accuracy,
        "train_accuracy": m.train_accuracy,
        "gap": m.gap,
        "fit_seconds": m.fit_seconds,
    }


def _complete_trial(study: optuna.Study, number: int) -> optuna.trial.FrozenTrial:
    """A chosen trial, e.g. the one the reporter found robust on the capstone test set."""
    matches = [t for t in study.get_trials(deepcopy=False) if t.number == number]
    if (
        not matches
        or matches[0].state != optuna.trial.TrialState.COMPLETE
        or record.config(matches[0]) is None
    ):
        raise TunerError(f"study {study.study_name!r} has no complete trial #{number} to export")
    return matches[0]


def write_json_atomically(payload: dict[str, Any], out: Path) -> None:
    """Write to a temp file beside `out`, then rename: a failure never leaves half a file."""
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(payload, f, indent=2, sort_keys=False)
            f.write("\n")
        os.replace(tmp, out)
    except BaseException:
        os.unlink(tmp)
        raise
