"""The summary table of the arms' runs, and the section appended to docs/BENCHMARKS.md."""

from __future__ import annotations

import json
import statistics
from typing import Any

import benchlib

DETAILS = ("seed", "passed", "seconds", "trials", "epochs", "found", "retrains", "load_before")


def median_or_censored(runs: list[dict[str, Any]], key: str, budget: float) -> str:
    """Median of `key` over the runs, a run that did not pass counting as infinite."""
    med = statistics.median(r[key] if r["passed"] else float("inf") for r in runs)
    if med == float("inf"):
        return f"> {budget:.0f} s budget" if key == "seconds" else "not reached"
    return f"{med:.0f}" if key == "seconds" else f"{med:g}"


def summary_table(results: dict[str, list[dict[str, Any]]], budget: float) -> list[str]:
    rows = []
    for arm, runs in results.items():
        per_seed = "; ".join(
            f"s{r['seed']}: {r['seconds']:.0f} s, {r['trials']} trials"
            + (" PASS" if r["passed"] else " (censored)")
            for r in runs
        )
        rows.append(
            [
                arm,
                f"{sum(r['passed'] for r in runs)}/{len(runs)}",
                median_or_censored(runs, "seconds", budget),
                median_or_censored(runs, "trials", budget),
                per_seed,
            ]
        )
    return benchlib.markdown_table(
        ["arm", "passed", "median wall s to pass", "median trials to pass", "per seed"], rows
    )


def append_section(
    results: dict[str, list[dict[str, Any]]],
    table: list[str],
    *,
    budget: float,
    seeds: list[int],
    workers: int,
    parallel: int,
    load_start: str,
    load_end: str,
) -> None:
    details = {arm: [{k: r[k] for k in DETAILS} for r in runs] for arm, runs in results.items()}
    at_once = (
        f"{parallel} runs at once, each pinned to one CPU core. "
        if parallel > 1
        else "one run at a time. "
    )
    body = [
        f"Budget per (arm, seed): {budget:.0f} s wall, seeds {seeds}; product with "
        f"{workers} worker(s), the peers one trial at a time in one process; "
        + at_once
        + "Censored runs (no passing config within the budget) count as infinite in the median.",
        "",
        *table,
        "",
        "<details><summary>Raw results (retrains are the capstone confirmations)</summary>",
        "",
        "```json",
        json.dumps(details, indent=1, default=str),
        "```",
        "</details>",
    ]
    benchlib.append_section(
        "Part 1: time to a passing config", load_start=load_start, load_end=load_end, body=body
    )
