"""Create (or extend) a study and run workers on it until its trial budget is used up.

    python -m tuner.launch --study mnist_mlp [--storage URL] [--workers N | --gpus all|0,1
                           [--workers-per-gpu K]] [--n-trials N] [--data PATH] [--create-only]
                           [--dashboard [--dashboard-port P]]

Launching a study that exists already adds --n-trials more finished trials to it.
`--create-only` creates the study and starts no worker (workers join with `python -m
tuner.worker`, e.g. from docker compose or other hosts); it leaves an existing study unchanged,
so it is safe to run again. --dashboard serves optuna-dashboard on the same storage while the
workers run (see tuner.dashboard).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict

import optuna
import optuna_dashboard

from tuner.dashboard import DEFAULT_PORT, check_port, start_beside
from tuner.errors import TunerError, run_cli
from tuner.pool import log_dir_of, run_pool, worker_slots
from tuner.results import TARGET_ATTR, count_trials
from tuner.storage import describe_db_error, open_storage, redact, resolve_url
from tuner.studyfile import StudySpec, load_study_spec
from tuner.worker import add_worker_arguments, load_study_data


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
            direction=spec.direction,
            load_if_exists=True,
        )
    except ValueError as e:  # e.g. an existing study with another direction
        raise TunerError(f"study {spec.name!r} in {redact(url)}: {e}") from None
    if study.direction.name.lower() != spec.direction:
        raise TunerError(
            f"study {spec.name!r} exists in {redact(url)} with direction "
            f"{study.direction.name.lower()}, but {spec.path} says {spec.direction}"
        )
    if exists and not extend and TARGET_ATTR in study.user_attrs:
        return study
    finished = count_trials(study.get_trials(deepcopy=False)).finished
    study.set_user_attr(TARGET_ATTR, finished + n_trials)
    study.set_user_attr("study_file", spec.path)
    study.set_user_attr("description", spec.description)
    study.set_user_attr("data_digest", data_digest)
    held_out = ({"test_rows": spec.data.test_rows} if spec.data.evaluate_on == "test"
                else {"validation_rows": list(spec.data.validation_rows)})
    study.set_user_attr("data", {"train_rows": spec.data.train_rows,
                                 "evaluate_on": spec.data.evaluate_on, **held_out})
    study.set_user_attr("capstone_rules", asdict(spec.capstone))
    study.set_user_attr("validation_constraints", asdict(spec.constraints))
    study.set_user_attr("sampler", json.loads(json.dumps(spec.sampler)))
    study.set_metric_names([spec.metric])  # the dashboard's axes say val_accuracy, not "Objective 0"
    _write_note(study, spec, data_digest)
    return study


NOTE_HEADING = "### What this study is (written by tuner.launch)"


def study_note(spec: StudySpec, data_digest: str) -> str:
    """The study's description for the dashboard's note panel (Markdown)."""
    c, k, r = spec.constraints, spec.capstone, spec.robustness
    rows = spec.data.validation_rows
    return "\n".join([
        NOTE_HEADING,
        "",
        spec.description or "(the study file has no description)",
        "",
        f"- **Study file:** `{spec.path}`",
        f"- **Data:** MNIST digest `{data_digest}`; training rows x_train[:{spec.data.train_rows}], "
        f"validation rows {rows[0]}-{rows[1]}",
        f"- **Objective:** {spec.direction} {spec.metric}" + (
            f"; a trial within {r.margin} of feasible is re-trained on {r.extra_seeds} more seeds and "
            f"scores mean {'-' if spec.direction == 'maximize' else '+'} std" if r.extra_seeds else ""),
        f"- **Feasible during the search (validation{', worst seed' if r.extra_seeds else ''}):** "
        f"val_accuracy >= {c.min_val_accuracy}, |train - val accuracy"
        + (f" - {c.gap_offset}" if c.gap_offset else "") + f"| <= {c.max_gap}",
        f"- **Capstone rules (test set, judged by the reporter):** test accuracy >= "
        f"{k.min_test_accuracy}, |train - test accuracy| < {k.max_gap}, {k.epochs} epochs",
        "",
        "Each trial's user attributes hold train_accuracy, val_accuracy, gap, fit_seconds, "
        "feasible, config and seed; a pruned trial also has prune_reason and pruned_epoch"
        + ("; a re-trained one also seeds, val_accuracies, gaps, worst_gap and objective_bound." if r.extra_seeds else "."),
    ])


def _write_note(study: optuna.Study, spec: StudySpec, data_digest: str) -> None:
    """Set the dashboard note, unless a person has replaced ours with their own words."""
    current = optuna_dashboard.get_note(study)
    note = study_note(spec, data_digest)
    if current != note and (not current or current.startswith(NOTE_HEADING)):
        optuna_dashboard.save_note(study, note)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tuner.launch", description=__doc__.split("\n")[0])
    add_worker_arguments(parser)
    parser.add_argument("--n-trials", type=int, help="finished trials to add (default: the study file's)")
    parser.add_argument("--dashboard", action="store_true", help="serve optuna-dashboard while the workers run")
    parser.add_argument("--dashboard-port", type=int, default=DEFAULT_PORT,
                        help=f"the dashboard's port on 127.0.0.1 (default {DEFAULT_PORT})")
    parser.add_argument("--create-only", action="store_true",
                        help="create the study (if missing) and start no worker")
    args = parser.parse_args(argv)

    spec = load_study_spec(args.study)
    n_trials = spec.n_trials if args.n_trials is None else args.n_trials
    if n_trials < 1:
        raise TunerError(f"--n-trials must be at least 1, got {n_trials}")
    if args.dashboard:
        check_port(args.dashboard_port, option="--dashboard-port")
    url = resolve_url(args.storage)
    slots = worker_slots(workers=args.workers, gpus=args.gpus, per_gpu=args.workers_per_gpu)
    # Load the data here once: a bad --data fails now, and the digest goes on the study.
    data = load_study_data(spec, args.data)
    try:
        study = create_study(spec, url, n_trials=n_trials, data_digest=data.digest,
                             extend=not args.create_only)
    except TunerError:
        raise
    except Exception as e:
        raise TunerError(f"storage {redact(url)}: {describe_db_error(e, url)}") from None
    finished = count_trials(study.get_trials(deepcopy=False)).finished
    print(f"study {spec.name!r} in {redact(url)}: {finished} of {study.user_attrs[TARGET_ATTR]} "
          f"finished trials done, data {data.digest[:12]}", file=sys.stderr)
    if args.create_only:
        return 0
    if not args.dashboard:
        return run_pool(spec, url, args.data, slots)
    with start_beside(spec.path, url, port=args.dashboard_port, log_dir=log_dir_of(spec)) as link:
        print(link, file=sys.stderr)
        return run_pool(spec, url, args.data, slots)


if __name__ == "__main__":
    run_cli(main)
