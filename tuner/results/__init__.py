"""What a study produced, and how it is shown.

- report:    the reporter's files (report.md, report.json, curves), attached to the study
- verdict:   a goal study's verdict, on the terminal, in files and in the study's note
- export:    the exported config (JSON)
- plots:     learning curves, optimization history, importances
- dashboard: optuna-dashboard on the study's storage
- exercises: the course's exercises and its capstone answer, as data
- course:    the exercises' finished studies judged; course_doc: docs/COURSE.md from them
"""
