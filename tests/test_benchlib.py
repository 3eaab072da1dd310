"""The benchmark harness's pure helpers (no timing here: benchmarks stay out of the suite)."""

from __future__ import annotations

from pathlib import Path

import pytest

from scripts.bench import doc, summary
from scripts.bench.confirm import counts, found_config
from tuner.judging import RoundResult


def test_section_has_the_command_machine_versions_and_load() -> None:
    text = doc.section(
        "Part X",
        command=doc.command_line("scripts.bench_x", ["--n", "3"]),
        load_start="1.00 / 1.00 / 1.00",
        load_end="2.00 / 2.00 / 2.00",
        body=["| a |", "|---|"],
    )
    assert text.startswith("## Part X (") and "UTC)\n" in text
    assert "python -m scripts.bench_x --n 3`" in text
    assert "CPU cores" in text and "GPU: " in text and "optuna " in text
    assert "at start: 1.00 / 1.00 / 1.00; at end: 2.00 / 2.00 / 2.00" in text
    assert text.endswith("| a |\n|---|\n")


def test_section_is_printed_or_written_to_the_path_given(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    doc.publish("## Part X\n", None)
    assert capsys.readouterr().out == "\n## Part X\n"
    doc.publish("## Part X\n", tmp_path / "section.md")
    assert (tmp_path / "section.md").read_text() == "## Part X\n"
    assert capsys.readouterr().out == ""


def test_markdown_table() -> None:
    assert doc.markdown_table(["a", "b"], [[1, "x"]]) == ["| a | b |", "|---|---|", "| 1 | x |"]


def round_result(passes: int, seeds: int, *, stopped: bool = False) -> RoundResult:
    return RoundResult(
        trial_number=3,
        pass_rate=passes / seeds,
        passes=passes,
        seeds=seeds,
        wilson_95=(0.61234, 0.98765),
        robust=not stopped,
        stopped_early=stopped,
        rules_passed={},
        runs=(),
    )


def test_an_arm_reports_rounds_and_its_confirmed_config_from_the_stored_records() -> None:
    assert counts(round_result(9, 10)) == "9/10"
    assert counts(round_result(2, 4, stopped=True)) == "2/4, stopped"
    assert counts(None) == "-"
    assert found_config(3, {"epochs": 5}, 12.345, round_result(19, 20)) == {
        "trial": 3,
        "config": {"epochs": 5},
        "seconds": 12.3,
        "pass_rate": 0.95,
        "passes": 19,
        "seeds": 20,
        "wilson_95": [0.612, 0.988],
    }


def bench_run(seed: int, passed: bool, seconds: float, trials: int, rate: float = 1.0) -> dict:
    found = {"pass_rate": rate, "passes": round(20 * rate), "seeds": 20} if passed else {}
    return {"seed": seed, "passed": passed, "seconds": seconds, "trials": trials, "found": found}


def test_search_summary_counts_a_censored_run_as_infinite_in_the_median() -> None:
    run = bench_run
    results = {
        "product": [run(0, True, 100, 4), run(1, True, 300, 9, 0.95), run(2, False, 600, 20)],
        "optuna_tpe": [run(0, False, 600, 30), run(1, False, 600, 31), run(2, True, 50, 2)],
    }
    table = summary.summary_table(results, budget=600)
    assert table[2] == (
        "| product | 2/3 | 300 | 9 | 1.00, 0.95 | s0: confirmed 100 s, 20/20, 4 trials; "
        "s1: confirmed 300 s, 19/20, 9 trials; s2: censored (600 s), 20 trials |"
    )
    assert table[3].startswith("| optuna_tpe | 1/3 | > 600 s budget | not reached | 1.00 |")


def test_ratio_is_the_product_median_over_the_best_peer_median() -> None:
    run = bench_run
    product = [run(0, True, 100, 4), run(1, True, 120, 5), run(2, False, 600, 20)]
    tpe = [run(0, True, 300, 30), run(1, True, 200, 31), run(2, True, 400, 2)]
    censored = [run(s, False, 600, 9) for s in range(3)]
    ratio = summary.ratio_line({"product": product, "optuna_tpe": tpe, "kt_bayes": censored}, 600)
    assert ratio is not None and ratio.endswith(
        "(optuna_tpe), median wall time to a confirmed config: 0.40x (120 s / 300 s)."
    )
    ratio = summary.ratio_line({"product": product, "kt_bayes": censored}, 600)
    assert ratio is not None and ratio.endswith(
        "< 0.20x (every peer's median is censored at 600 s)."
    )
    ratio = summary.ratio_line({"product": censored, "optuna_tpe": tpe}, 600)
    assert ratio is not None and ratio.endswith("> 2.00x (the product's median is censored).")
    assert summary.ratio_line({"optuna_tpe": tpe}, 600) is None


def test_the_product_overhead_line_is_the_median_over_its_runs() -> None:
    product = [
        {**bench_run(s, False, 900, 9), "trial_over_fit": r} for s, r in enumerate((1.1, 1.3, 1.2))
    ]
    line = summary.overhead_line({"product": product})
    assert line is not None and line.endswith("1.200x (median of 3 runs).")
    assert summary.overhead_line({"optuna_tpe": product}) is None
