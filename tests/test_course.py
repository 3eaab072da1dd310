"""The course's exercise studies and the table they produce.

The study files must expand to their full grids (options x seeds) with each section's settings;
grid search must hand every point to exactly one trial across workers; and the table must get
the means, standard deviations and verdicts right on studies built from known values.
"""

from __future__ import annotations

import itertools
import math
import os
import statistics
import subprocess
import sys
import warnings
from pathlib import Path

import optuna
import pytest
from conftest import launch_in_step
from optuna.distributions import CategoricalDistribution
from optuna.trial import TrialState

from tuner.errors import TunerError
from tuner.results.course import judge, summarize, welch_p
from tuner.results.course_doc import render
from tuner.results.exercises import EXERCISES, Exercise
from tuner.study import STUDIES_DIR, load_study_spec, parse_study, suggest
from tuner.training.objective import trial_seed

ROOT = Path(__file__).resolve().parent.parent

# study: (options, seeds, settings every config must have, data rows (train, test))
GRIDS = {
    "course_2_2_structure": (
        3,
        10,
        {
            "epochs": 3,
            "batch_size": 32,
            "learning_rate": 0.1,
            "dropout": 0.5,
            "activation": "sigmoid",
        },
        (6000, 1000),
    ),
    "course_2_3_dropout": (
        2,
        10,
        {"epochs": 5, "dropout_position": "second", "layers": [256, 128]},
        (6000, 1000),
    ),
    "course_2_4_activation": (2, 10, {"epochs": 3, "layers": [256, 128]}, (6000, 1000)),
    "course_2_5_loss": (2, 10, {"epochs": 3, "activation": "sigmoid"}, (6000, 1000)),
    "course_2_6_optimizer": (24, 10, {"epochs": 3, "batch_size": 32}, (6000, 1000)),
    "course_2_7_learning_rate": (
        3,
        10,
        {"epochs": 3, "optimizer": "sgd", "batch_size": 32},
        (6000, 1000),
    ),
    "course_2_8_batch_size": (3, 10, {"epochs": 3, "learning_rate": 0.1}, (6000, 1000)),
    "course_2_9_epochs": (3, 10, {"dropout": 0.0, "batch_size": 32}, (1500, 6000)),
}


def test_every_course_study_has_an_exercise():
    files = {p.stem for p in STUDIES_DIR.glob("course_*.toml")}
    assert files == {ex.study for ex in EXERCISES} == set(GRIDS)


@pytest.mark.parametrize("exercise", EXERCISES, ids=lambda ex: ex.study)
def test_course_study_expands_to_its_grid(exercise):
    options, seeds, settings, (train_rows, test_rows) = GRIDS[exercise.study]
    spec = load_study_spec(exercise.study)
    assert spec.sampler["name"] == "grid" and spec.n_trials == options * seeds
    assert (spec.data.evaluate_on, spec.data.train_rows, spec.data.test_rows) == (
        "test",
        train_rows,
        test_rows,
    )
    grid = {name: p.choices for name, p in spec.space.items() if p.kind == "categorical"}
    assert list(grid["seed_repeat"]) == list(range(seeds))

    configs, seeds_used = [], set()
    for values in itertools.product(*grid.values()):
        params = dict(zip(grid, values, strict=True))
        config = suggest(optuna.trial.FixedTrial(params), spec.space)
        configs.append(config)
        seeds_used.add(trial_seed(spec, 0, config))
        for key, value in settings.items():
            assert config[key] == value, (key, config[key])
    assert len(configs) == spec.n_trials
    assert len({repr(sorted(c.items())) for c in configs}) == spec.n_trials  # all distinct
    assert seeds_used == set(range(seeds))  # seed = sampler seed 0 + seed_repeat
    searched = [name for name in grid if name != "seed_repeat"]
    labels = {
        " / ".join(str(v) for v in values)
        for values in itertools.product(*(grid[n] for n in searched))
    }
    assert len(labels) == options
    if exercise.expected is not None:
        assert exercise.expected in labels


