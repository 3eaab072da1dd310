"""scripts/compare_pruning.py: the rules arm trains exactly the baseline's configs and seeds."""

from __future__ import annotations

import optuna

from conftest import ROOT, run_module


def test_rules_arm_replays_the_baseline(tiny_study, mnist_path, tmp_path):
    study = tiny_study(n_trials=3, epochs=3, extra=(
        "[overfit]\nenabled = true\nrules = [\"loss\"]\nwarmup_epochs = 1\npatience = 1\n"))
    out = run_module("compare_pruning", "--study", study, "--n-trials", "3", "--data", mnist_path,
                     "--save", str(tmp_path / "cmp"), cwd=ROOT / "scripts",
                     env={"PYTHONPATH": f"{ROOT}:{ROOT / 'scripts'}"})
    assert out.returncode == 0, out.stderr[-2000:]
    assert "rules arm replays the baseline's configs" in out.stdout
    assert "epochs trained" in out.stdout and "best val accuracy" in out.stdout
    storage = f"sqlite:///{tmp_path / 'cmp' / 'compare.db'}"
    base = optuna.load_study(study_name="tiny-no-overfit", storage=storage)
    rules = optuna.load_study(study_name="tiny-overfit", storage=storage)
    assert [t.params for t in rules.trials] == [t.params for t in base.trials]
    assert [t.user_attrs["seed"] for t in rules.trials] == [t.user_attrs["seed"] for t in base.trials]
    # Same config and seed: identical until a rule stops the run.
    for b, r in zip(base.trials, rules.trials):
        epochs = len(r.user_attrs["history"]["val_accuracy"])
        assert r.user_attrs["history"]["val_accuracy"] == b.user_attrs["history"]["val_accuracy"][:epochs]
