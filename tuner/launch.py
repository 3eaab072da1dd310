"""Create (or extend) a study and run workers on it until its trial budget is used up.

    python -m tuner.launch --study mnist_mlp [--storage URL] [--workers N | --gpus all|0,1
                           [--workers-per-gpu K]] [--n-trials N] [--data PATH] [--create-only]
                           [--dashboard [--dashboard-port P]]
                           [--ray auto|local|ray://HOST:PORT [--cpus-per-worker C]
                           [--gpus-per-worker G]]

Launching a study that exists already adds --n-trials more finished trials to it.
`--create-only` creates the study and starts no worker (workers join with `python -m
tuner.worker`, e.g. from docker compose or other hosts); it leaves an existing study unchanged,
so it is safe to run again. --dashboard serves optuna-dashboard on the same storage while the
workers run (see tuner.dashboard). --ray runs the --workers as actors on a Ray cluster instead of
processes on this host (see tuner.execution.ray_pool).
"""

from __future__ import annotations

import argparse
import sys

from tuner.cli import add_worker_arguments, run_cli
from tuner.errors import TunerError
from tuner.execution.create import create_study
from tuner.execution.pool import log_dir_of, run_pool
from tuner.execution.ray_pool import check_ray_request, run_ray_pool
from tuner.execution.slots import worker_slots
from tuner.execution.storage import describe_db_error, redact, resolve_url
from tuner.judging.records import GoalState, set_deadline
from tuner.results.dashboard import DEFAULT_PORT, check_port, start_beside
from tuner.results.verdict import REPORTS_DIR, candidate_lines, hand_over, headline
from tuner.study import load_study_spec
from tuner.study.record import count_trials, target_trials
from tuner.training.data import load_study_data


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tuner.launch", description=__doc__.split("\n")[0]
    )
    add_worker_arguments(parser)
    parser.add_argument(
        "--n-trials", type=int, help="finished trials to add (default: the study file's)"
    )
    parser.add_argument(
        "--dashboard", action="store_true", help="serve optuna-dashboard while the workers run"
    )
    parser.add_argument(
        "--dashboard-port",
        type=int,
        default=DEFAULT_PORT,
        help=f"the dashboard's port on 127.0.0.1 (default {DEFAULT_PORT})",
    )
    parser.add_argument(
        "--create-only",
        action="store_true",
        help="create the study (if missing) and start no worker",
    )
    parser.add_argument(
        "--ray",
        metavar="ADDRESS",
        help="run the workers as Ray actors: auto, local (a new cluster here) or ray://HOST:PORT",
    )
    parser.add_argument(
        "--cpus-per-worker", type=float, default=1.0, help="with --ray: CPUs per worker (default 1)"
    )
    parser.add_argument(
        "--gpus-per-worker",
        type=float,
        default=0.0,
        help="with --ray: GPUs per worker; a fraction (0.25) shares a GPU (default 0)",
    )
    args = parser.parse_args(argv)

    spec = load_study_spec(args.study)
    n_trials = spec.n_trials if args.n_trials is None else args.n_trials
    if n_trials < 1:
        raise TunerError(f"--n-trials must be at least 1, got {n_trials}")
    if args.dashboard:
        check_port(args.dashboard_port, option="--dashboard-port")
    url = resolve_url(args.storage)
    if args.ray:
        if args.gpus is not None:
            raise TunerError("--gpus picks GPUs of this host; with --ray use --gpus-per-worker")
        check_ray_request(args.ray, url, args.cpus_per_worker, args.gpus_per_worker)
        if args.workers < 1:
            raise TunerError(f"--workers must be at least 1, got {args.workers}")
    else:
        slots = worker_slots(workers=args.workers, gpus=args.gpus, per_gpu=args.workers_per_gpu)
    # Load the data here once: a bad --data fails now, and the digest goes on the study.
    data = load_study_data(spec, args.data)
    try:
        study = create_study(
            spec, url, n_trials=n_trials, data_digest=data.digest, extend=not args.create_only
        )
    except TunerError:
        raise
    except Exception as e:
        raise TunerError(f"storage {redact(url)}: {describe_db_error(e, url)}") from None
    finished = count_trials(study.get_trials(deepcopy=False)).finished
    print(
        f"study {spec.name!r} in {redact(url)}: {finished} of {target_trials(study, finished)} "
        f"finished trials done, data {data.digest[:12]}",
        file=sys.stderr,
    )
    if args.create_only:
        return 0
    if spec.goal is not None:
        if GoalState.read(study).reached:
            print(headline(GoalState.read(study)))
            return 0
        set_deadline(study, spec.goal.max_minutes)

    def run_workers() -> int:
        if args.ray:
            return run_ray_pool(
                spec,
                url,
                args.data,
                address=args.ray,
                workers=args.workers,
                cpus=args.cpus_per_worker,
                gpus=args.gpus_per_worker,
            )
        return run_pool(spec, url, args.data, slots)

    if not args.dashboard:
        code = run_workers()
    else:
        log_dir = log_dir_of(spec)
        with start_beside(spec.path, url, port=args.dashboard_port, log_dir=log_dir) as link:
            print(link, file=sys.stderr)
            code = run_workers()
    if spec.goal is None or code == 130:  # 130: stopped by Ctrl-C, nothing to hand over
        return code
    state, files = hand_over(study, spec, REPORTS_DIR / spec.name)
    for line in candidate_lines(state):
        print(line)
    print(f"{headline(state)}; report in {files[-1].parent}/")
    return 0 if state.reached else 1


if __name__ == "__main__":
    run_cli(main)
