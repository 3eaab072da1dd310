"""Create a study once, before any worker starts: trial target, provenance, dashboard note.

Only the launcher creates studies and tables: workers racing on table creation is a known
Optuna failure. An existing study gets more trials added to its target (see extend_target).
"""

from __future__ import annotations

import json
from dataclasses import asdict

import optuna
import optuna_dashboard

from tuner.errors import TunerError
from tuner.execution.budget import BudgetLock
from tuner.execution.storage import open_storage, redact
from tuner.judging.records import GoalState
from tuner.study import StudySpec, record
from tuner.study.record import count_trials


def create_study(
    spec: StudySpec, url: str, *, n_trials: int, data_digest: str, extend: bool = True
) -> optuna.Study:
    """Create or load the study once, here, before any worker starts; set its trial target.

    An existing study gets `n_trials` more finished trials if `extend`, else is left as it is.
    """
    storage = open_storage(url, create=True)
    try:
        storage.get_study_id_from_name(spec.name)
        exists = True
    except KeyError:
        exists = False
    try:
        study = optuna.create_study(
            study_name=spec.name,
            storage=storage,
            sampler=spec.make_sampler(),
            pruner=spec.make_pruner(),
            direction=optuna.study.StudyDirection[spec.direction.upper()],
            load_if_exists=True,
        )
    except ValueError as e:  # e.g. an existing study with another direction
        raise TunerError(f"study {spec.name!r} in {redact(url)}: {e}") from None
    if study.direction.name.lower() != spec.direction:
        raise TunerError(
            f"study {spec.name!r} exists in {redact(url)} with direction "
            f"{study.direction.name.lower()}, but {spec.path} says {spec.direction}"
        )
    if not exists:
        # Warm start: the study file's known-good params are the first trials, so a goal
        # study has candidates to judge within minutes (studies/mnist_mlp.toml says why).
        for params in spec.warm_start:
            study.enqueue_trial(params, skip_if_exists=True)
    if GoalState.read(study).reached:
        return study  # nothing left to search for: a config was confirmed already
    with BudgetLock(url, spec.name).hold():
        if exists and not extend and record.has_target(study):
            return study
        extend_target(study, n_trials)
    held_out = (
        {"test_rows": spec.data.test_rows}
        if spec.data.evaluate_on == "test"
        else {"validation_rows": list(spec.data.validation_rows)}
    )
    record.Provenance(
        study_file=spec.path,
        description=spec.description,
        data_digest=data_digest,
        data={"train_rows": spec.data.train_rows, "evaluate_on": spec.data.evaluate_on, **held_out},
        capstone_rules=asdict(spec.capstone),
        validation_constraints=asdict(spec.constraints),
        sampler=json.loads(json.dumps(spec.sampler)),
    ).write(study)
    # The dashboard's axes say val_accuracy, not "Objective 0".
    study.set_metric_names([spec.metric])
    write_note(study, spec, data_digest)
    return study


def extend_target(study: optuna.Study, n_trials: int) -> int:
    """Add n_trials to the study's target of finished trials; the caller holds its BudgetLock.

    The new target is max(target, finished) + n_trials: trials a running (or stopped) launch
    still owes stay owed, so two launches at once each add theirs (4 + 4 = 8, not 4), and a
    launch after a finished run adds exactly n_trials to what is done. Counting and writing
    under the lock that workers claim trials under keeps either launch from missing the other.
    """
    finished = count_trials(study.get_trials(deepcopy=False)).finished
    target = max(record.target_trials(study, 0), finished) + n_trials
    record.write_target(study, target)
    return target


NOTE_HEADING = "### What this study is (written by tuner.launch)"


def study_note(spec: StudySpec, data_digest: str, verdict: str = "") -> str:
    """The study's description for the dashboard's note panel (Markdown), and the goal's
    verdict once the launcher has one."""
    c, k, r, g = spec.constraints, spec.capstone, spec.robustness, spec.goal
    rows = spec.data.validation_rows
    return "\n".join(
        [
            NOTE_HEADING,
            "",
            spec.description or "(the study file has no description)",
            "",
            f"- **Study file:** `{spec.path}`",
            f"- **Data:** MNIST digest `{data_digest}`; "
            f"training rows x_train[:{spec.data.train_rows}], validation rows {rows[0]}-{rows[1]}",
            f"- **Objective:** {spec.direction} {spec.metric}"
            + (
                f"; each trial trains {r.seeds} weight seeds at once and scores mean "
                f"{'-' if spec.direction == 'maximize' else '+'} std"
                if r.seeds > 1
                else ""
            ),
            "- **Feasible during the search "
            f"(validation{', worst seed' if r.seeds > 1 else ''}):** "
            f"val_accuracy >= {c.min_val_accuracy}, |train - val accuracy"
            + (f" - {c.gap_offset}" if c.gap_offset else "")
            + f"| <= {c.max_gap}",
            f"- **Capstone rules (test set, judged by the reporter):** test accuracy >= "
            f"{k.min_test_accuracy}, |train - test accuracy| < {k.max_gap}, {k.epochs} epochs",
            *(
                [
                    f"- **Goal:** a config that passes the capstone on >= {g.pass_rate:.0%} of "
                    f"{g.confirm_seeds} fresh seeds, after passing >= {g.choose_pass_rate:.0%} of "
                    f"{g.choose_seeds} choosing seeds"
                    + (f", within {g.max_minutes:g} minutes" if g.max_minutes else "")
                ]
                if g
                else []
            ),
            "",
            "Each trial's user attributes hold train_accuracy, val_accuracy, gap, fit_seconds, "
            "feasible, config and seed; a pruned trial also has prune_reason and pruned_epoch"
            + (
                "; over several seeds also replicas, val_accuracies, train_accuracies, gaps, "
                "worst_gap and objective_bound."
                if r.seeds > 1
                else "."
            ),
            *(["", verdict] if verdict else []),
        ]
    )


def write_note(study: optuna.Study, spec: StudySpec, data_digest: str, verdict: str = "") -> None:
    """Set the dashboard note, unless a person has replaced ours with their own words."""
    current = optuna_dashboard.get_note(study)
    note = study_note(spec, data_digest, verdict)
    if current != note and (not current or current.startswith(NOTE_HEADING)):
        optuna_dashboard.save_note(study, note)
