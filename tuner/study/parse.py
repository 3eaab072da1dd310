"""Study files: one TOML file per study in `studies/`, parsed and checked into a StudySpec.

Every problem is reported as `<file>: <key>: <problem>`, so a user can fix the file without
reading code. Parsing builds the sampler and pruner once, so a bad option fails here, not in a
worker an hour later.
"""

from __future__ import annotations

import inspect
import math
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import optuna
import tomllib

from tuner.errors import TunerError
from tuner.study.grid import BudgetGridSampler, grid_size

STUDIES_DIR = Path(__file__).resolve().parents[2] / "studies"

# What a search-space entry may name, and what values each accepts. The model builder
# (tuner.training.model) consumes exactly these keys.
CHOICES = {
    "activation": ("sigmoid", "relu", "tanh", "elu", "gelu"),
    "loss": ("categorical_crossentropy", "mean_squared_error"),
    "optimizer": ("sgd", "momentum", "adam", "rmsprop", "adagrad", "adadelta"),
    # Where dropout goes: after every hidden layer, after the last one only, or after the
    # second one (the course's section 2.3 position).
    "dropout_position": ("all", "last", "second"),
}
RANGES = {  # name: (type, lowest allowed, highest allowed)
    "n_layers": (int, 1, 8),
    "units": (int, 1, 8192),
    "dropout": (float, 0.0, 0.95),
    "learning_rate": (float, 1e-8, 10.0),
    "batch_size": (int, 1, 60000),
    "epochs": (int, 1, 1000),
    "input_noise": (float, 0.0, 1000.0),
    "input_dropout": (float, 0.0, 0.95),
    "shift": (float, 0.0, 0.5),
    "l2": (float, 0.0, 1.0),
    "seed_repeat": (int, 0, 10**6),
}
FLAGS = ("rescale",)
# `layers` names a whole structure: a fixed list like [256, 128] or choices like "256-128".
PARAMETERS = (*CHOICES, *RANGES, *FLAGS, "layers")

DEFAULTS: dict[str, Any] = {
    "n_layers": 2,
    "units": 256,
    "activation": "relu",
    "dropout": 0.0,
    "dropout_position": "all",
    "loss": "categorical_crossentropy",
    "optimizer": "adam",
    "learning_rate": 1e-3,
    "batch_size": 32,
    "epochs": 5,
    "rescale": False,
    "input_noise": 0.0,
    "input_dropout": 0.0,
    "shift": 0.0,
    "l2": 0.0,
    "seed_repeat": 0,
}

SAMPLERS = {
    "tpe": optuna.samplers.TPESampler,
    "random": optuna.samplers.RandomSampler,
    "grid": BudgetGridSampler,
}
PRUNERS = {
    "none": optuna.pruners.NopPruner,
    "median": optuna.pruners.MedianPruner,
    "percentile": optuna.pruners.PercentilePruner,
    "successive_halving": optuna.pruners.SuccessiveHalvingPruner,
    "hyperband": optuna.pruners.HyperbandPruner,
    "patient": optuna.pruners.PatientPruner,
    "wilcoxon": optuna.pruners.WilcoxonPruner,
}
# capstone_margin: how far a run clears both [constraints] (see Constraints.margin); positive
# when feasible, so maximizing it favours configs with slack on every rule, not accuracy alone.
METRICS = {"val_accuracy": "maximize", "val_loss": "minimize", "capstone_margin": "maximize"}
# What trials are measured on: training rows held out from training (the capstone search), or
# the test rows, as the course's exercises measure each option.
EVALUATE_ON = ("validation", "test")

_SECTIONS = {
    "name",
    "description",
    "n_trials",
    "metric",
    "data",
    "constraints",
    "capstone",
    "sampler",
    "pruner",
    "space",
    "overfit",
    "robustness",
    "synthetic",
}


@dataclass(frozen=True)
class Param:
    """One search-space entry: a distribution to sample, or a fixed value."""

    name: str
    kind: str  # "int" | "float" | "categorical" | "fixed"
    low: float | None = None
    high: float | None = None
    step: float | None = None
    log: bool = False
    choices: tuple = ()
    value: Any = None


@dataclass(frozen=True)
class DataSpec:
    train_rows: int = 6000  # x_train[:train_rows], the course's definition
    validation_rows: tuple[int, int] = (6000, 16000)  # disjoint from training and test rows
    # "validation" never reads x_test; "test" measures trials on x_test[:test_rows] instead
    # of the validation rows (the course's exercises; never a search for the capstone).
    evaluate_on: str = "validation"
    test_rows: int = 10000


