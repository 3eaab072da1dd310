"""Replay recorded learning curves through the trial callback for a grid of [overfit] settings.

    PYTHONPATH=. python scripts/sweep_overfit.py --db DIR/compare.db [--study mnist_mlp_epochs]
        [--arm mnist_mlp_epochs-no-callback] [--warmup 5,10,15,20] [--patience 3,5,8,10,15]

Trains nothing. Each complete trial of a baseline arm that compare_pruning.py saved (with
--baseline no-callback every run went to its last epoch) is fed to ReportAndPrune epoch by epoch,
once per (warmup, patience) setting. compare_pruning's rules arm replays the same configs with
the same weight seeds, so a run is the same until a rule stops it: this shows where each setting
would have stopped each run, the share of epochs kept and the best final validation accuracy
among the runs left to finish. The study's pruner is not replayed (it depends on the other
trials), so the figures are the rules' alone; the gap rule is skipped where the curves lack a
measured train accuracy (the no-callback baseline does not measure it).
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import sys
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import optuna

from tuner.cli import run_cli
from tuner.errors import TunerError
from tuner.study import OverfitSpec, load_study_spec, record
from tuner.training.callbacks import ReportAndPrune


class _Silent:
    """Stands in for the optuna.Trial a callback reports to: the pruner is not replayed."""

    def report(self, value: float, step: int) -> None:
        pass

    def should_prune(self) -> bool:
        return False

    def set_user_attr(self, key: str, value) -> None:
        pass


def stop_epoch(history: dict[str, list], rules: OverfitSpec) -> int | None:
    """The 1-based epoch at which the rules stop this recorded run, or None if it finishes."""
    callback = ReportAndPrune(_Silent(), overfit=rules)
    for epoch in range(len(history["loss"])):
        logs = {key: values[epoch] for key, values in history.items() if values[epoch] is not None}
        try:
            callback.on_epoch_end(epoch, logs)
        except optuna.TrialPruned:
            return epoch + 1
    return None


def sweep(runs: list[tuple[float, dict]], rules: OverfitSpec) -> dict:
    """runs: (final validation accuracy, curves) of each complete baseline trial."""
    total = kept = stopped = 0
    best = float("-inf")
    for value, history in runs:
        epochs = len(history["loss"])
        stop = stop_epoch(history, rules)
        total += epochs
        kept += epochs if stop is None else stop
        stopped += stop is not None
        if stop is None:
            best = max(best, value)
    return {
        "epochs_kept": kept / total,
        "stopped": stopped,
        "best_change": best - max(value for value, _ in runs),
    }


def _epoch_list(text: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated whole numbers, got {text!r}"
        ) from None
    if any(v < 0 for v in values):
        raise argparse.ArgumentTypeError(f"epochs cannot be negative, got {text!r}")
    return values


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--db", required=True, help="compare.db written by compare_pruning.py --save"
    )
    parser.add_argument(
        "--study", default="mnist_mlp_epochs", help="study file for the other [overfit] values"
    )
    parser.add_argument(
        "--arm", help="baseline study name in the db (default: <study>-no-callback)"
    )
    parser.add_argument(
        "--warmup", type=_epoch_list, default="5,10,15,20", help="comma-separated epochs"
    )
    parser.add_argument(
        "--patience", type=_epoch_list, default="3,5,8,10,15", help="comma-separated epochs"
    )
    args = parser.parse_args(argv)

    spec = load_study_spec(args.study)
    if not Path(args.db).is_file():
        raise TunerError(f"{args.db} does not exist; run compare_pruning.py --save DIR first")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    name = args.arm or f"{spec.name}-no-callback"
    try:
        study = optuna.load_study(study_name=name, storage=f"sqlite:///{args.db}")
    except KeyError as e:
        raise TunerError(f"{args.db} has no study {name!r}; pass --arm") from e
    runs = [
        (t.value, record.history(t))
        for t in study.get_trials(deepcopy=False)
        if t.state == optuna.trial.TrialState.COMPLETE and record.history(t)
    ]
    if not runs:
        raise TunerError(f"study {name!r} in {args.db} has no complete trial with recorded curves")

    print(
        f"{name}: {len(runs)} complete runs, {sum(len(h['loss']) for _, h in runs)} epochs, "
        f"best final val accuracy {max(v for v, _ in runs):.4f}; "
        f"rules {', '.join(spec.overfit.rules)}"
    )
    print(f"{'warmup':>6} {'patience':>8} {'epochs kept':>11} {'stopped':>7} {'best change':>11}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the gap rule's "no train accuracy" warning, once per run
        for warmup, patience in itertools.product(args.warmup, args.patience):
            rules = dataclasses.replace(
                spec.overfit, enabled=True, warmup_epochs=warmup, patience=patience
            )
            r = sweep(runs, rules)
            print(
                f"{warmup:>6} {patience:>8} {r['epochs_kept']:>11.2f} {r['stopped']:>7} "
                f"{r['best_change']:>+11.4f}"
            )
    return 0


if __name__ == "__main__":
    run_cli(main)
