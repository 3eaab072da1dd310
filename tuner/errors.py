"""The one exception type for bad input; tuner.cli turns it into one line and exit code 2."""

from __future__ import annotations


class TunerError(Exception):
    """Bad input or an unusable environment: shown to the user as one line, exit code 2."""


class StudyFileError(TunerError):
    """One problem in a study file, shown as `<file>: <key>: <problem>`.

    The checks of one table or entry know the key but not the file; tuner.study.parse names
    the file once, with `in_file`.
    """

    def __init__(self, key: str, problem: str, path: str = "<study>") -> None:
        super().__init__(f"{path}: {key}: {problem}")
        self.key = key
        self.problem = problem
        self.path = path

    def in_file(self, path: str) -> StudyFileError:
        return StudyFileError(self.key, self.problem, path)


EXIT_BAD_INPUT = 2