@dataclass(frozen=True)
class Constraints:
    """Capstone rules as measured on the validation split during the search (feasibility).

    The validation rows are harder than the test rows, so a validation gap overstates the test
    gap by about `gap_offset`: the gap rule is |gap - gap_offset| <= max_gap, a window around
    the validation gap that stands for a zero test gap (offset 0: the plain |gap| <= max_gap).
    """

    min_val_accuracy: float = 0.87
    max_gap: float = 0.01
    gap_offset: float = 0.0

    def gap_excess(self, gap: float) -> float:
        """How far a train - validation gap lies outside the window (<= 0: inside)."""
        return abs(gap - self.gap_offset) - self.max_gap

    def accuracy_shortfall(self, val_accuracy: float) -> float:
        return self.min_val_accuracy - val_accuracy

    def margin(self, val_accuracy: float, gap: float) -> float:
        """The slack on the tighter rule, in accuracy points; >= 0 exactly when feasible."""
        return -max(self.gap_excess(gap), self.accuracy_shortfall(val_accuracy))


@dataclass(frozen=True)
class Capstone:
    """The course's literal rules, judged by the reporter on the real test set."""

    min_test_accuracy: float = 0.87
    max_gap: float = 0.01
    epochs: int = 5


OVERFIT_RULES = ("gap", "loss")


@dataclass(frozen=True)
class OverfitSpec:
    """When the trial callback stops a run that has begun to overfit (the `[overfit]` table).

    A rule fires after it has held for `patience` epochs in a row, counting only epochs after
    the warm-up, so the earliest stop is epoch warmup_epochs + patience: a 5-epoch study with
    the defaults is never touched.
    """

    enabled: bool = True  # false: report to the pruner and stop diverged runs only
    rules: tuple[str, ...] = OVERFIT_RULES  # "gap" and/or "loss"
    warmup_epochs: int = 5  # epochs before any rule is checked
    patience: int = 5  # epochs in a row a rule must hold before the trial is stopped
    max_gap: float = 0.05  # gap rule: train accuracy (dropout off) minus validation accuracy
    eval_rows: int = 1000  # training rows the gap rule measures train accuracy on, each epoch


@dataclass(frozen=True)
class Robustness:
    """Re-train promising trials with extra seeds, so feasibility is not one lucky run.

    A trial whose first run lands within `margin` of both constraint limits is trained
    `extra_seeds` more times; its constraints then use the worst run and its objective the
    lower confidence bound mean - std of the validation metric.
    """

    extra_seeds: int = 0
    margin: float = 0.005


@dataclass(frozen=True)
class Synthetic:
    """`[synthetic]`: train nothing; a closed-form score stands in for Keras (tuner/synthetic.py).

    For tests and storage benchmarks of the worker, pool and storage code only: no accuracy
    claim may rest on a synthetic study.
    """

    epoch_seconds: float = 0.1  # how long each "epoch" sleeps, so trials overlap like real ones


@dataclass(frozen=True)
class StudySpec:
    name: str
    path: str
    text: str
    description: str
    n_trials: int
    metric: str
    direction: str
    data: DataSpec
    constraints: Constraints
    capstone: Capstone
    robustness: Robustness
    sampler: dict[str, Any]
    pruner: dict[str, Any]
    space: dict[str, Param]
    overfit: OverfitSpec = field(default_factory=OverfitSpec)
    synthetic: Synthetic | None = None

    def make_sampler(self, seed_offset: int = 0) -> optuna.samplers.BaseSampler:
        """Build the sampler; each worker offsets the seed so workers do not sample in lockstep."""
        return _build_sampler(self.sampler, self.space, seed_offset)

    def make_pruner(self) -> optuna.pruners.BasePruner:
        return _build_pruner(self.pruner)


def resolve_study_path(study: str) -> Path:
    """`--study` takes a name from studies/ or a path to a .toml file."""
    candidate = Path(study)
    if candidate.suffix == ".toml" or os.sep in study:
        if not candidate.is_file():
            raise TunerError(f"study file {study!r} does not exist")
        return candidate
    path = STUDIES_DIR / f"{study}.toml"
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in STUDIES_DIR.glob("*.toml"))) or "none"
        raise TunerError(f"unknown study {study!r} (known: {known}; or pass a .toml path)")
    return path


