"""Study files: one TOML file per study in `studies/`, read and checked into a StudySpec.

Every problem is reported as `<file>: <key>: <problem>`, so a user can fix the file without
reading code. Section tables are checked against the limits their fields carry
(tuner.study.spec); what spans fields is checked by the small functions below. Parsing builds
the sampler and pruner once, so a bad option fails here, not in a worker an hour later.
"""

from __future__ import annotations

import math
import os
from dataclasses import fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, get_args, get_origin, get_type_hints

import tomllib

from tuner.errors import StudyFileError, TunerError
from tuner.study.grid import grid_size
from tuner.study.samplers import build_pruner, build_sampler, grid_space
from tuner.study.space import Param, parse_param, searched_names
from tuner.study.spec import (
    LIMIT,
    METRICS,
    Capstone,
    Constraints,
    DataSpec,
    Goal,
    Limit,
    OverfitSpec,
    Robustness,
    StudySpec,
    Synthetic,
)

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

Section = TypeVar("Section", bound="DataclassInstance")

STUDIES_DIR = Path(__file__).resolve().parents[2] / "studies"

_KEYS = (
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
    "goal",
    "warm_start",
)


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
    try:
        return _parse(raw, path, text)
    except StudyFileError as e:  # the checks name the key; the file is named here, once
        raise e.in_file(path) from e


def _parse(raw: dict[str, Any], path: str, text: str) -> StudySpec:
    for key in raw:
        if key not in _KEYS:
            raise StudyFileError(key, f"unknown key (allowed: {', '.join(sorted(_KEYS))})")
    name = raw.get("name", Path(path).stem)
    if not isinstance(name, str) or not name:
        raise StudyFileError("name", "must be a non-empty string")
    n_trials = raw.get("n_trials", 20)
    if not isinstance(n_trials, int) or isinstance(n_trials, bool) or n_trials < 1:
        raise StudyFileError("n_trials", f"must be a positive integer, got {n_trials!r}")
    metric = _check_metric(raw.get("metric", "val_accuracy"), synthetic="synthetic" in raw)

    data = _check_data(parse_section(raw, "data", DataSpec), given=set(_table(raw, "data")))
    constraints = parse_section(raw, "constraints", Constraints)
    capstone = parse_section(raw, "capstone", Capstone)
    robustness = parse_section(raw, "robustness", Robustness)
    synthetic = parse_section(raw, "synthetic", Synthetic) if "synthetic" in raw else None
    overfit = parse_section(raw, "overfit", OverfitSpec)
    overfit = replace(overfit, rules=tuple(dict.fromkeys(overfit.rules)))  # named twice: once
    space = {key: parse_param(key, value) for key, value in _table(raw, "space").items()}
    sampler = _table(raw, "sampler") or {"name": "tpe"}
    _check_sampler(sampler, space, n_trials)
    goal = parse_section(raw, "goal", Goal) if "goal" in raw else None
    if goal is not None and synthetic is not None:
        raise StudyFileError("goal", "needs real capstone retrains; a synthetic study has none")
    warm_start = _check_warm_start(raw.get("warm_start", []), space)
    pruner = _table(raw, "pruner") or {"name": "none"}
    try:
        build_pruner(pruner)
    except (TypeError, ValueError) as e:
        raise StudyFileError("pruner", str(e)) from e

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
        goal=goal,
        warm_start=warm_start,
    )


def parse_section(raw: dict[str, Any], key: str, cls: type[Section]) -> Section:
    """The table `key` checked against the limits on cls's fields; absent: cls's defaults."""
    table = _table(raw, key)
    known = {f.name: f for f in fields(cls)}
    types = get_type_hints(cls)
    values = {}
    for name, value in table.items():
        if name not in known:
            raise StudyFileError(f"{key}.{name}", f"unknown key (allowed: {', '.join(known)})")
        values[name] = _checked(value, types[name], known[name].metadata[LIMIT], f"{key}.{name}")
    return cls(**values)


def _table(raw: dict[str, Any], key: str) -> dict[str, Any]:
    table = raw.get(key, {})
    if not isinstance(table, dict):
        raise StudyFileError(key, "must be a table")
    return dict(table)


