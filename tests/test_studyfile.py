"""Study-file validation: the shipped files load, and every broken file fails with one line."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import pytest

from tuner.errors import TunerError
from tuner.study import (
    STUDIES_DIR,
    Capstone,
    Constraints,
    DataSpec,
    OverfitSpec,
    Robustness,
    Synthetic,
    load_study_spec,
    parse_study,
)
from tuner.study.spec import LIMIT

GOOD_SPACE = {
    "n_layers": {"type": "int", "low": 1, "high": 4},
    "units": {"type": "categorical", "choices": [128, 256, 1568]},
    "learning_rate": {"type": "float", "low": 1e-4, "high": 1.0, "log": True},
    "optimizer": {"type": "categorical", "choices": ["sgd", "adam"]},
    "epochs": 5,
}


def study(**overrides):
    raw = {"name": "s", "n_trials": 3, "space": dict(GOOD_SPACE)}
    for key, value in overrides.items():
        if key.startswith("space_"):
            raw["space"][key[len("space_") :]] = value
        else:
            raw[key] = value
    return raw


@pytest.mark.parametrize("path", sorted(STUDIES_DIR.glob("*.toml")), ids=lambda p: p.stem)
def test_shipped_study_files_load(path):
    spec = load_study_spec(str(path))
    assert spec.name == path.stem
    spec.make_sampler()
    spec.make_pruner()


def test_mnist_mlp_is_the_course_space():
    spec = load_study_spec("mnist_mlp")
    assert spec.space["epochs"].value == 5
    assert {128, 256, 1568} <= set(spec.space["units"].choices)
    assert set(spec.space["activation"].choices) == {"sigmoid", "relu"}
    assert set(spec.space["optimizer"].choices) == {
        "sgd",
        "momentum",
        "adam",
        "rmsprop",
        "adagrad",
        "adadelta",
    }
    lr = spec.space["learning_rate"]
    assert (lr.low, lr.high, lr.log) == (1e-4, 1.0, True)
    assert spec.data.train_rows == 6000 and spec.data.validation_rows == (6000, 16000)
    assert spec.direction == "maximize"


@pytest.mark.parametrize(
    "raw, key, problem",
    [
        (study(bogus=1), "bogus", "unknown key"),
        (study(n_trials=0), "n_trials", "positive integer"),
        (study(metric="f1"), "metric", "unknown metric"),
        (study(space_dropout_rate=0.5), "space.dropout_rate", "unknown parameter"),
        (
            study(space_n_layers={"type": "int", "low": 4, "high": 1}),
            "space.n_layers",
            "greater than high",
        ),
        (
            study(space_units={"type": "categorical", "choices": []}),
            "space.units.choices",
            "non-empty",
        ),
        (
            study(space_optimizer={"type": "categorical", "choices": ["sgd", "lion"]}),
            "space.optimizer.choices",
            "unknown optimizer 'lion'",
        ),
        (study(space_optimizer="nadam"), "space.optimizer", "unknown optimizer"),
        (
            study(space_learning_rate={"type": "float", "low": 0, "high": 1, "log": True}),
            "space.learning_rate.low",
            "within",
        ),
        (
            study(space_dropout={"type": "float", "low": 0.0, "high": 1.5}),
            "space.dropout.high",
            "within",
        ),
        (
            study(space_epochs={"type": "float", "low": 1, "high": 5}),
            "space.epochs.type",
            "integer parameter",
        ),
        (
            study(space_units={"type": "choice", "choices": [1]}),
            "space.units.type",
            "must be one of",
        ),
        (study(space_layers="256-x"), "space.layers", "layers must be"),
        (study(space_rescale="yes"), "space.rescale", "true or false"),
        (
            study(data={"train_rows": 6000, "validation_rows": [0, 1000]}),
            "data.validation_rows",
            "overlap",
        ),
        (study(data={"rows": 5}), "data.rows", "unknown key"),
        (
            study(data={"evaluate_on": "train"}),
            "data.evaluate_on",
            'must be "validation" or "test"',
        ),
        (
            study(data={"evaluate_on": "test", "validation_rows": [6000, 7000]}),
            "data.validation_rows",
            "not used",
        ),
        (study(data={"evaluate_on": "test", "test_rows": 0}), "data.test_rows", "1..10000"),
        (study(data={"evaluate_on": "test", "test_rows": 10001}), "data.test_rows", "1..10000"),
        (study(data={"evaluate_on": "test", "test_rows": 99.5}), "data.test_rows", "1..10000"),
        (
            study(data={"evaluate_on": "test", "test_rows": "all"}),
            "data.test_rows",
            "must be an integer in 1..10000",
        ),
        (study(data={"test_rows": 1000}), "data.test_rows", "only used with evaluate_on"),
        (study(constraints={"max_gap": "small"}), "constraints.max_gap", "must be a number"),
        (study(sampler={"name": "cmaes"}), "sampler", "unknown sampler"),
        (study(sampler={"name": "tpe", "speed": 3}), "sampler", "no option 'speed'"),
        (study(pruner={"name": "median", "n_warmup_steps": -1}), "pruner", "negative"),
        (study(pruner={"name": "halving"}), "pruner", "unknown pruner"),
        (study(sampler={"name": "grid"}), "sampler", "categorical"),
        (study(overfit=True), "overfit", "must be a table"),
        (study(overfit={"patience_epochs": 3}), "overfit.patience_epochs", "unknown key"),
        (study(overfit={"enabled": "yes"}), "overfit.enabled", "true or false"),
        (study(overfit={"rules": ["gap", "val"]}), "overfit.rules", "drawn from"),
        (study(overfit={"patience": 0}), "overfit.patience", "integer >= 1"),
        (study(overfit={"warmup_epochs": 2.5}), "overfit.warmup_epochs", "integer >= 0"),
        (study(overfit={"eval_rows": 0}), "overfit.eval_rows", "integer >= 1"),
        (study(overfit={"max_gap": 1.5}), "overfit.max_gap", "in [0, 1]"),
        (study(overfit={"max_gap": float("nan")}), "overfit.max_gap", "in [0, 1]"),
    ],
)
def test_bad_study_is_one_line_naming_file_key_and_problem(raw, key, problem):
    with pytest.raises(TunerError) as info:
        parse_study(raw, path="studies/bad.toml")
    message = str(info.value)
    assert message.startswith(f"studies/bad.toml: {key}: "), message
    assert problem in message
    assert "\n" not in message


@pytest.mark.parametrize(
    "section, values, key, problem",
    [
        # Capstone rules no config could meet: epochs are whole, accuracies are fractions.
        ("capstone", {"epochs": 5.5}, "capstone.epochs", "must be an integer in 1..1000"),
        ("capstone", {"epochs": True}, "capstone.epochs", "must be an integer in 1..1000"),
        ("capstone", {"epochs": 0}, "capstone.epochs", "must be an integer in 1..1000"),
        ("capstone", {"min_test_accuracy": 87}, "capstone.min_test_accuracy", "in [0, 1]"),
        ("capstone", {"min_test_accuracy": "0.87"}, "capstone.min_test_accuracy", "a number"),
        ("capstone", {"max_gap": -0.1}, "capstone.max_gap", "in [0, 1]"),
        ("capstone", {"max_gap": float("nan")}, "capstone.max_gap", "in [0, 1]"),
        ("capstone", {"min_accuracy": 0.9}, "capstone.min_accuracy", "unknown key"),
        ("capstone", 0.87, "capstone", "must be a table"),
        ("constraints", {"min_val_accuracy": 1.5}, "constraints.min_val_accuracy", "in [0, 1]"),
        ("constraints", {"max_gap": -0.01}, "constraints.max_gap", "in [0, 1]"),
        ("constraints", {"gap_offset": 2}, "constraints.gap_offset", "in [-1, 1]"),
        ("robustness", {"seeds": 65}, "robustness.seeds", "integer in 1..64"),
        ("robustness", {"seeds": 0}, "robustness.seeds", "integer in 1..64"),
        ("robustness", {"seeds": 2.0}, "robustness.seeds", "integer in 1..64"),
        ("robustness", {"extra_seeds": 2}, "robustness.extra_seeds", "unknown key"),
        ("overfit", {"rules": "gap"}, "overfit.rules", "drawn from"),
        ("overfit", {"patience": True}, "overfit.patience", "integer >= 1"),
        ("synthetic", {"epoch_seconds": -1}, "synthetic.epoch_seconds", "in [0, 60]"),
        ("data", {"train_rows": 0}, "data.train_rows", "integer in 1..60000"),
        ("data", {"train_rows": True}, "data.train_rows", "integer in 1..60000"),
        ("data", {"validation_rows": [6000]}, "data.validation_rows", "[start, stop]"),
        ("data", {"validation_rows": [16000, 6000]}, "data.validation_rows", "start < stop"),
        ("data", {"validation_rows": [6000, 70000]}, "data.validation_rows", "0..60000"),
        ("data", {"validation_rows": "6000-16000"}, "data.validation_rows", "a list"),
        ("data", {"evaluate_on": 1}, "data.evaluate_on", 'must be "validation" or "test"'),
        ("sampler", "tpe", "sampler", "must be a table"),
    ],
)
def test_section_values_outside_their_limits_fail(section, values, key, problem):
    with pytest.raises(TunerError) as info:
        parse_study(study(**{section: values}), path="studies/bad.toml")
    message = str(info.value)
    assert message.startswith(f"studies/bad.toml: {key}: "), message
    assert problem in message, message
    assert "\n" not in message


def test_section_values_at_their_limits_pass_as_their_field_types():
    spec = parse_study(
        study(
            capstone={"min_test_accuracy": 1, "max_gap": 0, "epochs": 1000},
            constraints={"gap_offset": -1},
            robustness={"seeds": 64},
            overfit={"rules": ["loss", "loss"]},
        )
    )
    assert spec.capstone == Capstone(min_test_accuracy=1.0, max_gap=0.0, epochs=1000)
    assert isinstance(spec.capstone.min_test_accuracy, float)
    assert spec.constraints.gap_offset == -1.0
    assert spec.robustness == Robustness(seeds=64)
    assert spec.overfit.rules == ("loss",)  # a rule named twice counts once


@pytest.mark.parametrize(
    "name, section",
    [
        ("data", DataSpec),
        ("constraints", Constraints),
        ("capstone", Capstone),
        ("overfit", OverfitSpec),
        ("robustness", Robustness),
        ("synthetic", Synthetic),
    ],
)
def test_every_section_field_states_its_limit_and_its_default_fits_it(name, section):
    # Written out in full, the defaults pass their own limits: leaving a table out is valid.
    table = {}
    for spec_field in dataclasses.fields(section):
        assert spec_field.metadata[LIMIT].doc, spec_field.name
        table[spec_field.name] = _as_toml(spec_field.default)
    if section is DataSpec:
        del table["test_rows"]  # only with evaluate_on = "test"
    assert getattr(parse_study(study(**{name: table})), name) == section()


def _as_toml(value):
    return list(value) if isinstance(value, tuple) else value


def test_importing_the_study_package_does_not_import_keras():
    # The launcher and synthetic workers parse study files without TensorFlow.
    code = (
        "import sys, tuner.study; "
        "loaded = {'keras', 'tensorflow'} & set(sys.modules); "
        "assert not loaded, loaded"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_data_measures_on_validation_rows_unless_told_test():
    default = parse_study(study()).data
    assert (default.evaluate_on, default.validation_rows) == ("validation", (6000, 16000))
    test = parse_study(
        study(data={"train_rows": 1500, "evaluate_on": "test", "test_rows": 6000})
    ).data
    assert (test.train_rows, test.evaluate_on, test.test_rows) == (1500, "test", 6000)


def test_overfit_table_defaults_and_values():
    assert parse_study(study()).overfit == OverfitSpec()  # no [overfit]: the defaults
    spec = parse_study(
        study(overfit={"enabled": False, "rules": ["loss"], "patience": 7, "max_gap": 0.1})
    )
    assert spec.overfit == OverfitSpec(enabled=False, rules=("loss",), patience=7, max_gap=0.1)
    epochs = load_study_spec("mnist_mlp_epochs")
    assert epochs.data.train_rows == 1500 and epochs.space["epochs"].high == 60
    assert epochs.overfit.enabled


def test_broken_toml_and_unknown_names(tmp_path):
    bad = tmp_path / "broken.toml"
    bad.write_text("name = [unclosed\n")
    with pytest.raises(TunerError, match=r"broken\.toml: not valid TOML"):
        load_study_spec(str(bad))
    with pytest.raises(TunerError, match="unknown study 'nope'"):
        load_study_spec("nope")
    with pytest.raises(TunerError, match="does not exist"):
        load_study_spec(str(tmp_path / "missing.toml"))


@pytest.mark.parametrize(
    "gap, val_accuracy, gap_excess, margin",
    [
        (0.010, 0.90, -0.007, 0.007),  # at the window's centre: the gap rule is the tighter
        (0.017, 0.90, 0.0, 0.0),  # on the upper edge: still feasible
        (0.003, 0.90, 0.0, 0.0),  # on the lower edge
        (-0.001, 0.90, 0.004, -0.004),  # a negative validation gap is a clearly negative test gap
        (0.010, 0.868, -0.007, 0.003),  # the accuracy floor is the tighter rule
        (0.010, 0.860, -0.007, -0.005),
    ],
)
def test_constraints_window_around_the_gap_offset(gap, val_accuracy, gap_excess, margin):
    from tuner.study import Constraints

    rules = Constraints(min_val_accuracy=0.865, max_gap=0.007, gap_offset=0.01)
    assert rules.gap_excess(gap) == pytest.approx(gap_excess)
    assert rules.margin(val_accuracy, gap) == pytest.approx(margin)


def test_capstone_margin_needs_real_training():
    raw = study(metric="capstone_margin", synthetic={})
    with pytest.raises(
        TunerError, match=r"s\.toml: metric: capstone_margin needs a real train accuracy"
    ):
        parse_study(raw, path="s.toml")