def test_capstone_search_never_measures_on_the_test_set():
    assert load_study_spec("mnist_mlp").data.evaluate_on == "validation"


# --- grid search across workers -------------------------------------------------------------

GRID_STUDY = {
    "name": "g",
    "n_trials": 6,
    "sampler": {"name": "grid", "seed": 0},
    "space": {
        "learning_rate": {"type": "categorical", "choices": [0.01, 0.1, 1.0]},
        "seed_repeat": {"type": "categorical", "choices": [0, 1]},
    },
}


def _ask_tell(study: optuna.Study, spec, fail: bool = False) -> tuple:
    trial = study.ask()
    config = suggest(trial, spec.space)
    if fail:
        study.tell(trial, state=TrialState.FAIL)
    else:
        study.tell(trial, 0.5)  # the last point must not raise (GridSampler calls study.stop())
    return config["learning_rate"], config["seed_repeat"]


def test_grid_gives_every_point_to_one_trial_across_workers():
    spec = parse_study(GRID_STUDY)
    storage = optuna.storages.InMemoryStorage()
    optuna.create_study(study_name="g", storage=storage, sampler=spec.make_sampler())
    # Two workers, each with its own sampler as tuner.worker builds it (seed_offset = index).
    workers = [
        optuna.load_study(study_name="g", storage=storage, sampler=spec.make_sampler(seed_offset=i))
        for i in range(2)
    ]
    points = [_ask_tell(workers[i % 2], spec) for i in range(6)]
    assert sorted(points) == sorted(itertools.product([0.01, 0.1, 1.0], [0, 1]))


def test_grid_hands_out_a_failed_point_again():
    spec = parse_study(GRID_STUDY)
    study = optuna.create_study(sampler=spec.make_sampler())
    failed = _ask_tell(study, spec, fail=True)
    points = [_ask_tell(study, spec) for _ in range(6)]
    assert sorted(points) == sorted(itertools.product([0.01, 0.1, 1.0], [0, 1]))
    assert failed in points


def test_grid_budget_larger_than_the_grid_is_refused():
    with pytest.raises(TunerError, match=r"n_trials: 7 is more than the grid's 6 points"):
        parse_study({**GRID_STUDY, "n_trials": 7}, path="studies/g.toml")


# --- statistics -----------------------------------------------------------------------------


def test_welch_p_matches_published_welch_tests():
    # R's t.test(ts1, ts2) (Welch) prints t = -1.8325, df = 17.9, p-value = 0.08356 (two-sided):
    # one-sided, "ts2 is better", that is half.
    ts1 = [11, 9, 10, 11, 10, 12, 9, 11, 12, 9]
    ts2 = [11, 13, 10, 13, 12, 9, 11, 12, 12, 11]
    assert welch_p(ts2, ts1) == pytest.approx(0.08356 / 2, abs=5e-6)
    assert welch_p(ts1, ts2) == pytest.approx(1 - 0.08356 / 2, abs=5e-6)
    # Rosetta Code's Welch's t-test task: two-sided p = 0.010751561149784, unequal sizes.
    x, y = [3.0, 4.0, 1.0, 2.1], [490.2, 340.0, 433.9]
    assert welch_p(y, x) == pytest.approx(0.010751561149784 / 2, rel=1e-9)


def test_welch_p():
    # Equal variances and sizes: t = 2 / sqrt(1/3 + 1/3), df = 4.
    assert welch_p([2, 3, 4], [0, 1, 2]) == pytest.approx(0.0352419985, abs=1e-9)
    assert welch_p([0, 1, 2], [2, 3, 4]) == pytest.approx(1 - 0.0352419985, abs=1e-9)
    # One side without spread: t = 0.15 / 0.05 = 3 on df = 1, P(T > 3) = 1/2 - atan(3)/pi,
    # and no warning (the table must not print one for an option stuck at one class).
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert welch_p([0.2, 0.3], [0.1, 0.1]) == pytest.approx(0.5 - math.atan(3) / math.pi)
    assert welch_p([0.1, 0.1], [0.1, 0.1]) == 0.5  # no spread, no difference
    assert welch_p([0.2, 0.2], [0.1, 0.1]) == 0.0
    assert welch_p([0.1, 0.1], [0.2, 0.2]) == 1.0
    assert math.isnan(welch_p([0.2], [0.1, 0.1]))


