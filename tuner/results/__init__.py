"""What a study produced, and how it is shown.

- rules:     the capstone rules and the Wilson pass-rate interval
- report:    the capstone reporter: retrain candidates on many seeds, judge, write artifacts
- export:    the exported config (JSON)
- plots:     learning curves, optimization history, importances
- dashboard: optuna-dashboard on the study's storage
- course:    the course exercises' verdicts (docs/COURSE.md)
"""
