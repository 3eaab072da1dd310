"""Export a study's confirmed config as JSON: its verdict, a rebuildable Keras model, metrics.

python -m tuner.export --study mnist_mlp [--storage URL] --out best.json
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tuner.cli import run_cli
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
    url = resolve_url(args.storage)
    study = open_study(args.study, url)
    payload = build_export(study, url, out=args.out, trial_number=args.trial)
    write_json_atomically(payload, args.out)
    print(f"trial #{payload['best_trial']}: {payload['summary']} -> {args.out}")
    if not payload["verified"]:
        print(
            "warning: not verified: no config was confirmed on fresh capstone seeds; "
            '"verified": false in the file',
            file=sys.stderr,
        )
    return 0


if __name__ == "__main__":
    run_cli(main)
