"""The capstone report's files: report.md, report.json, curves, attached to the study."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import optuna
from optuna.artifacts import FileSystemArtifactStore, upload_artifact

from tuner.execution.storage import artifact_dir
from tuner.judging.judge import Judgement
from tuner.judging.rules import RULES
from tuner.results.export import write_json_atomically
from tuner.results.plots import plot_learning_curves, write_study_html
from tuner.study import Capstone


def seed_table(j: Judgement) -> list[str]:
    lines = [
        f"| seed | test acc | train acc (evaluate) | train acc (epoch log) | gap | epochs | "
        f"{' | '.join('rule: ' + rule for rule in RULES)} | pass |",
        "|" + "---|" * (7 + len(RULES)),
    ]
    for r in j.runs:
        marks = " | ".join("ok" if r.rules[rule] else "FAIL" for rule in RULES)
        lines.append(
            f"| {r.seed} | {r.test_accuracy:.4f} | {r.train_accuracy:.4f} | "
            f"{r.epoch_log_accuracy:.4f} | {r.gap:+.4f} | {r.epochs} | {marks} | "
            f"{'PASS' if r.passed else 'fail'} |"
        )
    return lines


def write_markdown(
    path: Path,
    *,
    title: str,
    rules: Capstone,
    chosen: Judgement | None,
    judged: list[Judgement],
    baseline: Judgement | None,
) -> None:
    lines = [f"# Capstone report: {title}", ""]
    lines.append(
        f"Rules: test accuracy >= {rules.min_test_accuracy}, |train - test| < "
        f"{rules.max_gap}, exactly {rules.epochs} epochs, data definitions unchanged "
        f"(x_train[:6000], x_test[:10000], raw 0-255, one-hot)."
    )
    lines.append("")
    if chosen is not None:
        lo, hi = chosen.interval
        lines.append(
            f"**Verdict: {chosen.label} is robust**: passes {chosen.passes}/{len(chosen.runs)} "
            f"seeds (pass rate {chosen.pass_rate:.2f}, Wilson 95% [{lo:.2f}, {hi:.2f}])."
        )
    else:
        lines.append("**Verdict: no candidate reached the pass-rate threshold.**")
    lines.append("")
    lines.append("| config | pass rate | Wilson 95% | " + " | ".join(RULES) + " |")
    lines.append("|" + "---|" * (3 + len(RULES)))
    for j in judged + ([baseline] if baseline else []):
        lo, hi = j.interval
        label = j.label + (
            f" (stopped after {len(j.runs)} of {j.planned_seeds} seeds)" if j.stopped_early else ""
        )
        per_rule = " | ".join(
            f"{sum(r.rules[rule] for r in j.runs)}/{len(j.runs)}" for rule in RULES
        )
        lines.append(f"| {label} | {j.pass_rate:.2f} | [{lo:.2f}, {hi:.2f}] | {per_rule} |")
    for j in judged + ([baseline] if baseline else []):
        lines += [
            "",
            f"## {j.label}",
            "",
            "```json",
            json.dumps(j.config, sort_keys=True),
            "```",
            "",
        ]
        lines += seed_table(j)
        lines.append("")
        for rule in RULES:
            n = sum(r.rules[rule] for r in j.runs)
            verdict = (
                "holds" if n == len(j.runs) else ("fails" if n == 0 else "holds on some seeds")
            )
            lines.append(f"- {rule}: {verdict} ({n}/{len(j.runs)} seeds)")
    path.write_text("\n".join(lines) + "\n")


def write_artifacts(
    out: Path,
    *,
    name: str,
    rules: Capstone,
    chosen: Judgement | None,
    judged: list[Judgement],
    baseline: Judgement | None,
    study: optuna.Study | None,
) -> None:
    out.mkdir(parents=True, exist_ok=True)
    files = []
    for j in judged + ([baseline] if baseline else []):
        slug = j.label.replace(" ", "_")
        histories = {f"seed {r.seed}": r.history for r in j.runs}
        files.append(
            plot_learning_curves(
                histories, out / f"curves_{slug}.png", title=f"{name}: {j.label} (capstone split)"
            )
        )
    if study is not None:
        files += write_study_html(study, out)
    payload = {
        "study": name,
        "rules": asdict(rules),
        "robust": chosen.label if chosen else None,
        "candidates": [j.summary() for j in judged],
        "baseline": baseline.summary() if baseline else None,
    }
    write_json_atomically(payload, out / "report.json")
    write_markdown(
        out / "report.md", title=name, rules=rules, chosen=chosen, judged=judged, baseline=baseline
    )
    files += [out / "report.json", out / "report.md"]
    if study is not None:
        attach(study, files)


def attach(study: optuna.Study, files: list[Path]) -> None:
    """Upload the report to the study as Optuna artifacts, where the dashboard lists them."""
    store_dir = artifact_dir()
    store_dir.mkdir(parents=True, exist_ok=True)
    store = FileSystemArtifactStore(str(store_dir))
    for path in files:
        upload_artifact(artifact_store=store, file_path=str(path), study_or_trial=study)
