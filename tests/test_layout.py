"""The package's rooms import only downward, function-level imports included: no cycles."""

from __future__ import annotations

import ast
from pathlib import Path

from conftest import ROOT

# Lowest first: a room may import its own modules and those of rooms below it. The commands
# (tuner/launch.py, ...) sit on top and may import any room.
LAYERS = (
    ("errors", "optuna_internals", "cli"),
    ("study",),
    ("training",),
    ("judging",),
    ("execution",),
    ("results",),
)
COMMANDS = ("launch", "worker", "export", "report", "dashboard", "plots")


def room_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def level(room: str) -> int:
    if room in COMMANDS:
        return len(LAYERS)
    return next(i for i, rooms in enumerate(LAYERS) if room in rooms)


def tuner_imports(path: Path) -> set[str]:
    """Every `tuner.*` module the file imports, anywhere in it."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("tuner.")}
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("tuner."):
            found.add(node.module or "")
    return found


def test_rooms_import_only_rooms_below_them():
    upward = []
    for path in sorted((ROOT / "tuner").rglob("*.py")):
        module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        if room_of(module) in ("__init__", ""):
            continue
        for imported in tuner_imports(path):
            if level(room_of(imported)) > level(room_of(module)):
                upward.append(f"{module} -> {imported}")
    assert upward == []


def test_every_room_has_a_layer():
    rooms = {p.stem if p.is_file() else p.name for p in (ROOT / "tuner").iterdir()}
    rooms -= {"__init__", "__pycache__", "__main__"}
    for room in rooms:
        level(room)  # StopIteration for a room nobody placed
