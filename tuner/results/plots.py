"""Plots of a study: learning curves of its top trials, Optuna's history and importances."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import cast

import optuna
from optuna.trial import FrozenTrial, TrialState

from tuner.errors import TunerError
from tuner.study import record

log = logging.getLogger("tuner.plots")
# key, line style, legend. The epoch-log accuracy is taken with dropout on while the weights
# move; the evaluated one (dropout off) is what the gap rule compares, where it was measured.
CURVES = (
    ("accuracy", "--", "train (epoch log)"),
    ("train_eval_accuracy", ":", "train (evaluated)"),
    ("val_accuracy", "-", "val"),
)


def plot_learning_curves(
    histories: dict[str, dict[str, list[float]]], path: Path, *, title: str = ""
) -> Path:
    """Draw train accuracy from the epoch logs (dashed) and evaluated with dropout off (dotted,
    where measured), and val_accuracy (solid), per epoch, one color per label.

    `histories` maps a label ("trial 12", "seed 3") to a Keras history dict. Returns `path`.
    """
    # Figure without pyplot: no global backend or state, safe in any process (Agg canvas).
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    drawable = {
        label: h for label, h in histories.items() if any(h.get(key) for key, _, _ in CURVES)
    }
    if not drawable:
        raise TunerError("no learning curves to plot: no history has 'accuracy' or 'val_accuracy'")
    fig = Figure(figsize=(8, 5), layout="constrained")
    ax = fig.subplots()
    for i, (label, history) in enumerate(drawable.items()):
        color = f"C{i % 10}"
        for key, style, name in CURVES:
            points = [(e, v) for e, v in enumerate(history.get(key) or [], 1) if v is not None]
            if points:
                epochs, values = zip(*points, strict=True)
                ax.plot(
                    epochs,
                    values,
                    style,
                    color=color,
                    marker="o",
                    markersize=3,
                    label=f"{label} {name}",
                )
    ax.set_title(title or "model accuracy")
    ax.set_xlabel("epoch")
    ax.set_ylabel("accuracy")
    # Matplotlib's default locator (AutoLocator) is a MaxNLocator: keep it, integers only.
    cast(MaxNLocator, ax.xaxis.get_major_locator()).set_params(integer=True)
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small", ncols=2 if len(drawable) > 4 else 1)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    return path


def write_study_html(study: optuna.Study, out_dir: Path) -> list[Path]:
    """Write Optuna's optimization history and parameter importances as HTML; return the pages.

    Importances need two complete trials and a parameter they all share; without them that
    page is left out (logged), not written empty.
    """
    import optuna.visualization as vis

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    figures = {"optimization_history": vis.plot_optimization_history(study)}
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if len(complete) < 2:
        log.warning(
            "no parameter importances: they need 2 complete trials, study %r has %d",
            study.study_name,
            len(complete),
        )
    else:
        try:
            figures["param_importances"] = vis.plot_param_importances(study)
        except (ValueError, RuntimeError) as e:  # e.g. no parameter common to all trials
            log.warning("no parameter importances for study %r: %s", study.study_name, e)
    written = []
    for name, figure in figures.items():
        path = out_dir / f"{name}.html"
        # "directory": one plotly.min.js beside the pages instead of 4 MB inside each.
        figure.write_html(path, include_plotlyjs="directory")
        written.append(path)
    return written


def top_trials(study: optuna.Study, k: int) -> list[FrozenTrial]:
    """The k best complete trials with curves: feasible ones first, then by objective."""
    trials = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    return record.ranked([t for t in trials if record.history(t)], study.direction)[:k]


def write_study_plots(study: optuna.Study, out_dir: Path, *, top: int = 5) -> list[Path]:
    """Everything `python -m tuner.plots` writes; checks first so a failure writes nothing."""
    best = top_trials(study, top)
    if not best:
        raise TunerError(
            f"study {study.study_name!r} has no complete trial with learning curves to plot"
        )
    histories = {
        f"trial {t.number} ({t.value:.3f}{'' if record.is_feasible(t) else ', infeasible'})": (
            record.history(t)
        )
        for t in best
    }
    title = (
        f"{study.study_name}: top {len(best)} trials, accuracy per epoch "
        "(dashed train epoch log, dotted train evaluated, solid validation)"
    )
    curves = plot_learning_curves(histories, Path(out_dir) / "learning_curves.png", title=title)
    return [curves, *write_study_html(study, out_dir)]
