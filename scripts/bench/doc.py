"""What every benchmark reports besides its figures: the command, the machine, the libraries and
the load average, in a dated markdown section for a human to fold into docs/BENCHMARKS.md.

A benchmark prints its section; with --doc PATH it writes it to PATH instead. It never edits
docs/BENCHMARKS.md itself: that file holds the current figures only, chosen by hand.
"""

from __future__ import annotations

import datetime as dt
import os
import platform
import shlex
import subprocess
import sys
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
LIBRARIES = (
    *("optuna", "tensorflow", "jax", "keras", "numpy", "sqlalchemy", "psycopg2-binary"),
    "keras-tuner",
)


def python_path() -> str:
    """PYTHONPATH for a child process: this checkout first, so it runs this checkout's code."""
    return os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} / {five:.2f} / {fifteen:.2f}"


def gpu_summary() -> str:
    query = ["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"]
    try:
        out = subprocess.run(query, capture_output=True, text=True, timeout=20, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return "none"
    names = [line.strip() for line in out.stdout.splitlines() if line.strip()]
    return ", ".join(names) if out.returncode == 0 and names else "none"


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def versions() -> str:
    found = []
    for name in LIBRARIES:
        try:
            found.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            continue
    backend = os.environ.get("KERAS_BACKEND", "tensorflow")
    return f"Python {platform.python_version()}, Keras backend {backend}, " + ", ".join(found)


def machine() -> str:
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{os.cpu_count()} CPU cores ({cpu_model()}), {memory:.0f} GiB, GPU: {gpu_summary()}"


def command_line(module: str, args: Sequence[str]) -> str:
    """How to run this benchmark again: `TUNER_DATA=... python -m MODULE ARGS`."""
    data = os.environ.get("TUNER_DATA")
    prefix = f"TUNER_DATA={shlex.quote(data)} " if data else ""
    return prefix + shlex.join(["python", "-m", module, *args])


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return lines


def section(
    title: str, *, command: str, load_start: str, load_end: str, body: Sequence[str]
) -> str:
    """One dated section: `title`, the command, machine, versions and load, then `body`."""
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        f"## {title} ({stamp})",
        "",
        f"- Command: `{command}`",
        f"- Machine: {machine()}",
        f"- Libraries: {versions()}",
        f"- Load average (1/5/15 min) at start: {load_start}; at end: {load_end}",
        "",
        *body,
    ]
    return "\n".join(lines) + "\n"


def publish(text: str, path: Path | None) -> None:
    """Print the section for a human to paste; with a path, write it there instead."""
    if path is None:
        print("\n" + text, end="")
        return
    path.write_text(text)
    print(f"wrote the section to {path}", file=sys.stderr)


def finish(
    title: str, *, module: str, load_start: str, body: Sequence[str], path: Path | None
) -> None:
    """The benchmark's section, for this command line and the load now, printed or written."""
    command = command_line(module, sys.argv[1:])
    text = section(
        title, command=command, load_start=load_start, load_end=load_average(), body=body
    )
    publish(text, path)
