"""What every command shares: the error wrapper, the worker arguments, and the `tuner` command.

tuner launch|worker|export|report|dashboard|plots [ARGS]   ==   python -m tuner.<command> [ARGS]
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable

from tuner.errors import EXIT_BAD_INPUT, TunerError

COMMANDS = ("launch", "worker", "export", "report", "dashboard", "plots")
# CPU workers per host. Each fit is bound by per-step overhead on one core, so one worker per
# core is the sweet spot; 2 fits the smallest machines (docs/BENCHMARKS.md has the figures).
DEFAULT_WORKERS = 2


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


def add_worker_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments shared by tuner.launch and tuner.worker."""
    parser.add_argument("--study", required=True, help="a name from studies/ or a .toml path")
    parser.add_argument("--storage", help="storage URL (default: $TUNER_STORAGE or runs/optuna.db)")
    parser.add_argument(
        "--data", help="local Keras-layout mnist.npz (default: $TUNER_DATA or download)"
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=DEFAULT_WORKERS,
        help=f"CPU worker processes (default {DEFAULT_WORKERS})",
    )
    parser.add_argument("--gpus", help="'all' or a list like 0,1: one worker process per GPU slot")
    parser.add_argument("--workers-per-gpu", type=int, default=1, help="worker processes per GPU")


def main() -> None:
    """`tuner COMMAND ARGS`: the same as `python -m tuner.COMMAND ARGS`."""
    args = sys.argv[1:]
    if not args or args[0] not in COMMANDS:
        print(
            f"usage: tuner {{{','.join(COMMANDS)}}} [ARGS]  (tuner COMMAND --help for each)",
            file=sys.stderr,
        )
        sys.exit(0 if args and args[0] in ("-h", "--help") else EXIT_BAD_INPUT)
    module = importlib.import_module(f"tuner.{args[0]}")
    sys.argv = [f"tuner {args[0]}", *args[1:]]
    run_cli(module.main, args[1:])
