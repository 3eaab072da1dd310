"""Grid search for our workers, which run trials through ask/tell under a trial budget.

Optuna's GridSampler assumes `study.optimize()`. With our workers it goes wrong in two ways:
- after the last grid point it calls `study.stop()`, which raises RuntimeError outside
  `optimize()`, so the worker that tells the last trial crashes;
- it counts a FAILED trial's point as visited, so a trial that fails (and is not retried)
  leaves a hole in the grid while another point is run twice.
Here the study's trial budget (BudgetLock) stops the workers, and a failed point is handed
out again. Every worker must build the sampler with the same seed: trial number k < grid size
runs point k of the seeded shuffle, so equal shuffles give each point to exactly one trial.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import optuna
from optuna.trial import FrozenTrial, TrialState

from tuner.optuna_internals import HookedGridSampler, all_trials

# A point is taken while a trial holds it or has finished it; a heartbeat retry is a WAITING
# copy of the failed trial that keeps its grid_id.
_TAKEN = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING, TrialState.WAITING)


class BudgetGridSampler(HookedGridSampler):
    def after_trial(
        self,
        study: optuna.Study,
        trial: FrozenTrial,
        state: TrialState,
        values: Sequence[float] | None,
    ) -> None:
        """Nothing to do: workers stop at the trial budget, not by `study.stop()`."""

    def unvisited_grid_ids(self, study: optuna.Study) -> list[int]:
        """Points no trial holds or finished; a FAILED trial's point is free again."""
        taken = {
            t.system_attrs["grid_id"]
            for t in all_trials(study)
            if t.state in _TAKEN
            and "grid_id" in t.system_attrs
            and self.same_search_space(t.system_attrs.get("search_space", {}))
        }
        return sorted(set(range(self.grid_point_count())) - taken)


def grid_size(search_space: Mapping[str, Sequence]) -> int:
    size = 1
    for choices in search_space.values():
        size *= len(choices)
    return size
