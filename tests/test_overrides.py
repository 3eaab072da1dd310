"""Study-file variants (scripts/bench/variants.py, the benchmarks' study writer): overrides
deep-merge, go through the parser, and round-trip as TOML."""

from __future__ import annotations

from pathlib import Path

import pytest

from scripts.bench.variants import merge, write_variant
from tuner.errors import TunerError
from tuner.study import load_study_spec


def test_merge_replaces_values_and_merges_tables_key_by_key() -> None:
    base = {"n_trials": 150, "sampler": {"name": "tpe", "seed": 42}, "space": {"epochs": 5}}
    merged = merge(base, {"n_trials": 10, "sampler": {"seed": 3}, "synthetic": {"x": 1}})
    assert merged == {
        "n_trials": 10,
        "sampler": {"name": "tpe", "seed": 3},
        "space": {"epochs": 5},
        "synthetic": {"x": 1},
    }
    assert base["sampler"] == {"name": "tpe", "seed": 42}  # the original is left alone
    # None removes a key (TOML has no null), e.g. a goal a synthetic variant cannot have.
    assert merge(base, {"space": None, "sampler": {"seed": None}}) == {
        "n_trials": 150,
        "sampler": {"name": "tpe"},
    }


def test_variant_is_written_and_reads_back_as_the_same_study(tmp_path: Path) -> None:
    path = tmp_path / "variant.toml"
    spec = write_variant(
        "mnist_mlp", {"name": "variant", "n_trials": 7, "sampler": {"seed": 3}}, path
    )
    original = load_study_spec("mnist_mlp")
    assert (spec.name, spec.n_trials) == ("variant", 7)
    assert spec.sampler == {**original.sampler, "seed": 3}
    again = load_study_spec(str(path))
    assert again.text == path.read_text() == spec.text
    for field in ("name", "n_trials", "metric", "data", "constraints", "sampler", "pruner"):
        assert getattr(again, field) == getattr(spec, field), field
    assert again.space == original.space  # untouched tables survive the rewrite unchanged


def test_bad_override_fails_like_a_bad_file_and_writes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    with pytest.raises(TunerError, match=r"bad\.toml: n_trials: must be a positive integer"):
        write_variant("mnist_mlp", {"n_trials": 0}, path)
    assert not path.exists()


def test_a_variant_can_drop_the_warm_starts(tmp_path: Path) -> None:
    """The search benchmark starts every arm from nothing: a study of a user's with
    `[[warm_start]]` configs runs in the benchmark without them."""
    warm = write_variant(
        "mnist_mlp", {"warm_start": [{"n_layers": 1, "units_1": 128}]}, tmp_path / "warm.toml"
    )
    assert warm.warm_start == ({"n_layers": 1, "units_1": 128},)
    spec = write_variant(str(tmp_path / "warm.toml"), {"warm_start": None}, tmp_path / "cold.toml")
    assert spec.warm_start == ()
    assert "warm_start" not in (tmp_path / "cold.toml").read_text()
