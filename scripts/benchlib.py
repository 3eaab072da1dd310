"""Shared pieces of the benchmark scripts (scripts/bench_*.py): machine facts, load average,
the dated section appended to docs/BENCHMARKS.md, and the FLOP count of a fit.

Pure helpers live here so tests/test_benchlib.py can check them without timing anything.
"""

from __future__ import annotations

import datetime as _dt
import itertools
import os
import platform
import shlex
import subprocess
import sys
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BENCH_DOC = ROOT / "docs" / "BENCHMARKS.md"
LIBRARIES = (
    "optuna",
    "tensorflow",
    "jax",
    "keras",
    "numpy",
    "sqlalchemy",
    "psycopg2-binary",
    "keras-tuner",
)


def python_path() -> str:
    """PYTHONPATH for a child process: the repository first, then whatever was set already."""
    return os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} / {five:.2f} / {fifteen:.2f}"


def gpu_summary() -> str:
    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=20,
            check=False,
        )
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
    return (
        f"{os.cpu_count()} CPU cores ({cpu_model()}), "
        f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GiB, "
        f"GPU: {gpu_summary()}"
    )


def command_line(argv: Sequence[str] | None = None) -> str:
    argv = list(sys.argv if argv is None else argv)
    script = os.path.relpath(argv[0], ROOT) if argv and os.path.exists(argv[0]) else argv[0]
    data = os.environ.get("TUNER_DATA")
    prefix = f"TUNER_DATA={shlex.quote(data)} " if data else ""
    return prefix + "PYTHONPATH=. python " + shlex.join([script, *argv[1:]])


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return lines


def append_section(
    title: str,
    *,
    load_start: str,
    load_end: str,
    body: Sequence[str],
    doc: Path = BENCH_DOC,
    argv: Sequence[str] | None = None,
) -> None:
    """Append one dated section (command, machine, versions, load, then `body`) to the doc."""
    stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        "",
        f"## {title} ({stamp})",
        "",
        f"- Command: `{command_line(argv)}`",
        f"- Machine: {machine()}",
        f"- Libraries: {versions()}",
        f"- Load average (1/5/15 min) at start: {load_start}; at end: {load_end}",
        "",
        *body,
        "",
    ]
    if not doc.exists():
        doc.write_text(
            "# Benchmarks\n\nEach section is appended by a script in scripts/bench_*.py; "
            "see docs/BENCHMARKS.md's sections for what each measured.\n"
        )
    with doc.open("a") as f:
        f.write("\n".join(lines))


def dense_widths(
    config: dict[str, Any], *, inputs: int = 784, outputs: int = 10
) -> list[tuple[int, int]]:
    """(fan_in, fan_out) of every Dense layer the model builder makes for `config`."""
    widths = [inputs, *config["layers"], outputs]
    return list(itertools.pairwise(widths))


def forward_flops_per_sample(config: dict[str, Any]) -> int:
    """Multiply-adds of the Dense layers, counted as 2 FLOPs each (the bias, activations,
    dropout and the shift layer are ignored: they are O(width), not O(width^2))."""
    return sum(2 * fan_in * fan_out for fan_in, fan_out in dense_widths(config))


def fit_flops(config: dict[str, Any], *, samples: int, epochs: int) -> int:
    """FLOPs of training: forward + backward is about 3x the forward matmuls (the backward pass
    computes both the input and the weight gradients), per sample, per epoch."""
    return 3 * forward_flops_per_sample(config) * samples * epochs


def eval_flops(config: dict[str, Any], *, samples: int) -> int:
    return forward_flops_per_sample(config) * samples