def load_study_spec(study: str) -> StudySpec:
    path = resolve_study_path(study)
    text = path.read_text()
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise TunerError(f"{path}: not valid TOML: {e}") from e
    return parse_study(raw, path=str(path), text=text)


def parse_study(raw: dict[str, Any], *, path: str = "<study>", text: str = "") -> StudySpec:
    def fail(key: str, problem: str) -> TunerError:
        return TunerError(f"{path}: {key}: {problem}")

    for key in raw:
        if key not in _SECTIONS:
            raise fail(key, f"unknown key (allowed: {', '.join(sorted(_SECTIONS))})")
    name = raw.get("name", Path(path).stem)
    if not isinstance(name, str) or not name:
        raise fail("name", "must be a non-empty string")
    n_trials = raw.get("n_trials", 20)
    if not isinstance(n_trials, int) or isinstance(n_trials, bool) or n_trials < 1:
        raise fail("n_trials", f"must be a positive integer, got {n_trials!r}")
    metric = raw.get("metric", "val_accuracy")
    if metric not in METRICS:
        raise fail("metric", f"unknown metric {metric!r} (known: {', '.join(METRICS)})")
    if metric == "capstone_margin" and "synthetic" in raw:
        raise fail(
            "metric",
            "capstone_margin needs a real train accuracy; synthetic studies "
            "support val_accuracy and val_loss",
        )

    data = _parse_table(raw, "data", DataSpec, fail)
    if isinstance(data.validation_rows, list):
        data = replace(data, validation_rows=tuple(data.validation_rows))
    _check_data(data, set(raw.get("data", {})), fail)
    constraints = _parse_table(raw, "constraints", Constraints, fail)
    capstone = _parse_table(raw, "capstone", Capstone, fail)
    robustness = _parse_table(raw, "robustness", Robustness, fail)
    if not isinstance(robustness.extra_seeds, int) or robustness.extra_seeds > 20:
        raise fail(
            "robustness.extra_seeds", f"must be an integer in 0..20, got {robustness.extra_seeds!r}"
        )

    space_raw = raw.get("space", {})
    if not isinstance(space_raw, dict):
        raise fail("space", "must be a table")
    space = {key: _parse_param(key, value, fail) for key, value in space_raw.items()}

    sampler = dict(raw.get("sampler", {"name": "tpe"}))
    pruner = dict(raw.get("pruner", {"name": "none"}))
    overfit = _parse_overfit(raw.get("overfit", {}), fail)
    synthetic = _parse_table(raw, "synthetic", Synthetic, fail) if "synthetic" in raw else None
    try:
        _build_sampler(sampler, space, 0)
    except (TypeError, ValueError) as e:
        raise fail("sampler", str(e)) from e
    if sampler.get("name") == "grid":
        size = grid_size({p.name: p.choices for p in space.values() if p.kind == "categorical"})
        if n_trials > size:
            raise fail(
                "n_trials",
                f"{n_trials} is more than the grid's {size} points; "
                f"use n_trials = {size} to run each point once",
            )
    try:
        _build_pruner(pruner)
    except (TypeError, ValueError) as e:
        raise fail("pruner", str(e)) from e

    return StudySpec(
        name=name,
        path=path,
        text=text,
        description=str(raw.get("description", "")).strip(),
        n_trials=n_trials,
        metric=metric,
        direction=METRICS[metric],
        data=data,
        constraints=constraints,
        capstone=capstone,
        robustness=robustness,
        sampler=sampler,
        pruner=pruner,
        space=space,
        overfit=overfit,
        synthetic=synthetic,
    )


def _parse_table(raw: dict[str, Any], key: str, cls: type, fail) -> Any:
    table = raw.get(key, {})
    if not isinstance(table, dict):
        raise fail(key, "must be a table")
    fields = {f.name: f for f in cls.__dataclass_fields__.values()}
    for sub, value in table.items():
        if sub not in fields:
            raise fail(f"{key}.{sub}", f"unknown key (allowed: {', '.join(fields)})")
        default = fields[sub].default
        if isinstance(default, (int, float)) and not isinstance(default, bool):
            if not isinstance(value, (int, float)) or isinstance(value, bool):
                raise fail(f"{key}.{sub}", f"must be a number, got {value!r}")
            if value < 0:
                raise fail(f"{key}.{sub}", f"cannot be negative, got {value!r}")
    return cls(**table)


