"""The search benchmark's summary: a table of the arms' runs, the ratio product / best peer, and
the body of the section it prints."""

from __future__ import annotations

import json
import math
import statistics
from typing import TYPE_CHECKING, Any

from scripts.bench.doc import markdown_table

if TYPE_CHECKING:
    from tuner.study import Goal

# arm -> its runs' results, by seed (confirm.arm_result; the scheduler adds seed, load_before and,
# for a run that crashed, error; the product arm adds pruned, trial_over_fit, launch_rc and,
# when its verdict came after the budget, verdict_after_budget).
Results = dict[str, list[dict[str, Any]]]
PRODUCT = "product"


def median_seconds(runs: list[dict[str, Any]]) -> float:
    """Median seconds to a confirmed config, a censored run counting as infinite."""
    return statistics.median(r["seconds"] if r["passed"] else math.inf for r in runs)


def median_or_censored(runs: list[dict[str, Any]], key: str, budget: float) -> str:
    """Median of `key` over the runs, a censored run counting as infinite."""
    med = statistics.median(r[key] if r["passed"] else math.inf for r in runs)
    if med == math.inf:
        return f"> {budget:.0f} s budget" if key == "seconds" else "not reached"
    return f"{med:.0f}" if key == "seconds" else f"{med:g}"


def per_seed(run: dict[str, Any]) -> str:
    found = run["found"]
    if run["passed"]:
        outcome = f"confirmed {run['seconds']:.0f} s, {found['passes']}/{found['seeds']}"
    else:
        outcome = f"censored ({run['seconds']:.0f} s)"
    return f"s{run['seed']}: {outcome}, {run['trials']} trials"


def summary_table(results: Results, budget: float) -> list[str]:
    rows = []
    for arm, runs in results.items():
        rates = [r["found"]["pass_rate"] for r in runs if r["passed"]]
        rows.append(
            [
                arm,
                f"{sum(r['passed'] for r in runs)}/{len(runs)}",
                median_or_censored(runs, "seconds", budget),
                median_or_censored(runs, "trials", budget),
                ", ".join(f"{x:.2f}" for x in rates) or "-",
                "; ".join(per_seed(r) for r in runs),
            ]
        )
    header = ["arm", "confirmed", "median wall s to confirmed", "median trials to confirmed"]
    return markdown_table([*header, "confirmed pass rates", "per seed"], rows)


def ratio_line(results: Results, budget: float) -> str | None:
    """The product's median time to a confirmed config over the best peer's; None without both."""
    peers = {arm: median_seconds(runs) for arm, runs in results.items() if arm != PRODUCT}
    if PRODUCT not in results or not peers:
        return None
    best = min(peers, key=lambda arm: peers[arm])
    ours, theirs = median_seconds(results[PRODUCT]), peers[best]
    head = f"Ratio product / best peer ({best}), median wall time to a confirmed config: "
    if ours < math.inf and theirs < math.inf:
        return head + f"{ours / theirs:.2f}x ({ours:.0f} s / {theirs:.0f} s)."
    if ours < math.inf:
        return head + f"< {ours / budget:.2f}x (every peer's median is censored at {budget:.0f} s)."
    if theirs < math.inf:
        return head + f"> {budget / theirs:.2f}x (the product's median is censored)."
    return head + "not measured (every median is censored)."


def overhead_line(results: Results) -> str | None:
    """The product's search trials: their wall time over their training phases, median of runs."""
    ratios = [r["trial_over_fit"] for r in results.get(PRODUCT, []) if r.get("trial_over_fit")]
    if not ratios:
        return None
    return (
        f"Product search trials, wall time (storage start to complete) over their training "
        f"phases (build, fit, evaluation; the trial's `timings`): {statistics.median(ratios):.3f}x "
        f"(median of {len(ratios)} runs)."
    )


def goal_text(goal: Goal) -> str:
    """The rule every arm meets, in words."""
    return (
        f"judged on {goal.choose_seeds} choosing capstone seeds (passes "
        f"{goal.choose_pass_rate:.0%} of them), then confirmed on {goal.confirm_seeds} fresh "
        f"seeds (passes {goal.pass_rate:.0%}), each stopping early once out of reach"
    )


def body(
    results: Results, *, goal: Goal, budget: float, seeds: list[int], workers: int, parallel: int
) -> list[str]:
    """The section's text: the set-up in words, the table, the ratio, the raw results."""
    details = {arm: [{"seed": r["seed"], **r} for r in runs] for arm, runs in results.items()}
    at_once = f"{parallel} runs at once, each pinned to one CPU core" if parallel > 1 else ""
    extra = [line for line in (ratio_line(results, budget), overhead_line(results)) if line]
    return [
        f"Budget per (arm, seed): {budget:.0f} s wall, seeds {seeds}; product with {workers} "
        f"worker(s), the peers one trial at a time in one process; "
        f"{at_once or 'one run at a time'}. Every arm starts from nothing (the product's study "
        f"without its warm starts). An arm passes with its first config confirmed within the "
        f"budget: {goal_text(goal)}. Censored runs (none confirmed within the budget) count as "
        "infinite in the medians.",
        "",
        *summary_table(results, budget),
        *(line for x in extra for line in ("", x)),
        "",
        "<details><summary>Raw results (judged: each candidate's choosing and confirming "
        "passes)</summary>",
        "",
        "```json",
        json.dumps(details, indent=1, default=str),
        "```",
        "</details>",
    ]
