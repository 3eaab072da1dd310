"""Export a study's confirmed config as JSON: its verdict, a rebuildable Keras model, metrics.

python -m tuner.export --study mnist_mlp [--storage URL] --out best.json
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from tuner.cli import run_cli
from tuner.errors import TunerError
from tuner.execution.storage import open_study, resolve_url
from tuner.results.export import build_export, write_json_atomically


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tuner.export", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--study", required=True)
    parser.add_argument("--storage", help="storage URL (default: $TUNER_STORAGE or runs/optuna.db)")
    parser.add_argument("--out", required=True, type=Path, help="JSON file to write")
    parser.add_argument(
        "--trial",
        type=int,
        help="export this trial instead of the confirmed one (or, unconfirmed, the best candidate)",
    )
    args = parser.parse_args(argv)
    _check_out(args.out)
    url = resolve_url(args.storage)
    study = open_study(args.study, url)
    payload = build_export(study, url, out=args.out, trial_number=args.trial)
    try:
        write_json_atomically(payload, args.out)
    except OSError as e:  # e.g. a full disk; the write leaves no partial file
        raise TunerError(f"cannot write {args.out}: {e.strerror or e}") from None
    print(f"trial #{payload['best_trial']}: {payload['summary']} -> {args.out}")
    if not payload["verified"]:
        print(
            "warning: not verified: no config was confirmed on fresh capstone seeds; "
            '"verified": false in the file',
            file=sys.stderr,
        )
    return 0


def _check_out(out: Path) -> None:
    """Fail before any work if `out` cannot be written: its nearest existing folder must be a
    directory this process can write in."""
    folder = next(p for p in (out.parent, *out.parent.parents) if p.exists())
    if not folder.is_dir() or not os.access(folder, os.W_OK | os.X_OK):
        raise TunerError(f"cannot write {out}: {folder} is not a writable directory")


if __name__ == "__main__":
    run_cli(main)
