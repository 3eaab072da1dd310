"""Write docs/COURSE.md from the course's finished exercise studies.

    python scripts/course_table.py [--storage URL] [--out docs/COURSE.md] [--only STUDY ...]

Run each exercise first, e.g. `python -m tuner.launch --study course_2_2_structure`; the
studies are listed in tuner/results/exercises.py. Every number in the file comes from the
storage, and the file says which command wrote it. Prints each study's wall time (first trial
start to last trial end). Exit 2 when a study is missing or unfinished.
"""

from __future__ import annotations

import argparse
import math
import os
import shlex
import sys
import tempfile
from datetime import timedelta
from pathlib import Path
from typing import Any

import optuna

from tuner.cli import run_cli
from tuner.errors import TunerError
from tuner.execution.storage import describe_db_error, open_storage, redact, resolve_url
from tuner.results.course import ALPHA, Option, Summary, Verdict, beats, judge, summarize
from tuner.results.exercises import EXERCISES, METRICS, Exercise

ROOT = Path(__file__).resolve().parent.parent
OUTCOME = {
    "holds": "holds",
    "fails": "**does not hold up**",
    "not shown": "not shown (within noise)",
    "best": "clear best",
    "no clear best": "no clear best",
    "no data": "no data",
}


def cell(option: Option, metric: str) -> str:
    mean, std = option.mean(metric), option.std(metric)
    if math.isnan(mean):
        return "-"
    return f"{mean:.4f} ± {std:.4f}" if not math.isnan(std) else f"{mean:.4f}"


def p_text(p: float) -> str:
    return "-" if math.isnan(p) else ("< 0.0001" if p < 0.0001 else f"{p:.4f}")


def seeds_text(summary: Summary) -> str:
    seeds = sorted({r.seed for o in summary.options for r in o.runs})
    if seeds and seeds == list(range(seeds[0], seeds[-1] + 1)):
        return f"seeds {seeds[0]}-{seeds[-1]}"
    return "seeds " + ", ".join(map(str, seeds))


def settings_text(settings: dict[str, Any]) -> str:
    shown = []
    first = {"layers": settings["layers"]} if "layers" in settings else {}
    for key, value in {**first, **settings}.items():
        if key == "n_layers" or (key in ("input_noise", "input_dropout", "l2") and not value):
            continue
        if key == "dropout_position" and not settings.get("dropout", 1):
            continue
        if key == "layers":
            value = "-".join(map(str, value))
        if key == "rescale":
            shown.append("inputs rescaled to 0-1" if value else "raw 0-255 inputs")
            continue
        shown.append(f"{key} {value}")
    return ", ".join(shown)


def data_text(data: dict[str, Any]) -> str:
    return f"trained on x_train[:{data['train_rows']}], tested on x_test[:{data['test_rows']}]"


def best_option(summary: Summary) -> Option | None:
    metric = summary.exercise.metric
    sign = METRICS[metric][1]
    measured = [o for o in summary.options if o.values(metric)]
    return max(measured, key=lambda o: sign * o.mean(metric)) if measured else None


def section(summary: Summary, verdict: Verdict) -> list[str]:
    ex = summary.exercise
    name = lambda o: ex.names.get(o.label, o.label)  # noqa: E731
    reference = summary.option(ex.expected) if ex.expected else best_option(summary)
    lines = [
        f"## {ex.section} {ex.title}",
        "",
        f"Question: {ex.question}",
        "",
        f"Course: {ex.course_says}",
        "",
    ]
    lines.append(
        f"Study `{ex.study}`: {len(summary.options)} options x {summary.repeats} seeds "
        f"({seeds_text(summary)}), {data_text(summary.data)}. Shared settings: "
        f"{settings_text(summary.settings)}."
    )
    if summary.missing or summary.duplicates:
        lines.append(
            f"Runs missing: {summary.missing}; repeated runs left out: {summary.duplicates}."
        )
    lines.append("")
    role = "course's answer" if ex.expected else "best"
    header = " / ".join(summary.searched)
    columns = list(dict.fromkeys(["test_accuracy", "train_accuracy", "gap", ex.metric]))
    lines.append(
        f"| {header} | runs | "
        + " | ".join(METRICS[c][0] for c in columns)
        + f" | p ({role} better) |"
    )
    lines.append("|---|---|" + "---|" * len(columns) + "---|")
    for o in summary.options:
        diverged = sum(r.diverged for r in o.runs)
        runs = f"{len(o.runs)}" + (f" ({diverged} diverged)" if diverged else "")
        label = name(o)
        if o is reference:
            label = f"**{label}** ({role})"
            p = "-"
        else:
            p = p_text(beats(reference, o, ex.metric)) if reference else "-"
        lines.append(
            f"| {label} | {runs} | " + " | ".join(cell(o, c) for c in columns) + f" | {p} |"
        )
    lines += ["", f"**Verdict ({METRICS[ex.metric][0]}):** {verdict.text}.", ""]
    if any(r.diverged for o in summary.options for r in o.runs):
        lines += [
            "A diverged run (NaN loss) was stopped; its test accuracy is the one at that "
            "epoch, and it has no train accuracy or gap.",
            "",
        ]
    if ex.group_by:
        lines += group_lines(summary)
    if ex.curves:
        lines += curve_lines(summary)
    return lines


