"""Create (or extend) a study and run workers on it until its trial budget is used up.

    python -m tuner.launch --study mnist_mlp [--storage URL] [--workers N | --gpus all|0,1
                           [--workers-per-gpu K]] [--n-trials N] [--data PATH] [--create-only]

Launching a study that exists already adds --n-trials more finished trials to it.
`--create-only` creates the study and starts no worker (workers join with `python -m
tuner.worker`, e.g. from docker compose or other hosts); it leaves an existing study unchanged,
so it is safe to run again.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict

import optuna

from tuner.data import load_search_data
from tuner.errors import TunerError, run_cli
from tuner.pool import run_pool, worker_slots
from tuner.results import TARGET_ATTR, count_trials
from tuner.storage import describe_db_error, open_storage, redact, resolve_url
from tuner.studyfile import StudySpec, load_study_spec
from tuner.worker import add_worker_arguments


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
    study.set_user_attr("data", {"train_rows": spec.data.train_rows,
                                 "validation_rows": list(spec.data.validation_rows)})
    study.set_user_attr("capstone_rules", asdict(spec.capstone))
    study.set_user_attr("validation_constraints", asdict(spec.constraints))
    study.set_user_attr("sampler", json.loads(json.dumps(spec.sampler)))
    return study


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tuner.launch", description=__doc__.split("\n")[0])
    add_worker_arguments(parser)
    parser.add_argument("--n-trials", type=int, help="finished trials to add (default: the study file's)")
    parser.add_argument("--create-only", action="store_true",
                        help="create the study (if missing) and start no worker")
    args = parser.parse_args(argv)

    spec = load_study_spec(args.study)
    n_trials = spec.n_trials if args.n_trials is None else args.n_trials
    if n_trials < 1:
        raise TunerError(f"--n-trials must be at least 1, got {n_trials}")
    url = resolve_url(args.storage)
    slots = worker_slots(workers=args.workers, gpus=args.gpus, per_gpu=args.workers_per_gpu)
    # Load the data here once: a bad --data fails now, and the digest goes on the study.
    data = load_search_data(args.data, train_rows=spec.data.train_rows,
                            validation_rows=spec.data.validation_rows)
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
    return run_pool(spec, url, args.data, slots)


if __name__ == "__main__":
    run_cli(main)
