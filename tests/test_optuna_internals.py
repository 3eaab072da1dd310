"""The Optuna private parts that tuner/optuna_internals.py uses are still where it expects them.

Each check fails with a message naming the moved part and what the tuner uses it for, so an
Optuna upgrade that breaks one says where to look. Then every accessor runs against a real
RDBStorage (SQLite in a temp dir) with a real study and trials.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable

import optuna
import pytest
from optuna.trial import TrialState

from tuner import optuna_internals
from tuner.execution.storage import open_storage
from tuner.study.grid import BudgetGridSampler


def moved(what: str, used_for: str) -> str:
    return (
        f"Optuna {optuna.__version__} moved `{what}`; "
        f"update tuner/optuna_internals.py (used for {used_for})"
    )


def parameters(function: Callable[..., object]) -> list[str]:
    return list(inspect.signature(function).parameters)


@pytest.fixture
def storage(tmp_path, monkeypatch):
    monkeypatch.setenv("TUNER_HEARTBEAT_SECONDS", "5")
    monkeypatch.setenv("TUNER_GRACE_SECONDS", "30")
    return open_storage(f"sqlite:///{tmp_path / 'internals.db'}", create=True)


def test_study_and_trial_private_attributes_are_there(storage):
    study = optuna.create_study(study_name="shape", storage=storage)
    trial = study.ask()
    assert hasattr(study, "_storage"), moved("Study._storage", "a study's storage")
    assert hasattr(study, "_study_id"), moved("Study._study_id", "dashboard URLs, trial reads")
    assert isinstance(study._storage, optuna.storages.BaseStorage), moved(
        "Study._storage", "a study's storage"
    )
    assert getattr(study._storage, "_backend", None) is storage, moved(
        "_CachedStorage._backend", "the RDBStorage under Optuna's cache layer"
    )
    for obj in (trial, study.trials[0]):
        assert isinstance(getattr(obj, "_trial_id", None), int), moved(
            f"{type(obj).__name__}._trial_id", "heartbeats, failing and re-queueing trials"
        )


def test_rdb_storage_heartbeat_parts_are_there(storage):
    assert storage.grace_period == 30, moved("RDBStorage.grace_period", "the beatless sweep")
    assert callable(getattr(storage, "scoped_session", None)), moved(
        "RDBStorage.scoped_session", "the heartbeat-row query"
    )
    try:
        from optuna.storages._rdb.models import TrialHeartbeatModel
    except ImportError:
        pytest.fail(moved("optuna.storages._rdb.models.TrialHeartbeatModel", "the beatless sweep"))
    columns = set(TrialHeartbeatModel.__table__.columns.keys())
    assert {"trial_id", "heartbeat"} <= columns, moved(
        "TrialHeartbeatModel.trial_id/heartbeat columns", "the heartbeat-row query"
    )


def test_grid_sampler_hooks_are_there():
    grid = optuna.samplers.GridSampler
    hooks = {
        "_get_unvisited_grid_ids": ["self", "study"],
        "_same_search_space": ["self", "search_space"],
    }
    for name, expected in hooks.items():
        method = getattr(grid, name, None)
        assert callable(method), moved(f"GridSampler.{name}", "grid search under a trial budget")
        assert parameters(method) == expected, moved(
            f"GridSampler.{name} signature {expected}", "grid search under a trial budget"
        )
    for caller in (grid.before_trial, grid.after_trial):
        assert "self._get_unvisited_grid_ids(" in inspect.getsource(caller), moved(
            f"the call of _get_unvisited_grid_ids in {caller.__name__}",
            "handing a failed trial's grid point out again",
        )
    sampler = grid({"a": [1, 2, 3], "b": ["x", "y"]}, seed=0)
    assert len(getattr(sampler, "_all_grids", [])) == 6, moved(
        "GridSampler._all_grids", "the number of grid points"
    )


def test_accessors_on_a_real_rdb_storage(storage):
    study = optuna.create_study(study_name="real", storage=storage)
    other = optuna.create_study(study_name="other", storage=storage)
    other.ask()  # trial ids and study ids now differ from trial numbers and from 1
    first, second = study.ask(), study.ask()
    first.suggest_float("x", 0, 1)
    study.tell(first, 0.5)

    assert optuna_internals.study_storage(study) is study._storage
    assert optuna_internals.rdb_storage(study) is storage
    assert optuna_internals.study_id(study) == storage.get_study_id_from_name("real")
    for trial in (second, study.trials[0]):
        expected = storage.get_trial_id_from_study_id_trial_number(
            storage.get_study_id_from_name("real"), trial.number
        )
        assert optuna_internals.trial_id(trial) == expected
    assert [t.number for t in optuna_internals.all_trials(study)] == [0, 1]
    assert optuna_internals.all_trials(study)[0].state == TrialState.COMPLETE
    assert optuna_internals.grace_period(storage) == 30

    ids = {optuna_internals.trial_id(t) for t in (first, second)}
    assert optuna_internals.trials_with_heartbeat(storage, ids) == set()
    storage.record_heartbeat(optuna_internals.trial_id(second))
    assert optuna_internals.trials_with_heartbeat(storage, ids) == {
        optuna_internals.trial_id(second)
    }
    assert optuna_internals.trials_with_heartbeat(storage, set()) == set()


def test_rdb_storage_refuses_a_study_on_another_storage():
    study = optuna.create_study()  # in memory
    with pytest.raises(TypeError, match="not on an RDBStorage"):
        optuna_internals.rdb_storage(study)


def test_grid_hooks_on_a_real_rdb_storage(storage):
    """A failed trial's point is handed out again: GridSampler asked our hook, not its own rule
    (which counts a failed point as visited)."""
    sampler = BudgetGridSampler({"x": [0.0, 1.0], "y": [float("nan")]}, seed=0)
    study = optuna.create_study(study_name="grid", storage=storage, sampler=sampler)
    assert sampler.grid_point_count() == 2
    assert sampler.same_search_space({"x": [0.0, 1.0], "y": [float("nan")]})
    assert not sampler.same_search_space({"x": [0.0, 2.0], "y": [float("nan")]})

    failed, held = study.ask(), study.ask()
    assert sampler.unvisited_grid_ids(study) == []
    study.tell(failed, state=TrialState.FAIL)
    lost = study.trials[failed.number].system_attrs["grid_id"]
    assert sampler.unvisited_grid_ids(study) == [lost]
    again = study.ask()  # trial number 2 >= grid size: GridSampler asks the hook
    points = [t.system_attrs["grid_id"] for t in study.trials]
    assert points[again.number] == lost != points[held.number]
