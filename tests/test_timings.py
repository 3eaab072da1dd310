"""Where a trial's time goes: the phases each trial records, and the fit paths that save time."""

from __future__ import annotations

import optuna
import pytest
from conftest import SMALL_CONFIG as CONFIG
from conftest import run_module
from optuna.trial import TrialState

from tuner.execution.create import create_study
from tuner.study import load_study_spec, record
from tuner.training.data import load_search_data, load_study_data
from tuner.training.objective import Objective, fit_and_measure
from tuner.training.timing import _split_first_call

OBJECTIVE_PHASES = {"build", "tracing", "train_steps", "validation", "final_evaluate"}


@pytest.fixture(scope="module")
def tiny_data(mnist_path):
    return load_search_data(mnist_path, train_rows=600, validation_rows=(6000, 7000))


def test_tracing_is_the_first_calls_excess_over_the_median_of_the_rest():
    assert _split_first_call([3.0, 1.0, 1.2, 0.8]) == pytest.approx((4.0, 2.0))
    assert _split_first_call([0.5, 1.0, 1.0]) == (2.5, 0.0)  # a fast first call: no tracing
    assert _split_first_call([2.0]) == (2.0, 0.0)


def test_judging_without_curves_gives_every_seed_the_same_figures(mnist_path):
    from tuner.judging.judge import CapstoneRetrain, Round, judge
    from tuner.study import Capstone
    from tuner.training.data import load_mnist

    raw = load_mnist(mnist_path)
    config = {**CONFIG, "epochs": 2}
    judged = {
        curves: judge(
            config,
            [Round("judging", (3, 4), 0.5)],
            run_seeds=CapstoneRetrain(config, raw, Capstone(), curves=curves),
            label="t",
            trial_number=None,
        )[0]
        for curves in (True, False)
    }
    with_curves, without = judged[True].runs, judged[False].runs
    assert "val_accuracy" in with_curves[0].history
    assert "val_accuracy" not in without[0].history  # no per-epoch test pass was run
    for a, b in zip(with_curves, without, strict=True):
        assert (a.seed, a.test_accuracy, a.train_accuracy) == (
            b.seed,
            b.test_accuracy,
            b.train_accuracy,
        )
        assert a.rules == b.rules
    assert with_curves[0].test_accuracy != with_curves[1].test_accuracy  # the seeds differ


@pytest.mark.parametrize("optimizer", ["adam", "adagrad"])  # adagrad's slots do not start at 0
def test_a_reused_model_trains_exactly_like_a_fresh_one(tiny_data, optimizer):
    config = {**CONFIG, "epochs": 2, "optimizer": optimizer}
    first = fit_and_measure(config, tiny_data.train, tiny_data.validation, seed=1)
    fresh = fit_and_measure(config, tiny_data.train, tiny_data.validation, seed=2)
    reused = fit_and_measure(
        config, tiny_data.train, tiny_data.validation, seed=2, reuse=first["model"]
    )
    assert reused["model"] is first["model"]
    assert reused["history"] == fresh["history"]
    assert reused["train_accuracy"] == fresh["train_accuracy"]
    assert reused["history"] != first["history"], "another seed should give another run"


def test_a_trial_records_its_phases(tiny_study, tiny_data):
    spec = load_study_spec(tiny_study(epochs=2, extra="[robustness]\nseeds = 2\n"))
    study = optuna.create_study(direction=spec.direction, sampler=spec.make_sampler())
    study.optimize(Objective(spec, tiny_data), n_trials=1)
    timings = record.timings(study.trials[0])
    assert timings.keys() >= OBJECTIVE_PHASES
    assert timings["train_steps"] > 0 and timings["final_evaluate"] > 0
    assert all(seconds >= 0 for seconds in timings.values())


def test_a_worker_with_one_thread_trains_and_records_its_claim(tmp_path, tiny_study, mnist_path):
    """The per-worker thread setting (TUNER_THREADS, as the pool sets it): a worker started
    with it trains, reports its epochs and records where the trial's time went."""
    study_file = tiny_study(n_trials=1, epochs=2)
    spec = load_study_spec(study_file)
    url = f"sqlite:///{tmp_path / 'optuna.db'}"
    create_study(spec, url, n_trials=1, data_digest=load_study_data(spec, mnist_path).digest)
    result = run_module(
        "tuner.execution.loop",
        "--study",
        study_file,
        "--index",
        "0",
        "--data",
        mnist_path,
        cwd=tmp_path,
        env={"TUNER_STORAGE": url, "TUNER_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""},
    )
    assert result.returncode == 0, result.stderr
    (trial,) = optuna.load_study(study_name=spec.name, storage=url).trials
    assert trial.state == TrialState.COMPLETE
    assert len(trial.intermediate_values) == 2
    timings = record.timings(trial)
    assert {"claim", "claim_wait", *OBJECTIVE_PHASES} <= timings.keys()
