"""A goal study's verdict: what the judges found, on the terminal, in files and in the dashboard.

The judging runs in the workers (tuner.judging.goal); this reads what they stored on the study
and hands it over: one line per judged candidate, `goal.md` and `goal.json` (attached to the
study, so the dashboard lists them), and a verdict section in the study's note.
"""

from __future__ import annotations

import json
from pathlib import Path

import optuna

from tuner.execution.create import write_note
from tuner.judging.records import GoalState
from tuner.judging.rules import RULES
from tuner.results.export import write_json_atomically
from tuner.results.report import attach
from tuner.study import StudySpec, record

REPORTS_DIR = Path("reports")  # as the reporter's: reports/<study>/


def candidate_lines(state: GoalState) -> list[str]:
    """One line per judged candidate, in the order they were judged."""
    lines = []
    for number, rec in state.in_order():
        parts = [f"trial {number}: {rec.outcome or rec.phase}"]
        if rec.choose is not None:
            parts.append(f"choosing {rec.choose.describe()}")
        if rec.confirm is not None:
            parts.append(f"confirming on fresh seeds {rec.confirm.describe()}")
        lines.append("; ".join(parts))
    return lines


def headline(state: GoalState) -> str:
    if state.verdict is None:
        return "goal not reached: no candidate was confirmed on fresh seeds"
    return f"goal reached: {state.verdict.headline()}"


def markdown(spec: StudySpec, state: GoalState) -> str:
    goal = spec.goal
    assert goal is not None
    lines = [f"# Goal report: {spec.name}", "", f"**{headline(state)}**", ""]
    lines.append(
        f"Goal: pass the capstone (test accuracy >= {spec.capstone.min_test_accuracy}, "
        f"|train - test| < {spec.capstone.max_gap}, {spec.capstone.epochs} epochs, data "
        f"definitions unchanged) on >= {goal.pass_rate:.0%} of {goal.confirm_seeds} fresh seeds "
        f"({goal.confirming_seeds()[0]}-{goal.confirming_seeds()[-1]}), after >= "
        f"{goal.choose_pass_rate:.0%} of {goal.choose_seeds} choosing seeds "
        f"({goal.choosing_seeds()[0]}-{goal.choosing_seeds()[-1]})."
    )
    offset, seeds = state.measured_offset(), len(state.judged_offsets())
    lines += [
        "",
        "The search's gap window is centred on the validation gap that stands for a zero test "
        "gap: "
        + (
            f"{offset:+.4f}, measured by the judges (median over {seeds} judged seeds of the "
            "candidate's validation gap in the search minus the seed's test gap)"
            if offset is not None
            else f"the study file's gap_offset, {spec.constraints.gap_offset:+.4f} ({seeds} "
            "seeds measured, too few to replace it)"
        )
        + ".",
    ]
    lines += ["", "## Candidates", ""] + [f"- {line}" for line in candidate_lines(state)]
    if state.verdict is not None:
        v, c = state.verdict, state.verdict.confirm
        lines += ["", f"## Trial {v.trial}", "", "```json", json.dumps(v.config), "```", ""]
        lines += [f"- {rule}: {c.rules_passed[rule]}/{c.seeds} seeds" for rule in RULES]
        lines += [
            "",
            "| phase | seed | test acc | train acc | gap | pass |",
            "|---|---|---|---|---|---|",
        ]
        for phase, result in (("choose", v.choose), ("confirm", c)):
            for r in result.runs:
                lines.append(
                    f"| {phase} | {r.seed} | {r.test_accuracy:.4f} | {r.train_accuracy:.4f} | "
                    f"{r.gap:+.4f} | {'PASS' if r.passed else 'fail'} |"
                )
    return "\n".join(lines) + "\n"


def note_section(state: GoalState) -> str:
    """The verdict for the dashboard's study note (Markdown)."""
    lines = ["### Verdict (written by tuner.launch)", "", headline(state), ""]
    return "\n".join(lines + [f"- {line}" for line in candidate_lines(state)])


def hand_over(study: optuna.Study, spec: StudySpec, out: Path) -> tuple[GoalState, list[Path]]:
    """Write the goal report into `out`, attach it to the study, and put the verdict in the
    study's note; returns the state and the files written."""
    state = GoalState.read(study)
    out.mkdir(parents=True, exist_ok=True)
    write_json_atomically(
        {
            "study": spec.name,
            "verdict": state.verdict.to_json() if state.verdict else None,
            "candidates": {str(n): rec.to_json() for n, rec in sorted(state.judging.items())},
        },
        out / "goal.json",
    )
    (out / "goal.md").write_text(markdown(spec, state))
    files = [out / "goal.json", out / "goal.md"]
    attach(study, files)
    provenance = record.Provenance.read(study)
    write_note(study, spec, provenance.data_digest or "?", verdict=note_section(state))
    return state, files
