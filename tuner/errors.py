"""The one exception type for bad input; tuner.cli turns it into one line and exit code 2."""

from __future__ import annotations


class TunerError(Exception):
    """Bad input or an unusable environment: shown to the user as one line, exit code 2."""


EXIT_BAD_INPUT = 2
