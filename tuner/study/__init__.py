"""The study definition: what a study searches and how it judges a trial.

- spec:     StudySpec and its section dataclasses, each field carrying its limits and doc
- parse:    study files (studies/*.toml) -> StudySpec, every problem as `<file>: <key>: <problem>`
- space:    the `[space]` entries (names from tuner.training.model) and sampling one trial's config
- samplers: `[sampler]` and `[pruner]` -> Optuna objects; grid: the grid sampler our workers use
- record:   what a trial records (its user attributes), and reading a study's outcome

Importing this package does not import Keras or TensorFlow.
"""

from tuner.study.parse import STUDIES_DIR, load_study_spec, parse_study, resolve_study_path
from tuner.study.space import DEFAULTS, suggest
from tuner.study.spec import (
    Capstone,
    Constraints,
    DataSpec,
    Goal,
    OverfitSpec,
    Robustness,
    StudySpec,
    Synthetic,
)

__all__ = [
    "DEFAULTS",
    "STUDIES_DIR",
    "Capstone",
    "Constraints",
    "DataSpec",
    "Goal",
    "OverfitSpec",
    "Robustness",
    "StudySpec",
    "Synthetic",
    "load_study_spec",
    "parse_study",
    "resolve_study_path",
    "suggest",
]
