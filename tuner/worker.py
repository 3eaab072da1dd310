"""Join a study that already exists, from this or another host, with a pool of worker processes.

    python -m tuner.worker --study NAME --storage URL [--data PATH] [--workers N | --gpus ...]

The study is created by tuner.launch (or `--create-only`). This starts the same pool of worker
processes as the launcher, with the same progress line; each adds capacity.
"""

from __future__ import annotations

import argparse

from tuner.cli import add_worker_arguments, run_cli
from tuner.execution.loop import check_same_data
from tuner.execution.pool import run_pool
from tuner.execution.slots import worker_slots
from tuner.execution.storage import load_existing_study, resolve_url
from tuner.study import load_study_spec
from tuner.training.data import load_study_data


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tuner.worker", description=__doc__.split("\n")[0]
    )
    add_worker_arguments(parser)
    args = parser.parse_args(argv)
    spec = load_study_spec(args.study)
    url = resolve_url(args.storage)
    slots = worker_slots(workers=args.workers, gpus=args.gpus, per_gpu=args.workers_per_gpu)
    study = load_existing_study(
        spec.name,
        url,
        hint=f"; create it with python -m tuner.launch --study {spec.path} --create-only",
    )
    if spec.synthetic is None:
        # Fail here, before any worker starts, if this host's data differs (each worker checks
        # too, which is what covers Ray actors).
        check_same_data(study, load_study_data(spec, args.data).digest)
    return run_pool(spec, url, args.data, slots)


if __name__ == "__main__":
    run_cli(main)