def group_lines(summary: Summary) -> list[str]:
    by = summary.exercise.group_by
    assert by is not None  # called for two-parameter grids only
    others = [p for p in summary.searched if p != by]
    lines = [
        f"Best {' / '.join(others)} per {by} (by mean test accuracy):",
        "",
        f"| {by} | best {' / '.join(others)} | test accuracy |",
        "|---|---|---|",
    ]
    values = list(dict.fromkeys(o.params[by] for o in summary.options))
    for value in values:
        group = [o for o in summary.options if o.params[by] == value and o.values("test_accuracy")]
        if not group:
            continue
        top = max(group, key=lambda o: o.mean("test_accuracy"))
        lines.append(
            f"| {value} | {' / '.join(str(top.params[p]) for p in others)} | "
            f"{cell(top, 'test_accuracy')} |"
        )
    return [*lines, ""]


def curve_lines(summary: Summary) -> list[str]:
    ex = summary.exercise
    name = lambda o: ex.names.get(o.label, o.label)  # noqa: E731
    options = [o for o in summary.options if o.runs]
    epochs = min(len(r.history.get("val_accuracy", [])) for o in options for r in o.runs)
    lines = [
        "Mean accuracy per epoch over the seeds, as the course plots it (train: the Keras epoch "
        "log, dropout active; test: `val_accuracy`):",
        "",
    ]
    lines.append(
        "| epoch | " + " | ".join(f"{name(o)} train | {name(o)} test" for o in options) + " |"
    )
    lines.append("|---|" + "---|---|" * len(options))
    for epoch in range(epochs):
        row = [str(epoch + 1)]
        for o in options:
            for key in ("accuracy", "val_accuracy"):
                values = [r.history[key][epoch] for r in o.runs]
                row.append(f"{sum(values) / len(values):.4f}")
        lines.append("| " + " | ".join(row) + " |")
    return [*lines, ""]


def render(results: list[tuple[Summary, Verdict]], command: str) -> str:
    lines = [
        "# The course's exercises, rerun with seeds",
        "",
        "Generated from the finished studies by the command below; nothing here is typed by hand.",
        "",
        f"    {command}",
        "",
        "Each exercise of the course chapter is a grid study (`studies/<study>.toml`, run with "
        "`python -m tuner.launch --study <study>`): every option is trained once per seed, with "
        "the section's own code settings, and measured on the test rows as the course measures "
        "it. A cell is the mean ± standard deviation over the seeds; train accuracy is evaluated "
        "on the training rows after training (dropout off).",
        "",
        f"**Beyond noise.** Option A *beats* option B when a one-sided Welch t-test over their "
        f"seeds gives p < {ALPHA}. The course's answer *holds* when it beats every other option, "
        f"*does not hold up* when another option beats it, and is *not shown* when the runs cannot "
        f"tell it from some other option. Without a course answer, the best option by mean is "
        f"named, and whether it beats every other. The last column of each table is the p-value "
        f"that the course's answer (or the best option) is better than that row; near 1 means "
        f"the row is the better one.",
        "",
        "| section | question | course's answer | best by mean | verdict |",
        "|---|---|---|---|---|",
    ]
    for summary, verdict in results:
        ex = summary.exercise
        best = best_option(summary)
        best_text = "-"
        if best is not None:
            mean = f"{best.mean(ex.metric):.4f} {METRICS[ex.metric][0]}"
            best_text = f"{ex.names.get(best.label, best.label)} ({mean})"
        answer = ex.names.get(ex.expected, ex.expected) if ex.expected else "(none named)"
        lines.append(
            f"| {ex.section} {ex.title} | {ex.question} | {answer} | {best_text} | "
            f"{OUTCOME[verdict.outcome]} |"
        )
    lines.append("")
    for summary, verdict in results:
        lines += section(summary, verdict)
    return "\n".join(lines).rstrip() + "\n"


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
