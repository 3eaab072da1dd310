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
from tuner.judging.records import GoalState, Verdict
from tuner.study import record


def build_export(
    study: optuna.Study, url: str, *, out: Path, trial_number: int | None = None
) -> dict[str, Any]:
    """The JSON for a trial: by default the config a goal study confirmed on fresh seeds, else
    the best candidate (marked `"verified": false`); `trial_number` exports that trial."""
    from tuner.training.backend import versions
    from tuner.training.model import build_model

    state = GoalState.read(study)
    if trial_number is not None:
        trial = _complete_trial(study, trial_number)
    elif state.verdict is not None:
        trial = _complete_trial(study, state.verdict.trial)
    else:
        trial = _best_candidate(study, state)
    config = record.config(trial)
    if config is None:
        raise TunerError(f"study {study.study_name!r}: trial #{trial.number} recorded no config")
    verdict = state.verdict_for(trial.number)
    feasible = record.is_feasible(trial)
    model = build_model(config)
    provenance = record.Provenance.read(study)
    seeds = verdict.confirm_seeds if verdict else None
    seed_arg = f" --seeds {seeds[0]}-{seeds[-1]}" if seeds else ""
    return {
        "study": study.study_name,
        "best_trial": trial.number,
        "verified": verdict is not None,
        "summary": describe_trial(trial, state),
        "verdict": None if verdict is None else _verdict_fields(verdict),
        "feasible": feasible,
        "params": trial.params,
        "config": config,
        "seed": record.seed(trial),
        # Everything plain Keras needs: keras.models.model_from_json(model), then compile and
        # fit with these settings on the course's arrays (scripts/reproduce_keras.py does).
        "model": json.loads(model.to_json()),
        "compile": {
            "optimizer": keras_serialize(model.optimizer),
            "loss": config["loss"],
            "metrics": ["accuracy"],
        },
        "fit": {"epochs": config["epochs"], "batch_size": config["batch_size"]},
        "reproduce": {
            "plain_keras": f"python scripts/reproduce_keras.py {out}{seed_arg}",
            "reporter": f"python -m tuner.report --config {out}{seed_arg or ' --seeds 20'}",
        },
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


def describe_trial(trial: optuna.trial.FrozenTrial, state: GoalState) -> str:
    """What is known of a trial, in words: on validation, and on the capstone split."""
    words = ["feasible on validation" if record.is_feasible(trial) else "infeasible on validation"]
    judging = state.judging.get(trial.number)
    rounds = (judging.choose, judging.confirm) if judging else (None, None)
    for result, what in zip(rounds, ("choosing", "fresh"), strict=True):
        if result is not None:
            words.append(f"passes {result.passes}/{result.seeds} {what} capstone seeds")
    if rounds[0] is None:
        words.append("not judged on the capstone split")
    elif state.verdict_for(trial.number) is not None:
        words.append("confirmed")
    return ", ".join(words)


def keras_serialize(optimizer: Any) -> dict[str, Any]:
    import keras

    return json.loads(json.dumps(keras.optimizers.serialize(optimizer)))


def _verdict_fields(verdict: Verdict) -> dict[str, Any]:
    confirm, choose = verdict.confirm, verdict.choose
    return {
        "pass_rate": confirm.pass_rate,
        "passes": confirm.passes,
        "seeds": confirm.seeds,
        "wilson_95": list(confirm.wilson_95),
        "confirm_seeds": verdict.confirm_seeds,
        "threads": verdict.threads,
        "rules_passed": confirm.rules_passed,
        "choose": {
            "pass_rate": choose.pass_rate,
            "passes": choose.passes,
            "seeds": choose.seeds,
            "wilson_95": list(choose.wilson_95),
            "choose_seeds": choose.seed_list,
        },
        "confirmed_at": verdict.confirmed_at,
    }


def _best_candidate(study: optuna.Study, state: GoalState) -> optuna.trial.FrozenTrial:
    """With nothing confirmed: the judged candidate that passed most choosing seeds, else the
    best trial (feasible first)."""
    judged = [(rec.choose.pass_rate, n) for n, rec in state.judging.items() if rec.choose]
    if judged:
        return _complete_trial(study, max(judged)[1])
    trial, _ = record.best_trial(study)
    if trial is None:
        raise TunerError(f"study {study.study_name!r} has no completed trial to export")
    return trial


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
