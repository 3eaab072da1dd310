"""Write docs/COURSE.md from the course's finished exercise studies.

    python scripts/course_table.py [--storage URL] [--out docs/COURSE.md] [--only STUDY ...]

Run each exercise first, e.g. `python -m tuner.launch --study course_2_2_structure`; the
studies are listed in tuner/results/exercises.py. Every number in the file comes from the
storage, and the file says which command wrote it. Prints each study's wall time (first trial
start to last trial end). Exit 2 when a study is missing or unfinished.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import tempfile
from datetime import timedelta
from pathlib import Path

import optuna

from tuner.cli import run_cli
from tuner.errors import TunerError
from tuner.execution.storage import describe_db_error, open_storage, redact, resolve_url
from tuner.results.course import Summary, judge, summarize
from tuner.results.course_doc import render
from tuner.results.exercises import EXERCISES, Exercise


def load_summary(
    storage: optuna.storages.BaseStorage, url: str, exercise: Exercise
) -> tuple[Summary, float]:
    try:
        study = optuna.load_study(study_name=exercise.study, storage=storage)
    except KeyError:
        raise TunerError(
            f"no study {exercise.study!r} in {redact(url)}; run "
            f"`python -m tuner.launch --study {exercise.study}` first"
        ) from None
    data = study.user_attrs.get("data", {})
    if data.get("evaluate_on") != "test":
        raise TunerError(
            f"study {exercise.study!r} was not measured on test rows "
            f"(data: {data}); launch it from studies/{exercise.study}.toml"
        )
    try:
        summary = summarize(study, exercise)
    except ValueError as e:
        raise TunerError(str(e)) from None
    if summary.missing:
        raise TunerError(
            f"study {exercise.study!r} lacks {summary.missing} runs of its grid; "
            f"finish it with `python -m tuner.launch --study {exercise.study}`"
        )
    spans = [
        (t.datetime_start, t.datetime_complete)
        for t in study.get_trials(deepcopy=False)
        if t.datetime_start and t.datetime_complete
    ]
    wall = max(end for _, end in spans) - min(start for start, _ in spans) if spans else timedelta()
    return summary, wall.total_seconds()


def _redact_arg(arg: str) -> str:
    """A storage URL in the command line, password replaced by ***."""
    if arg.startswith("--storage="):
        return "--storage=" + redact(arg[len("--storage=") :])
    return redact(arg) if "://" in arg else arg


def write_atomically(text: str, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.replace(tmp, path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python scripts/course_table.py", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--storage", help="storage URL (default: $TUNER_STORAGE or runs/optuna.db)")
    parser.add_argument(
        "--out", type=Path, default=Path("docs/COURSE.md"), help="default docs/COURSE.md"
    )
    parser.add_argument("--only", nargs="+", metavar="STUDY", help="just these exercise studies")
    args = parser.parse_args(argv)
    known = {ex.study: ex for ex in EXERCISES}
    unknown = [s for s in args.only or [] if s not in known]
    if unknown:
        raise TunerError(f"unknown exercise study {unknown[0]!r} (known: {', '.join(known)})")
    exercises = [known[s] for s in args.only] if args.only else list(EXERCISES)

    url = resolve_url(args.storage)
    try:
        storage = open_storage(url)
    except TunerError:
        raise
    except Exception as e:
        raise TunerError(f"storage {redact(url)}: {describe_db_error(e, url)}") from None
    results, total = [], 0.0
    for exercise in exercises:
        summary, wall = load_summary(storage, url, exercise)
        verdict = judge(summary)
        runs = sum(len(o.runs) for o in summary.options)
        print(f"{exercise.study}: {runs} runs, wall {wall / 60:.1f} min; {verdict.text}")
        results.append((summary, verdict))
        total += wall
    print(f"total wall time of the studies: {total / 60:.1f} min")

    given = argv if argv is not None else sys.argv[1:]
    command = shlex.join(["python", "scripts/course_table.py", *map(_redact_arg, given)])
    write_atomically(render(results, command), args.out)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    run_cli(main)
