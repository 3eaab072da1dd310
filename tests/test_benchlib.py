"""The benchmark scripts' pure helpers (no timing here: benchmarks stay out of the suite)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))

import benchlib


def test_fit_flops_counts_every_dense_layer_three_times_forward() -> None:
    config = {"layers": [256, 128]}
    # 784x256 + 256x128 + 128x10 multiply-adds, 2 FLOPs each
    forward = 2 * (784 * 256 + 256 * 128 + 128 * 10)
    assert benchlib.forward_flops_per_sample(config) == forward
    assert benchlib.fit_flops(config, samples=6000, epochs=5) == 3 * forward * 6000 * 5
    assert benchlib.eval_flops(config, samples=10) == forward * 10


def test_dense_widths_without_hidden_layers_is_one_softmax_layer() -> None:
    assert benchlib.dense_widths({"layers": []}) == [(784, 10)]


def test_append_section_writes_a_dated_section_with_machine_and_load(tmp_path: Path) -> None:
    doc = tmp_path / "BENCHMARKS.md"
    benchlib.append_section(
        "Part X",
        load_start="1.00 / 1.00 / 1.00",
        load_end="2.00 / 2.00 / 2.00",
        body=["| a |", "|---|"],
        doc=doc,
        argv=["scripts/bench_x.py", "--n", "3"],
    )
    text = doc.read_text()
    assert text.startswith("# Benchmarks")
    assert "## Part X (" in text and "UTC)" in text
    assert "python scripts/bench_x.py --n 3`" in text
    assert "CPU cores" in text and "GPU: " in text and "optuna " in text
    assert "at start: 1.00 / 1.00 / 1.00; at end: 2.00 / 2.00 / 2.00" in text


def bench_run(seed: int, passed: bool, seconds: float, trials: int, rate: float = 1.0) -> dict:
    found = {"pass_rate": rate, "passes": round(20 * rate), "seeds": 20} if passed else {}
    return {"seed": seed, "passed": passed, "seconds": seconds, "trials": trials, "found": found}


def test_search_summary_counts_a_censored_run_as_infinite_in_the_median() -> None:
    from bench import doc

    run = bench_run
    results = {
        "product": [run(0, True, 100, 4), run(1, True, 300, 9, 0.95), run(2, False, 600, 20)],
        "optuna_tpe": [run(0, False, 600, 30), run(1, False, 600, 31), run(2, True, 50, 2)],
    }
    table = doc.summary_table(results, budget=600)
    assert table[2] == (
        "| product | 2/3 | 300 | 9 | 1.00, 0.95 | s0: confirmed 100 s, 20/20, 4 trials; "
        "s1: confirmed 300 s, 19/20, 9 trials; s2: censored (600 s), 20 trials |"
    )
    assert table[3].startswith("| optuna_tpe | 1/3 | > 600 s budget | not reached | 1.00 |")


def test_ratio_is_the_product_median_over_the_best_peer_median() -> None:
    from bench import doc

    run = bench_run
    product = [run(0, True, 100, 4), run(1, True, 120, 5), run(2, False, 600, 20)]
    tpe = [run(0, True, 300, 30), run(1, True, 200, 31), run(2, True, 400, 2)]
    censored = [run(s, False, 600, 9) for s in range(3)]
    ratio = doc.ratio_line({"product": product, "optuna_tpe": tpe, "kt_bayes": censored}, 600)
    assert ratio is not None and ratio.endswith(
        "(optuna_tpe), median wall time to a confirmed config: 0.40x (120 s / 300 s)."
    )
    ratio = doc.ratio_line({"product": product, "kt_bayes": censored}, 600)
    assert ratio is not None and ratio.endswith(
        "< 0.20x (every peer's median is censored at 600 s)."
    )
    ratio = doc.ratio_line({"product": censored, "optuna_tpe": tpe}, 600)
    assert ratio is not None and ratio.endswith("> 2.00x (the product's median is censored).")
    assert doc.ratio_line({"optuna_tpe": tpe}, 600) is None
