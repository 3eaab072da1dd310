"""Export a study's best feasible trial as JSON: params, a rebuildable Keras model, metrics.

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
        help="export this trial (e.g. the reporter's robust pick) instead of the best feasible one",
    )
    args = parser.parse_args(argv)
    _check_out(args.out)
    url = resolve_url(args.storage)
    study = open_study(args.study, url)
    payload = build_export(study, url, trial_number=args.trial)
    try:
        write_json_atomically(payload, args.out)
    except OSError as e:  # e.g. a full disk; the write leaves no partial file
        raise TunerError(f"cannot write {args.out}: {e.strerror or e}") from None
    m = payload["metrics"]
    status = "feasible" if payload["feasible"] else "NOT feasible: no trial met the constraints"
    print(
        f"trial #{payload['best_trial']} ({status}): val_accuracy {m['val_accuracy']:.4f}, "
        f"train_accuracy {m['train_accuracy']:.4f}, gap {m['gap']:+.4f} -> {args.out}"
    )
    if not payload["feasible"]:
        print("warning: exported the best infeasible trial", file=sys.stderr)
    return 0


def _check_out(out: Path) -> None:
    """Fail before any work if `out` cannot be written: its nearest existing folder must be a
    directory this process can write in."""
    folder = next(p for p in (out.parent, *out.parent.parents) if p.exists())
    if not folder.is_dir() or not os.access(folder, os.W_OK | os.X_OK):
        raise TunerError(f"cannot write {out}: {folder} is not a writable directory")


if __name__ == "__main__":
    run_cli(main)