# --- the table from fake finished studies -------------------------------------------------------


def fake_study(
    exercise: Exercise,
    param: str,
    runs: dict,
    *,
    gaps: dict | None = None,
    extra: list | None = None,
) -> optuna.Study:
    """A finished grid study in memory: runs = {option value: [test accuracy per seed]}."""
    study = optuna.create_study(study_name=exercise.study, direction="maximize")
    study.set_user_attr("data", {"train_rows": 6000, "evaluate_on": "test", "test_rows": 1000})
    seeds = max(len(v) for v in runs.values())
    dists = {
        param: CategoricalDistribution(list(runs)),
        "seed_repeat": CategoricalDistribution(list(range(seeds))),
    }
    for value, accuracies in runs.items():
        for seed, acc in enumerate(accuracies):
            gap = (gaps or {}).get(value, [0.01] * seeds)[seed]
            study.add_trial(
                optuna.trial.create_trial(
                    params={param: value, "seed_repeat": seed},
                    distributions=dists,
                    value=acc,
                    user_attrs={
                        "seed": seed,
                        "val_accuracy": acc,
                        "train_accuracy": acc + gap,
                        "gap": gap,
                        "history": {"accuracy": [0.5, acc], "val_accuracy": [0.4, acc]},
                        "config": {param: value, "seed_repeat": seed, "epochs": 3},
                    },
                )
            )
    for trial in extra or []:
        study.add_trial(trial)
    return study


def exercise(study: str) -> Exercise:
    return next(ex for ex in EXERCISES if ex.study == study)


LR = exercise("course_2_7_learning_rate")
GOOD = [0.90, 0.91, 0.89, 0.92, 0.88]
WORSE = [0.80, 0.82, 0.81, 0.79, 0.83]


def test_table_means_stds_and_a_holding_answer():
    study = fake_study(
        LR, "learning_rate", {0.01: WORSE, 0.1: GOOD, 1.0: [0.1, 0.2, 0.15, 0.12, 0.18]}
    )
    summary = summarize(study, LR)
    assert [o.label for o in summary.options] == ["0.01", "0.1", "1.0"]
    answer = summary.option("0.1")
    assert answer.mean("test_accuracy") == pytest.approx(0.90)
    assert answer.std("test_accuracy") == pytest.approx(statistics.stdev(GOOD))
    assert answer.std("test_accuracy") == pytest.approx(0.0158113883)
    assert summary.option("1.0").mean("test_accuracy") == pytest.approx(0.15)
    assert summary.repeats == 5 and summary.missing == 0
    assert judge(summary).outcome == "holds"
    text = render([(summary, judge(summary))], "python scripts/course_table.py")
    assert "    python scripts/course_table.py\n" in text
    assert "| **0.1** (course's answer) | 5 | 0.9000 ± 0.0158 |" in text
    assert "| 0.01 | 5 | 0.8100 ± 0.0158 |" in text


def test_answer_beaten_beyond_noise_is_said_plainly():
    study = fake_study(LR, "learning_rate", {0.01: GOOD, 0.1: WORSE, 1.0: WORSE})
    verdict = judge(summarize(study, LR))
    assert verdict.outcome == "fails"
    assert "does not hold up: 0.01 beats 0.1 beyond noise" in verdict.text


def test_answer_within_noise_is_not_shown():
    noisy = [0.90, 0.70, 0.85, 0.75, 0.80]  # mean 0.80, wide spread
    study = fake_study(
        LR, "learning_rate", {0.01: noisy, 0.1: [0.81, 0.83, 0.79, 0.82, 0.80], 1.0: WORSE}
    )
    verdict = judge(summarize(study, LR))
    assert verdict.outcome == "not shown" and "cannot be told apart from 0.01" in verdict.text


