"""One exception type for bad input, and the CLI wrapper that turns it into one line + exit 2."""

from __future__ import annotations

import sys
from typing import Callable


class TunerError(Exception):
    """Bad input or an unusable environment: shown to the user as one line, exit code 2."""


EXIT_BAD_INPUT = 2


def run_cli(main: Callable[[list[str] | None], int], argv: list[str] | None = None) -> None:
    """Run a CLI entry point: TunerError -> `error: ...` on stderr and exit 2."""
    try:
        code = main(argv)
    except TunerError as e:
        print(f"error: {e}", file=sys.stderr)
        code = EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        code = 130
    sys.exit(code)