def _parse_overfit(table: Any, fail) -> OverfitSpec:
    if not isinstance(table, dict):
        raise fail("overfit", "must be a table")
    allowed = OverfitSpec.__dataclass_fields__
    for key in table:
        if key not in allowed:
            raise fail(f"overfit.{key}", f"unknown key (allowed: {', '.join(allowed)})")
    values = dict(table)
    if "enabled" in values and not isinstance(values["enabled"], bool):
        raise fail("overfit.enabled", f"must be true or false, got {values['enabled']!r}")
    if "rules" in values:
        rules = values["rules"]
        if not isinstance(rules, list) or any(r not in OVERFIT_RULES for r in rules):
            raise fail(
                "overfit.rules", f"must be a list drawn from {list(OVERFIT_RULES)}, got {rules!r}"
            )
        values["rules"] = tuple(dict.fromkeys(rules))
    for key, lowest in (("warmup_epochs", 0), ("patience", 1), ("eval_rows", 1)):
        value = values.get(key, lowest)
        if not isinstance(value, int) or isinstance(value, bool) or value < lowest:
            raise fail(f"overfit.{key}", f"must be an integer >= {lowest}, got {value!r}")
    gap = values.get("max_gap", 0.0)
    if not isinstance(gap, (int, float)) or isinstance(gap, bool) or not 0 <= gap <= 1:
        raise fail(
            "overfit.max_gap", f"must be a number in [0, 1] (an accuracy difference), got {gap!r}"
        )
    return OverfitSpec(**values)


def _check_data(data: DataSpec, given: set[str], fail) -> None:
    if not isinstance(data.train_rows, int) or not 1 <= data.train_rows <= 60000:
        raise fail("data.train_rows", f"must be an integer in 1..60000, got {data.train_rows!r}")
    if data.evaluate_on not in EVALUATE_ON:
        raise fail("data.evaluate_on", f'must be "validation" or "test", got {data.evaluate_on!r}')
    if data.evaluate_on == "test":
        if "validation_rows" in given:
            raise fail(
                "data.validation_rows",
                'is not used with evaluate_on = "test" '
                "(trials are measured on x_test[:test_rows]); remove it",
            )
        if not isinstance(data.test_rows, int) or not 1 <= data.test_rows <= 10000:
            raise fail("data.test_rows", f"must be an integer in 1..10000, got {data.test_rows!r}")
        return
    if "test_rows" in given:
        raise fail(
            "data.test_rows",
            'is only used with evaluate_on = "test"; the validation split never reads x_test',
        )
    rows = data.validation_rows
    if len(rows) != 2 or not all(isinstance(r, int) for r in rows):
        raise fail("data.validation_rows", f"must be [start, stop], got {list(rows)!r}")
    start, stop = rows
    if not 0 <= start < stop <= 60000:
        raise fail("data.validation_rows", f"need 0 <= start < stop <= 60000, got {list(rows)!r}")
    if start < data.train_rows:
        raise fail(
            "data.validation_rows",
            f"rows {start}..{stop} overlap the training rows 0..{data.train_rows}; "
            "validation must be disjoint from training",
        )


def _parse_param(name: str, value: Any, fail) -> Param:
    key = f"space.{name}"
    if name not in PARAMETERS:
        raise fail(key, f"unknown parameter (known: {', '.join(PARAMETERS)})")
    if not isinstance(value, dict):
        _check_value(name, value, key, fail)
        return Param(name, "fixed", value=value)

    kind = value.get("type")
    allowed = {
        "int": {"type", "low", "high", "step", "log"},
        "float": {"type", "low", "high", "step", "log"},
        "categorical": {"type", "choices"},
    }
    if kind not in allowed:
        raise fail(f"{key}.type", f"must be one of int, float, categorical; got {kind!r}")
    for sub in value:
        if sub not in allowed[kind]:
            raise fail(f"{key}.{sub}", f"unknown key for a {kind} parameter")

    if kind == "categorical":
        choices = value.get("choices")
        if not isinstance(choices, list) or not choices:
            raise fail(f"{key}.choices", "must be a non-empty list")
        for choice in choices:
            _check_value(name, choice, f"{key}.choices", fail)
        return Param(name, kind, choices=tuple(choices))

    if name in CHOICES or name in FLAGS or name == "layers":
        raise fail(f"{key}.type", f"{name} takes categorical choices, not an {kind} range")
    if name == "units" or RANGES[name][0] is int:
        if kind != "int":
            raise fail(f"{key}.type", f'{name} is an integer parameter; use type = "int"')
    low, high = value.get("low"), value.get("high")
    for sub, bound in (("low", low), ("high", high)):
        if not isinstance(bound, (int, float)) or isinstance(bound, bool):
            raise fail(f"{key}.{sub}", f"must be a number, got {bound!r}")
        _check_value(name, bound, f"{key}.{sub}", fail)
    if low > high:
        raise fail(key, f"low ({low}) is greater than high ({high})")
    log = value.get("log", False)
    step = value.get("step")
    if log and low <= 0:
        raise fail(f"{key}.low", f"a log range needs low > 0, got {low}")
    if log and step is not None:
        raise fail(f"{key}.step", "step cannot be combined with log = true")
    return Param(name, kind, low=low, high=high, step=step, log=bool(log))