def test_gap_verdict_prefers_train_and_test_closer():
    dropout = exercise("course_2_3_dropout")
    study = fake_study(
        dropout,
        "dropout",
        {0.0: WORSE, 0.5: WORSE},
        gaps={0.0: [0.05, 0.06, 0.04, 0.05, 0.05], 0.5: [0.01, -0.01, 0.02, -0.01, 0.01]},
    )
    summary = summarize(study, dropout)
    assert summary.option("0.5").mean("gap") == pytest.approx(0.004)
    assert summary.option("0.5").mean("abs_gap") == pytest.approx(0.012)
    assert judge(summary).outcome == "holds"
    # A test accuracy above train is not "closer" for being negative.
    study = fake_study(
        dropout,
        "dropout",
        {0.0: WORSE, 0.5: WORSE},
        gaps={0.0: [0.01, 0.02, 0.01, 0.01, 0.02], 0.5: [-0.05, -0.06, -0.04, -0.05, -0.05]},
    )
    assert judge(summarize(study, dropout)).outcome == "fails"
    text = render([(summary, judge(summary))], "cmd")
    assert "| **dropout 0.5** (course's answer) | 5 | 0.8100 ± 0.0158 |" in text
    assert "| gap (train - test) | abs(train - test) | p (course's answer better) |" in text
    assert (
        "| epoch | no dropout train | no dropout test | dropout 0.5 train | dropout 0.5 test |"
        in text
    )


def test_no_answer_names_the_best():
    loss = exercise("course_2_5_loss")
    study = fake_study(
        loss, "loss", {"mean_squared_error": WORSE, "categorical_crossentropy": GOOD}
    )
    verdict = judge(summarize(study, loss))
    assert verdict.outcome == "best" and verdict.text.startswith("categorical_crossentropy is best")


def test_a_diverged_run_counts_once_and_widens_the_noise():
    loss = exercise("course_2_5_loss")
    dists = {
        "loss": CategoricalDistribution(["mean_squared_error", "categorical_crossentropy"]),
        "seed_repeat": CategoricalDistribution(list(range(5))),
    }
    diverged = optuna.trial.create_trial(
        state=TrialState.PRUNED,
        params={"loss": "mean_squared_error", "seed_repeat": 4},
        distributions=dists,
        user_attrs={
            "seed": 4,
            "prune_reason": "diverged",
            "history": {"accuracy": [0.1], "val_accuracy": [0.098]},
        },
    )
    duplicate = optuna.trial.create_trial(
        params={"loss": "categorical_crossentropy", "seed_repeat": 0},
        distributions=dists,
        value=0.0,
        user_attrs={"seed": 0, "val_accuracy": 0.0, "train_accuracy": 0.0, "gap": 0.0},
    )
    study = fake_study(
        loss,
        "loss",
        {"mean_squared_error": WORSE[:4], "categorical_crossentropy": GOOD},
        extra=[diverged, duplicate],
    )
    summary = summarize(study, loss)
    mse = summary.option("mean_squared_error")
    assert len(mse.runs) == 5 and sum(r.diverged for r in mse.runs) == 1
    assert mse.mean("test_accuracy") == pytest.approx((sum(WORSE[:4]) + 0.098) / 5)
    assert mse.mean("gap") == pytest.approx(0.01)  # the diverged run has no gap
    assert summary.duplicates == 1  # the second (crossentropy, seed 0) run is left out
    assert summary.option("categorical_crossentropy").mean("test_accuracy") == pytest.approx(0.90)
    # 0.098 among ~0.8 widens the spread: the better mean is no longer beyond noise.
    verdict = judge(summary)
    assert verdict.outcome == "no clear best"
    assert "cannot be told apart from mean_squared_error" in verdict.text
    assert "| mean_squared_error | 5 (1 diverged) |" in render([(summary, verdict)], "cmd")


