"""Turn a study's search space into one trial's resolved hyperparameters (its *config*).

The config is the complete, plain-JSON description of a run: `tuner.training.model.build_model(config)`
rebuilds the network from it, and the export and the reporter store it.
"""

from __future__ import annotations

from typing import Any

import optuna

from tuner.study.parse import DEFAULTS, Param, parse_layers


def suggest(trial: optuna.Trial, space: dict[str, Param]) -> dict[str, Any]:
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


def _suggest_one(trial: optuna.Trial, name: str, param: Param) -> Any:
    if param.kind == "fixed":
        return param.value
    if param.kind == "categorical":
        return trial.suggest_categorical(name, list(param.choices))
    if param.kind == "int":
        return trial.suggest_int(
            name, int(param.low), int(param.high), step=int(param.step or 1), log=param.log
        )
    return trial.suggest_float(name, param.low, param.high, step=param.step, log=param.log)