def _check_value(name: str, value: Any, key: str, fail) -> None:
    """Check one fixed value or categorical choice against what the model builder accepts."""
    if name in CHOICES:
        if value not in CHOICES[name]:
            raise fail(key, f"unknown {name} {value!r} (known: {', '.join(CHOICES[name])})")
    elif name in FLAGS:
        if not isinstance(value, bool):
            raise fail(key, f"{name} must be true or false, got {value!r}")
    elif name == "layers":
        try:
            widths = parse_layers(value)
        except ValueError:
            raise fail(
                key, f'layers must be a list of widths or a string like "256-128", got {value!r}'
            )
        for w in widths:
            _check_value("units", w, key, fail)
    else:
        typ, lo, hi = RANGES[name]
        ok_type = isinstance(value, int) if typ is int else isinstance(value, (int, float))
        if isinstance(value, bool) or not ok_type:
            raise fail(
                key, f"{name} must be {'an integer' if typ is int else 'a number'}, got {value!r}"
            )
        if not (lo <= value <= hi) or (isinstance(value, float) and math.isnan(value)):
            raise fail(key, f"{name} must be within [{lo}, {hi}], got {value!r}")


def parse_layers(value: Any) -> list[int]:
    """`[256, 128]` or `"256-128"` -> [256, 128]."""
    if isinstance(value, str):
        widths = [int(part) for part in value.split("-")]
    elif isinstance(value, list) and all(
        isinstance(v, int) and not isinstance(v, bool) for v in value
    ):
        widths = list(value)
    else:
        raise ValueError(value)
    if not widths:
        raise ValueError(value)
    return widths


def _build_sampler(cfg: dict[str, Any], space: dict[str, Param], seed_offset: int):
    cfg = dict(cfg)
    name = cfg.pop("name", "tpe")
    if name not in SAMPLERS:
        raise ValueError(f"unknown sampler {name!r} (known: {', '.join(SAMPLERS)})")
    if cfg.get("seed") is not None:
        # Grid workers must share one shuffle of the grid (see tuner.study.grid); others spread out.
        cfg["seed"] = int(cfg["seed"]) + (0 if name == "grid" else seed_offset)
    if name == "tpe":  # parallel workers: pending trials count as lies, so workers spread out
        cfg.setdefault("constant_liar", True)
    if name == "grid":
        grid = {p.name: list(p.choices) for p in space.values() if p.kind == "categorical"}
        if len(grid) != sum(p.kind != "fixed" for p in space.values()):
            raise ValueError("the grid sampler needs every searched parameter to be categorical")
        cfg["search_space"] = grid
    _check_kwargs(SAMPLERS[name], cfg, f"sampler {name!r}")
    return SAMPLERS[name](**cfg)


def _build_pruner(cfg: dict[str, Any]) -> optuna.pruners.BasePruner:
    cfg = dict(cfg)
    name = cfg.pop("name", "none")
    if name not in PRUNERS:
        raise ValueError(f"unknown pruner {name!r} (known: {', '.join(PRUNERS)})")
    if name == "patient":  # PatientPruner wraps another pruner, named by `wrapped`
        wrapped = cfg.pop("wrapped", "none")
        cfg["wrapped_pruner"] = None if wrapped == "none" else _build_pruner({"name": wrapped})
    _check_kwargs(PRUNERS[name], cfg, f"pruner {name!r}")
    return PRUNERS[name](**cfg)


def _check_kwargs(cls: type, kwargs: dict[str, Any], what: str) -> None:
    accepted = set(inspect.signature(cls).parameters)
    for key in kwargs:
        if key not in accepted:
            raise ValueError(
                f"{what} has no option {key!r} (options: {', '.join(sorted(accepted))})"
            )