def test_table_cli_writes_the_file_and_refuses_missing_studies(tmp_path):
    url = f"sqlite:///{tmp_path / 'course.db'}"
    study = optuna.create_study(study_name=LR.study, storage=url, direction="maximize")
    for trial in fake_study(LR, "learning_rate", {0.01: WORSE, 0.1: GOOD, 1.0: WORSE}).trials:
        study.add_trial(trial)
    study.set_user_attr("data", {"train_rows": 6000, "evaluate_on": "test", "test_rows": 1000})
    out = tmp_path / "COURSE.md"
    script = str(ROOT / "scripts" / "course_table.py")
    done = run_script(script, "--storage", url, "--out", str(out), "--only", LR.study, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    text = out.read_text()
    assert (
        f"    python scripts/course_table.py --storage {url} --out {out} --only {LR.study}\n"
        in text
    )
    assert "| 2.7 Learning rate |" in text and "| holds |" in text

    missing = run_script(script, "--storage", url, "--out", str(tmp_path / "x.md"), cwd=tmp_path)
    assert missing.returncode == 2
    assert missing.stderr.strip().splitlines() == [
        f"error: no study 'course_2_2_structure' in {url}; run "
        "`python -m tuner.launch --study course_2_2_structure` first"
    ]
    assert not (tmp_path / "x.md").exists()


def run_script(*args: str, cwd):
    """`python ARGS` in cwd, importing this checkout's tuner, on no ambient storage."""
    env = {k: v for k, v in os.environ.items() if k != "TUNER_STORAGE"}
    env["PYTHONPATH"] = str(ROOT)
    return subprocess.run(
        [sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )


def test_real_grid_study_with_two_workers_reruns_to_the_same_table(
    tmp_path, mnist_path, monkeypatch
):
    """A tiny course_2_7 (3 rates x 2 seeds, 1 epoch, 300 rows) launched for real, twice: with
    2 workers and with 1. Every grid point runs once, and both give the same table. Both runs
    train with one thread per op: 1 and 2 threads split a matmul's sums differently, and here
    one grid point's test accuracy then differed (0.2675 against 0.2600 in its mean)."""
    monkeypatch.setenv("TUNER_THREADS", "1")
    text = (STUDIES_DIR / "course_2_7_learning_rate.toml").read_text()
    for old, new in [
        ("n_trials = 30", "n_trials = 6"),
        ("choices = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]", "choices = [0, 1]"),
        ("epochs = 3", "epochs = 1"),
        ("train_rows = 6000", "train_rows = 300"),
        ("test_rows = 1000", "test_rows = 200"),
    ]:
        assert old in text
        text = text.replace(old, new)
    study_file = tmp_path / "course_2_7_learning_rate.toml"
    study_file.write_text(text)
    tables = []
    for workers in ("2", "1"):
        url = f"sqlite:///{tmp_path / f'w{workers}.db'}"
        args = ("--study", str(study_file), "--workers", workers)
        args += ("--data", mnist_path, "--storage", url)
        launched = (
            launch_in_step(*args, cwd=tmp_path, url=url, study=LR.study, n_workers=2)
            if workers == "2"  # each of the two claims a grid point
            else run_script("-m", "tuner.launch", *args, cwd=tmp_path)
        )
        assert launched.returncode == 0, launched.stderr
        study = optuna.load_study(study_name=LR.study, storage=url)
        finished = [t for t in study.trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]
        assert len(finished) == len(study.trials) == 6
        pairs = {(t.params["learning_rate"], t.params["seed_repeat"]) for t in finished}
        assert pairs == set(itertools.product([0.01, 0.1, 1.0], [0, 1]))
        assert all(t.user_attrs["seed"] == t.params["seed_repeat"] for t in finished)
        assert study.user_attrs["data"] == {
            "train_rows": 300,
            "evaluate_on": "test",
            "test_rows": 200,
        }
        if workers == "2":
            assert len({t.user_attrs["worker"] for t in finished}) == 2
        out = tmp_path / f"COURSE{workers}.md"
        table = run_script(
            str(ROOT / "scripts" / "course_table.py"),
            "--storage",
            url,
            "--out",
            str(out),
            "--only",
            LR.study,
            cwd=tmp_path,
        )
        assert table.returncode == 0, table.stderr
        tables.append(out.read_text().split("\n", 5)[5])  # all but the command line
    assert tables[0] == tables[1]
