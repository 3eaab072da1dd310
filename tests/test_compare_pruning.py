"""scripts/compare_pruning.py: the rules arm trains exactly the baseline's configs and seeds."""

from __future__ import annotations

import sys

import optuna
from conftest import ROOT, run_module

sys.path.insert(0, str(ROOT / "scripts"))


def test_rules_arm_replays_the_baseline(tiny_study, mnist_path, tmp_path):
    study = tiny_study(
        n_trials=3,
        epochs=3,
        extra=('[overfit]\nenabled = true\nrules = ["loss"]\nwarmup_epochs = 1\npatience = 1\n'),
    )
    out = run_module(
        "compare_pruning",
        "--study",
        study,
        "--n-trials",
        "3",
        "--data",
        mnist_path,
        "--save",
        str(tmp_path / "cmp"),
        cwd=ROOT / "scripts",
        env={"PYTHONPATH": f"{ROOT}:{ROOT / 'scripts'}"},
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert "rules arm replays the baseline's configs" in out.stdout
    assert "epochs trained" in out.stdout and "best val accuracy" in out.stdout
    storage = f"sqlite:///{tmp_path / 'cmp' / 'compare.db'}"
    base = optuna.load_study(study_name="tiny-no-overfit", storage=storage)
    rules = optuna.load_study(study_name="tiny-overfit", storage=storage)
    assert [t.params for t in rules.trials] == [t.params for t in base.trials]
    assert [t.user_attrs["seed"] for t in rules.trials] == [
        t.user_attrs["seed"] for t in base.trials
    ]
    # Same config and seed: identical until a rule stops the run.
    for b, r in zip(base.trials, rules.trials, strict=True):
        epochs = len(r.user_attrs["history"]["val_accuracy"])
        assert (
            r.user_attrs["history"]["val_accuracy"]
            == b.user_attrs["history"]["val_accuracy"][:epochs]
        )


def test_sweep_replays_recorded_curves_through_the_rules(tmp_path):
    """scripts/sweep_overfit.py: where each setting stops each recorded run, no training."""
    import sweep_overfit

    from tuner.study import OverfitSpec

    epochs = 12
    healthy = {
        "loss": [1.0 - 0.05 * e for e in range(epochs)],
        "val_loss": [1.0 - 0.04 * e for e in range(epochs)],
        "val_accuracy": [0.80 + 0.01 * e for e in range(epochs)],
    }
    # Validation loss turns up after epoch 4 while training loss falls; accuracy stalls at 0.84.
    overfit = {
        "loss": [1.0 - 0.08 * e for e in range(epochs)],
        "val_loss": [0.5 - 0.1 * e if e < 3 else 0.2 + 0.05 * (e - 2) for e in range(epochs)],
        "val_accuracy": [0.80 + 0.02 * e if e < 3 else 0.84 for e in range(epochs)],
    }
    runs = [(healthy["val_accuracy"][-1], healthy), (overfit["val_accuracy"][-1], overfit)]
    rules = OverfitSpec(rules=("loss",), warmup_epochs=2, patience=3)
    assert sweep_overfit.stop_epoch(healthy, rules) is None
    # Best validation loss at epoch 4; above it at epochs 5, 6, 7 with accuracy stalled: stop at 7.
    assert sweep_overfit.stop_epoch(overfit, rules) == 7
    result = sweep_overfit.sweep(runs, rules)
    assert result == {"epochs_kept": (12 + 7) / 24, "stopped": 1, "best_change": 0.0}
    # The healthy run is the best; a setting that stopped it would show the loss.
    assert sweep_overfit.sweep([(0.95, overfit), *runs[:1]], rules)["best_change"] < 0