def _checked(value: Any, typ: Any, limit: Limit, key: str) -> Any:
    """`value` as the field's type (a list as a tuple, an integer as a float where one is due)."""
    if get_origin(typ) is tuple:
        item = get_args(typ)[0]
        if not isinstance(value, list) or not all(_fits(v, item, limit) for v in value):
            what = (
                f"a list drawn from {list(limit.choices)}"
                if limit.choices
                else f"a list, each {_describe(item, limit)}"
            )
            raise StudyFileError(key, f"must be {what} ({limit.doc}), got {value!r}")
        return tuple(item(v) for v in value)
    if not _fits(value, typ, limit):
        raise StudyFileError(key, f"must be {_describe(typ, limit)} ({limit.doc}), got {value!r}")
    return typ(value)


def _fits(value: Any, typ: type, limit: Limit) -> bool:
    if typ is bool:
        return isinstance(value, bool)
    if typ is str:
        return isinstance(value, str) and (not limit.choices or value in limit.choices)
    number = int if typ is int else (int, float)
    if isinstance(value, bool) or not isinstance(value, number) or math.isnan(value):
        return False
    return (limit.lowest is None or value >= limit.lowest) and (
        limit.highest is None or value <= limit.highest
    )


def _describe(typ: type, limit: Limit) -> str:
    if typ is bool:
        return "true or false"
    if typ is str:
        return " or ".join(f'"{c}"' for c in limit.choices) if limit.choices else "a string"
    kind = "an integer" if typ is int else "a number"
    lowest, highest = limit.lowest, limit.highest
    if lowest is None:
        return kind
    if highest is None:
        return f"{kind} >= {lowest}"
    return f"{kind} in {lowest}..{highest}" if typ is int else f"{kind} in [{lowest}, {highest}]"


# Checks that span fields or tables.


def _check_metric(metric: Any, *, synthetic: bool) -> str:
    if metric not in METRICS:
        raise StudyFileError("metric", f"unknown metric {metric!r} (known: {', '.join(METRICS)})")
    if metric == "capstone_margin" and synthetic:
        raise StudyFileError(
            "metric",
            "capstone_margin needs a real train accuracy; synthetic studies "
            "support val_accuracy and val_loss",
        )
    return str(metric)


def _check_data(data: DataSpec, given: set[str]) -> DataSpec:
    """Validation rows disjoint from training; the rows of the split not measured, not given."""
    if data.evaluate_on == "test":
        if "validation_rows" in given:
            raise StudyFileError(
                "data.validation_rows",
                'is not used with evaluate_on = "test" '
                "(trials are measured on x_test[:test_rows]); remove it",
            )
        return data
    if "test_rows" in given:
        raise StudyFileError(
            "data.test_rows",
            'is only used with evaluate_on = "test"; the validation split never reads x_test',
        )
    rows = data.validation_rows
    if len(rows) != 2 or rows[0] >= rows[1]:
        raise StudyFileError(
            "data.validation_rows", f"must be [start, stop] with start < stop, got {list(rows)!r}"
        )
    start, stop = rows
    if start < data.train_rows:
        raise StudyFileError(
            "data.validation_rows",
            f"rows {start}..{stop} overlap the training rows 0..{data.train_rows}; "
            "validation must be disjoint from training",
        )
    return data


def _check_sampler(sampler: dict[str, Any], space: dict[str, Param], n_trials: int) -> None:
    """The sampler builds, and a grid has at least n_trials points."""
    try:
        build_sampler(sampler, space)
    except (TypeError, ValueError) as e:
        raise StudyFileError("sampler", str(e)) from e
    if sampler.get("name") == "grid":
        size = grid_size(grid_space(space))
        if n_trials > size:
            raise StudyFileError(
                "n_trials",
                f"{n_trials} is more than the grid's {size} points; "
                f"use n_trials = {size} to run each point once",
            )


def _check_warm_start(tables: Any, space: dict[str, Param]) -> tuple[dict[str, Any], ...]:
    """`[[warm_start]]`: each table names values of searched parameters, within their ranges."""
    if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
        raise StudyFileError("warm_start", "must be a list of tables ([[warm_start]])")
    searched = searched_names(space)
    for i, table in enumerate(tables):
        for name, value in table.items():
            key = f"warm_start[{i}].{name}"
            param = searched.get(name)
            if param is None:
                known = ", ".join(searched) or "none"
                raise StudyFileError(key, f"is not a searched parameter (searched: {known})")
            if not param.admits(value):
                raise StudyFileError(key, f"{value!r} is outside the space's {param.describe()}")
    return tuple(dict(t) for t in tables)
