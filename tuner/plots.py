"""Plots of a study: learning curves of its top trials, Optuna's history and importances.

    python -m tuner.plots --study mnist_mlp [--storage URL] --out DIR [--top 5]

writes DIR/learning_curves.png (accuracy and validation accuracy per epoch, the course's plot)
and DIR/optimization_history.html, DIR/param_importances.html (interactive Plotly pages that
load DIR/plotly.min.js, so they open without a network). The reporter reuses
plot_learning_curves and write_study_html.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import optuna

from tuner.cli import run_cli
from tuner.errors import TunerError
from tuner.execution.storage import open_study, resolve_url
from tuner.results.plots import write_study_plots


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tuner.plots", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "--study", required=True, help="a name from studies/, a .toml path, or a stored study name"
    )
    parser.add_argument("--storage", help="storage URL (default: $TUNER_STORAGE or runs/optuna.db)")
    parser.add_argument("--out", required=True, type=Path, help="folder to write the plots in")
    parser.add_argument(
        "--top", type=int, default=5, help="trials in the learning-curve plot (default 5)"
    )
    args = parser.parse_args(argv)
    if args.top < 1:
        raise TunerError(f"--top must be at least 1, got {args.top}")
    logging.basicConfig(format="%(message)s")
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    study = open_study(args.study, resolve_url(args.storage))
    for path in write_study_plots(study, args.out, top=args.top):
        print(path)
    return 0


if __name__ == "__main__":
    run_cli(main)
