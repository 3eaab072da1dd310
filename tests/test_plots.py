"""tuner.plots: the learning-curve PNG and Optuna's HTML plots, from the CLI and as functions."""

from __future__ import annotations

import numpy as np
import optuna
import pytest
from browser import screenshot, start_chrome, wait_until
from conftest import run_module
from matplotlib.image import imread
from synthetic import add_trials

from tuner.errors import TunerError
from tuner.results.plots import plot_learning_curves, write_study_html


def make_study(tmp_path, n: int) -> tuple[str, optuna.Study]:
    url = f"sqlite:///{tmp_path / 'plots.db'}"
    study = optuna.create_study(study_name="tiny", storage=url, direction="maximize")
    add_trials(study, n, epochs=4, prune_every=4)
    return url, study


def test_cli_writes_curves_history_and_importances(tmp_path):
    url, study = make_study(tmp_path, 12)
    out = tmp_path / "plots"
    result = run_module(
        "tuner.plots",
        "--study",
        "tiny",
        "--storage",
        url,
        "--out",
        str(out),
        "--top",
        "3",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    written = result.stdout.split()
    assert written == [
        str(out / name)
        for name in ("learning_curves.png", "optimization_history.html", "param_importances.html")
    ]

    image = imread(out / "learning_curves.png")
    assert image.shape[:2] == (600, 960)  # 8x5 inches at 120 dpi
    assert np.std(image[..., :3]) > 0.05, "the PNG looks blank"

    # Each page is a Plotly figure with this study's data, loading plotly.min.js from beside it.
    history = (out / "optimization_history.html").read_text()
    assert 'src="plotly.min.js"' in history and (out / "plotly.min.js").stat().st_size > 1_000_000
    best = max(t.value for t in study.trials if t.value is not None)
    assert repr(best) in history
    importances = (out / "param_importances.html").read_text()
    assert "learning_rate" in importances and "n_layers" in importances


def test_html_pages_render_in_the_browser(tmp_path):
    _, study = make_study(tmp_path, 8)
    pages = write_study_html(study, tmp_path / "html")
    driver = start_chrome()
    try:
        for page in pages:
            driver.get(page.as_uri())
            wait_until(
                driver,
                lambda d: (
                    d.execute_script(
                        "return document.querySelectorAll('.js-plotly-plot .main-svg').length"
                    )
                    > 0
                ),
                timeout=30,
                what=f"a Plotly chart in {page.name}",
            )
            screenshot(driver, f"plots-{page.stem}.png")
    finally:
        driver.quit()


def test_importances_left_out_below_two_complete_trials(tmp_path):
    _, study = make_study(tmp_path, 1)
    assert [p.name for p in write_study_html(study, tmp_path / "one")] == [
        "optimization_history.html"
    ]


def test_learning_curves_function_for_the_reporter(tmp_path):
    histories = {
        "seed 1": {"accuracy": [0.80, 0.88, 0.90], "val_accuracy": [0.79, 0.86, 0.89]},
        "seed 2": {"accuracy": [0.70, 0.85], "val_accuracy": [0.72, 0.84], "loss": [1.0, 0.5]},
    }
    path = plot_learning_curves(histories, tmp_path / "sub" / "curves.png", title="capstone seeds")
    assert path == tmp_path / "sub" / "curves.png" and imread(path).shape[:2] == (600, 960)
    with pytest.raises(TunerError, match="no learning curves"):
        plot_learning_curves({"seed 1": {"loss": [1.0]}}, tmp_path / "none.png")
    assert not (tmp_path / "none.png").exists()


def test_cli_bad_input_is_one_line_exit_2_and_writes_nothing(tmp_path):
    url, _ = make_study(tmp_path, 2)
    empty = f"sqlite:///{tmp_path / 'empty.db'}"
    optuna.create_study(study_name="empty", storage=empty)
    cases = [
        (["--study", "nope", "--storage", url], "no study named 'nope'"),
        (["--study", "empty", "--storage", empty], "has no complete trial with learning curves"),
        (["--study", "tiny", "--storage", f"sqlite:///{tmp_path}/none.db"], "does not exist"),
        (["--study", "tiny", "--storage", url, "--top", "0"], "--top must be at least 1"),
    ]
    for argv, expected in cases:
        result = run_module("tuner.plots", *argv, "--out", str(tmp_path / "out"), cwd=tmp_path)
        assert result.returncode == 2, (argv, result.stderr)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ") and expected in lines[0], (
            result.stderr
        )
    assert not (tmp_path / "out").exists()
