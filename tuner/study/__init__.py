"""The study definition: what a study searches and how it judges a trial.

- parse:  study files (studies/*.toml) -> StudySpec, every problem as `<file>: <key>: <problem>`
- space:  a StudySpec's search space -> one trial's config (the sampled hyperparameters)
- grid:   the grid sampler our budgeted workers can use
- record: what a trial records (its user attributes), and reading a study's outcome
"""

from tuner.study.parse import (
    DEFAULTS,
    STUDIES_DIR,
    Capstone,
    Constraints,
    OverfitSpec,
    Robustness,
    StudySpec,
    load_study_spec,
    parse_study,
    resolve_study_path,
)
from tuner.study.space import suggest

__all__ = [
    "DEFAULTS",
    "STUDIES_DIR",
    "Capstone",
    "Constraints",
    "OverfitSpec",
    "Robustness",
    "StudySpec",
    "load_study_spec",
    "parse_study",
    "resolve_study_path",
    "suggest",
]
