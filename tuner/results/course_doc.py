"""docs/COURSE.md as Markdown: each exercise's question, the course's claim, the table of its
options over seeds, and the verdict (tuner.results.course judges; scripts/course_table.py
reads the studies and writes the file)."""

from __future__ import annotations

import math
from typing import Any

from tuner.results.course import ALPHA, Option, Summary, Verdict, beats
from tuner.results.exercises import METRICS

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
