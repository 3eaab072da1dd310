"""Serve optuna-dashboard on a study's storage, so a study can be watched while it runs.

    python -m tuner.dashboard --study mnist_mlp [--storage URL] [--port 8080] [--host 127.0.0.1]

Prints the study's dashboard URL, then serves until Ctrl-C. The dashboard can edit and delete
studies, so it listens on 127.0.0.1 unless --host says otherwise. `tuner.launch --dashboard`
starts this beside the workers. Files the reporter attached to a study (artifacts in
$TUNER_ARTIFACTS, default runs/artifacts) are listed on the study's page.
"""

from __future__ import annotations

import argparse

from tuner.cli import run_cli
from tuner.execution.lifeline import stop_with_launcher
from tuner.execution.storage import open_study, resolve_url
from tuner.results.dashboard import DEFAULT_HOST, DEFAULT_PORT, check_port, serve


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tuner.dashboard", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "--study", required=True, help="a name from studies/, a .toml path, or a stored study name"
    )
    parser.add_argument("--storage", help="storage URL (default: $TUNER_STORAGE or runs/optuna.db)")
    parser.add_argument(
        "--port",
        type=int,
        default=DEFAULT_PORT,
        help=f"port (default {DEFAULT_PORT}; 0: any free port)",
    )
    parser.add_argument(
        "--host", default=DEFAULT_HOST, help=f"address to listen on (default {DEFAULT_HOST})"
    )
    args = parser.parse_args(argv)
    stop_with_launcher()  # started by `launch --dashboard`: do not outlive it
    check_port(args.port)
    url = resolve_url(args.storage)
    study = open_study(args.study, url)
    serve(study, host=args.host, port=args.port)
    return 0


if __name__ == "__main__":
    run_cli(main)
