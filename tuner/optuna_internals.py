"""Every use of Optuna's private parts, in one place; tests/test_optuna_internals.py checks each.

Optuna gives no public way to do these few things. When an Optuna release moves one of them,
that test names it and says what it is used for; only this module needs changing. Everything
here was checked against Optuna 5.0. Where a public API does the job (`study.get_trials`,
`storage.get_study_id_from_name`, `optuna.storages.fail_stale_trials`) the tuner uses it, and
code that opened the RDBStorage passes that object along instead of asking the study for it.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any

import optuna
from optuna.storages import BaseStorage, RDBStorage
from optuna.trial import FrozenTrial


def study_storage(study: optuna.Study) -> BaseStorage:
    """The storage a study reads and writes (under RDBStorage: Optuna's cache layer over it)."""
    return study._storage  # no public Study.storage (Optuna 5.0)


def rdb_storage(study: optuna.Study) -> RDBStorage:
    """The RDBStorage under Optuna's cache layer, for code that did not open it itself."""
    storage = study_storage(study)
    backend = getattr(storage, "_backend", storage)  # _CachedStorage._backend, no public one (5.0)
    if not isinstance(backend, RDBStorage):
        raise TypeError(f"study {study.study_name!r} is not on an RDBStorage")
    return backend


def study_id(study: optuna.Study) -> int:
    """The study's row id (URLs, storage calls); public only via a storage round trip."""
    return study._study_id  # no public Study.study_id (Optuna 5.0)


def trial_id(trial: optuna.Trial | FrozenTrial) -> int:
    """The trial's row id, which every storage call on a trial takes (not its number)."""
    return trial._trial_id  # no public Trial/FrozenTrial.trial_id (Optuna 5.0)


def all_trials(study: optuna.Study) -> list[FrozenTrial]:
    """Every trial of the study, read-only. A sampler may be handed HyperbandPruner's bracket
    study, whose public get_trials shows one bracket only; GridSampler reads storage for this."""
    # No public unfiltered read from a bracket study (Optuna 5.0).
    return study_storage(study).get_all_trials(study_id(study), deepcopy=False)


def grace_period(storage: RDBStorage) -> int | None:
    """Seconds without a heartbeat before a RUNNING trial counts as stale (None: not set)."""
    return storage.grace_period  # an undocumented RDBStorage attribute (Optuna 5.0)


def trials_with_heartbeat(storage: RDBStorage, trial_ids: Collection[int]) -> set[int]:
    """Which of these trials have recorded at least one heartbeat: the query Optuna's own stale
    check makes, which skips trials that never beat."""
    # Private model and undocumented session factory; no public heartbeat read (Optuna 5.0).
    from optuna.storages._rdb.models import TrialHeartbeatModel

    session = storage.scoped_session()
    try:
        return {
            row.trial_id
            for row in session.query(TrialHeartbeatModel.trial_id).filter(
                TrialHeartbeatModel.trial_id.in_(list(trial_ids))
            )
        }
    finally:
        session.close()


class HookedGridSampler(optuna.samplers.GridSampler):
    """GridSampler with the private hooks a subclass needs, under public names.

    GridSampler's before_trial, after_trial and is_exhausted ask `_get_unvisited_grid_ids`
    which grid points are free; a subclass changes that rule by overriding `unvisited_grid_ids`.
    """

    def _get_unvisited_grid_ids(self, study: optuna.Study) -> list[int]:
        return self.unvisited_grid_ids(study)  # no public hook for the rule (Optuna 5.0)

    def unvisited_grid_ids(self, study: optuna.Study) -> list[int]:
        """Ids of grid points no trial holds; Optuna's own rule unless overridden."""
        return super()._get_unvisited_grid_ids(study)

    def grid_point_count(self) -> int:
        return len(self._all_grids)  # the seeded shuffle of grid points (Optuna 5.0)

    def same_search_space(self, search_space: Mapping[str, Sequence[Any]]) -> bool:
        """Whether a trial's stored search space is this sampler's (NaN-aware, as Optuna's)."""
        return self._same_search_space(search_space)  # private (Optuna 5.0)
