"""The search space: what a `[space]` entry may name, its parsing, and sampling one trial's config.

A trial's *config* is the complete, plain-JSON description of a run:
`tuner.training.model.build_model(config)` rebuilds the network from it, and the export and the
reporter store it. The names a config may take (activations, losses, ...) are listed here, as
plain data, so that a study file is checked without importing Keras.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import optuna

from tuner.errors import StudyFileError

# The config's vocabulary: the names build_model (tuner.training.model) understands.
ACTIVATIONS = ("sigmoid", "relu", "tanh", "elu", "gelu")  # Keras activation names
LOSSES = ("categorical_crossentropy", "mean_squared_error")  # Keras loss names
# name: (keras.optimizers class, its arguments besides the learning rate)
OPTIMIZERS: dict[str, tuple[str, dict[str, float]]] = {
    "sgd": ("SGD", {}),
    "momentum": ("SGD", {"momentum": 0.9}),
    "adam": ("Adam", {}),
    "rmsprop": ("RMSprop", {}),
    "adagrad": ("Adagrad", {}),
    "adadelta": ("Adadelta", {}),
}
# Where dropout goes: after every hidden layer, after the last one only, or after the second
# one (the course's section 2.3 position).
DROPOUT_POSITIONS = ("all", "last", "second")
# What a search-space entry may name, and what values each accepts.
CHOICES: dict[str, tuple[str, ...]] = {
    "activation": ACTIVATIONS,
    "loss": LOSSES,
    "optimizer": tuple(OPTIMIZERS),
    "dropout_position": DROPOUT_POSITIONS,
}
RANGES: dict[str, tuple[type, float, float]] = {  # name: (type, lowest allowed, highest allowed)
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

_RANGE_KEYS = {"type", "low", "high", "step", "log"}
_KEYS = {"int": _RANGE_KEYS, "float": _RANGE_KEYS, "categorical": {"type", "choices"}}


@dataclass(frozen=True)
class Param:
    """One search-space entry: a distribution to sample, or a fixed value."""

    name: str
    kind: str  # "int" | "float" | "categorical" | "fixed"
    low: float = 0.0  # int and float ranges only
    high: float = 0.0
    step: float | None = None
    log: bool = False
    choices: tuple = ()
    value: Any = None

    def admits(self, value: Any) -> bool:
        """Whether a sampled value of this entry could be `value`."""
        if self.kind == "categorical":
            return any(value == c and type(value) is type(c) for c in self.choices)
        if self.kind == "fixed" or isinstance(value, bool):
            return False
        number = int if self.kind == "int" else (int, float)
        return isinstance(value, number) and self.low <= value <= self.high

    def describe(self) -> str:
        if self.kind == "categorical":
            return f"choices {list(self.choices)}"
        return f"{self.kind} range [{self.low}, {self.high}]"


def parse_param(name: str, value: Any) -> Param:
    """One `[space]` entry -> Param; a bad entry raises StudyFileError."""
    key = f"space.{name}"
    if name not in PARAMETERS:
        raise StudyFileError(key, f"unknown parameter (known: {', '.join(PARAMETERS)})")
    if not isinstance(value, dict):
        check_value(name, value, key)
        return Param(name, "fixed", value=value)

    kind = value.get("type")
    if kind not in _KEYS:
        raise StudyFileError(f"{key}.type", f"must be one of int, float, categorical; got {kind!r}")
    for sub in value:
        if sub not in _KEYS[kind]:
            raise StudyFileError(f"{key}.{sub}", f"unknown key for a {kind} parameter")

    if kind == "categorical":
        choices = value.get("choices")
        if not isinstance(choices, list) or not choices:
            raise StudyFileError(f"{key}.choices", "must be a non-empty list")
        for choice in choices:
            check_value(name, choice, f"{key}.choices")
        return Param(name, kind, choices=tuple(choices))

    if name in CHOICES or name in FLAGS or name == "layers":
        raise StudyFileError(
            f"{key}.type", f"{name} takes categorical choices, not an {kind} range"
        )
    if RANGES[name][0] is int and kind != "int":
        raise StudyFileError(f"{key}.type", f'{name} is an integer parameter; use type = "int"')
    bounds: dict[str, float] = {}
    for sub in ("low", "high"):
        bound = value.get(sub)
        if not isinstance(bound, (int, float)) or isinstance(bound, bool):
            raise StudyFileError(f"{key}.{sub}", f"must be a number, got {bound!r}")
        check_value(name, bound, f"{key}.{sub}")
        bounds[sub] = bound
    low, high = bounds["low"], bounds["high"]
    if low > high:
        raise StudyFileError(key, f"low ({low}) is greater than high ({high})")
    log = value.get("log", False)
    step = value.get("step")
    if log and low <= 0:
        raise StudyFileError(f"{key}.low", f"a log range needs low > 0, got {low}")
    if log and step is not None:
        raise StudyFileError(f"{key}.step", "step cannot be combined with log = true")
    return Param(name, kind, low=low, high=high, step=step, log=bool(log))


def check_value(name: str, value: Any, key: str) -> None:
    """Check one fixed value or categorical choice against what the model builder accepts."""
    if name in CHOICES:
        if value not in CHOICES[name]:
            raise StudyFileError(
                key, f"unknown {name} {value!r} (known: {', '.join(CHOICES[name])})"
            )
    elif name in FLAGS:
        if not isinstance(value, bool):
            raise StudyFileError(key, f"{name} must be true or false, got {value!r}")
    elif name == "layers":
        try:
            widths = parse_layers(value)
        except ValueError:
            raise StudyFileError(
                key, f'layers must be a list of widths or a string like "256-128", got {value!r}'
            ) from None
        for width in widths:
            check_value("units", width, key)
    else:
        typ, lo, hi = RANGES[name]
        ok_type = isinstance(value, int) if typ is int else isinstance(value, (int, float))
        if isinstance(value, bool) or not ok_type:
            kind = "an integer" if typ is int else "a number"
            raise StudyFileError(key, f"{name} must be {kind}, got {value!r}")
        if not (lo <= value <= hi) or (isinstance(value, float) and math.isnan(value)):
            raise StudyFileError(key, f"{name} must be within [{lo}, {hi}], got {value!r}")


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


def suggest(trial: optuna.trial.BaseTrial, space: dict[str, Param]) -> dict[str, Any]:
    """Sample every searched parameter and fill in fixed values and defaults."""
    values: dict[str, Any] = {}
    for name, param in space.items():
        if name == "units" and param.kind != "fixed":
            continue  # sampled per layer below, once the depth is known
        values[name] = _suggest_one(trial, name, param)

    config = {key: values.get(key, default) for key, default in DEFAULTS.items()}
    if "layers" in values:
        config["layers"] = parse_layers(values["layers"])
    else:
        units = space.get("units")
        n_layers = config["n_layers"]
        if units is None or units.kind == "fixed":
            value = units.value if units is not None else DEFAULTS["units"]
            config["layers"] = (
                parse_layers(value) if isinstance(value, list) else [value] * n_layers
            )
        else:
            config["layers"] = [
                _suggest_one(trial, f"units_{i + 1}", units) for i in range(n_layers)
            ]
    config["n_layers"] = len(config["layers"])
    del config["units"]
    return config


def searched_names(space: dict[str, Param]) -> dict[str, Param]:
    """The parameter names a trial samples, as Optuna records them: a searched `units` is
    sampled per layer as units_1, units_2, ... up to the deepest net the space allows."""
    names = {name: p for name, p in space.items() if p.kind != "fixed" and name != "units"}
    units = space.get("units")
    if units is not None and units.kind != "fixed":
        depth = space.get("n_layers")
        deepest = DEFAULTS["n_layers"] if depth is None else depth.value
        if depth is not None and depth.kind != "fixed":
            deepest = int(depth.high) if depth.kind == "int" else max(depth.choices)
        names.update({f"units_{i + 1}": units for i in range(int(deepest))})
    return names


def _suggest_one(trial: optuna.trial.BaseTrial, name: str, param: Param) -> Any:
    if param.kind == "fixed":
        return param.value
    if param.kind == "categorical":
        return trial.suggest_categorical(name, list(param.choices))
    if param.kind == "int":
        return trial.suggest_int(
            name, int(param.low), int(param.high), step=int(param.step or 1), log=param.log
        )
    return trial.suggest_float(name, param.low, param.high, step=param.step, log=param.log)
