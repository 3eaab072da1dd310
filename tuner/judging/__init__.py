"""Judging configs on the course's capstone split, and the goal's judging state.

- rules:      the capstone rules, the data-definitions check and the Wilson pass-rate interval
- judge:      the one judging loop: retrain once per seed, in rounds (choose, then confirm),
              each stopping once its pass rate is out of reach
- candidates: which trials of a study are worth judging, best first
- records:    what judging stores on a study, as typed records (JudgingRecord, Verdict,
              GoalState); the one module that names those keys
- goal:       the goal's judging inside the workers: claim a candidate, judge it, the verdict

The reporter (tuner.report) and the workers' goal judge with the same loop.
"""

from tuner.judging.judge import Judgement, Round, SeedRun, judge
from tuner.judging.records import GoalState, JudgingRecord, RoundResult, Verdict

__all__ = [
    "GoalState",
    "Judgement",
    "JudgingRecord",
    "Round",
    "RoundResult",
    "SeedRun",
    "Verdict",
    "judge",
]
