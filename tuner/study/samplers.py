"""A study file's `[sampler]` and `[pruner]` tables -> the Optuna sampler and pruner.

The option names are Optuna's own keyword arguments; an unknown name or option raises
ValueError, which tuner.study.parse reports as `<file>: sampler: <problem>`.
"""

from __future__ import annotations

import inspect
from typing import Any

import optuna

from tuner.study.grid import BudgetGridSampler
from tuner.study.space import Param

SAMPLERS: dict[str, type[optuna.samplers.BaseSampler]] = {
    "tpe": optuna.samplers.TPESampler,
    "gp": optuna.samplers.GPSampler,  # reads the trials' constraints, as TPE does
    "random": optuna.samplers.RandomSampler,
    "grid": BudgetGridSampler,
}
PRUNERS: dict[str, type[optuna.pruners.BasePruner]] = {
    "none": optuna.pruners.NopPruner,
    "median": optuna.pruners.MedianPruner,
    "percentile": optuna.pruners.PercentilePruner,
    "successive_halving": optuna.pruners.SuccessiveHalvingPruner,
    "hyperband": optuna.pruners.HyperbandPruner,
    "patient": optuna.pruners.PatientPruner,
    "wilcoxon": optuna.pruners.WilcoxonPruner,
}


def build_sampler(
    cfg: dict[str, Any], space: dict[str, Param], seed_offset: int = 0
) -> optuna.samplers.BaseSampler:
    """Each worker offsets the seed, so workers do not sample in lockstep."""
    cfg = dict(cfg)
    name = cfg.pop("name", "tpe")
    if name not in SAMPLERS:
        raise ValueError(f"unknown sampler {name!r} (known: {', '.join(SAMPLERS)})")
    if cfg.get("seed") is not None:
        # Grid workers must share one shuffle of the grid (see tuner.study.grid); others spread out.
        cfg["seed"] = int(cfg["seed"]) + (0 if name == "grid" else seed_offset)
    if name == "tpe":  # parallel workers: pending trials count as lies, so workers spread out
        cfg.setdefault("constant_liar", True)
    if name == "gp":
        _check_gp_requirements()
    if name == "grid":
        grid = grid_space(space)
        if len(grid) != sum(p.kind != "fixed" for p in space.values()):
            raise ValueError("the grid sampler needs every searched parameter to be categorical")
        cfg["search_space"] = grid
    _check_kwargs(SAMPLERS[name], cfg, f"sampler {name!r}")
    return SAMPLERS[name](**cfg)


def build_pruner(cfg: dict[str, Any]) -> optuna.pruners.BasePruner:
    cfg = dict(cfg)
    name = cfg.pop("name", "none")
    if name not in PRUNERS:
        raise ValueError(f"unknown pruner {name!r} (known: {', '.join(PRUNERS)})")
    if name == "patient":  # PatientPruner wraps another pruner, named by `wrapped`
        wrapped = cfg.pop("wrapped", "none")
        cfg["wrapped_pruner"] = None if wrapped == "none" else build_pruner({"name": wrapped})
    _check_kwargs(PRUNERS[name], cfg, f"pruner {name!r}")
    return PRUNERS[name](**cfg)


def grid_space(space: dict[str, Param]) -> dict[str, list[Any]]:
    """The grid a grid sampler walks: every categorical parameter's choices."""
    return {p.name: list(p.choices) for p in space.values() if p.kind == "categorical"}


def _check_gp_requirements() -> None:
    """Optuna's GPSampler fits its Gaussian processes with PyTorch, imported at the first
    sample: say so when the study file is read, not in a worker minutes later."""
    import importlib.util

    if importlib.util.find_spec("torch") is None:
        raise ValueError("sampler 'gp' needs PyTorch: pip install torch")


def _check_kwargs(cls: type, kwargs: dict[str, Any], what: str) -> None:
    accepted = set(inspect.signature(cls).parameters)
    for key in kwargs:
        if key not in accepted:
            raise ValueError(
                f"{what} has no option {key!r} (options: {', '.join(sorted(accepted))})"
            )
