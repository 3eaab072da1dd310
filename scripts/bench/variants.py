"""Variants of a study file: its TOML with some values overridden, checked and written back.

The benchmarks run `python -m tuner.launch --study FILE` on a variant of a study (another
sampler seed, a budget, no warm starts, a `[synthetic]` table). They build it here, from the
parsed file, not by editing its text (tomli-w, in the bench and test extras, writes it):

    write_variant("mnist_mlp", {"sampler": {"seed": 3}, "n_trials": 10}, work / "s3.toml")

Overrides deep-merge into the file's tables (`{"sampler": {"seed": 3}}` keeps the sampler's other
keys; None removes a key: `{"goal": None}`), the result goes through parse_study like any study
file, so a bad override fails as a bad file would, and tomli_w writes the TOML. Comments of the
original are not carried over.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import tomli_w
import tomllib

from tuner.errors import TunerError
from tuner.study import StudySpec, parse_study, resolve_study_path


def merge(base: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """`base` with `overrides` on top: a table merges key by key, any other value replaces,
    and None (which TOML cannot hold) removes the key."""
    merged = dict(base)
    for key, value in overrides.items():
        if value is None:
            merged.pop(key, None)
        elif isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def write_variant(study: str, overrides: Mapping[str, Any], path: Path) -> StudySpec:
    """Write study `study` (a name from studies/ or a .toml path) with `overrides` to `path`.

    Returns the variant's spec; raises TunerError, naming `path`, if the variant is not a valid
    study (nothing is written then).
    """
    source = resolve_study_path(study)
    try:
        raw = tomllib.loads(source.read_text())
    except tomllib.TOMLDecodeError as e:
        raise TunerError(f"{source}: not valid TOML: {e}") from e
    variant = merge(raw, overrides)
    text = tomli_w.dumps(variant)
    spec = parse_study(variant, path=str(path), text=text)
    path.write_text(text)
    return spec
