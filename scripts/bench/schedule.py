"""Each (arm, seed) in its own process, and the one JSON line it prints back.

By default one run at a time, with every core. With parallel = N > 1, N at once, each pinned
to its own CPU core (and the product's workers to one thread per op), so every arm gets the same
compute.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO, Any

from scripts.bench.confirm import arm_result
from scripts.bench.doc import ROOT, load_average, python_path

RESULT = "RESULT "  # a run's last line: RESULT {json}


def print_result(result: dict[str, Any]) -> None:
    """In a run's process: hand the result to the scheduler."""
    print(RESULT + json.dumps(result))


@dataclass
class _Running:
    arm: str
    seed: int
    proc: subprocess.Popen[str]
    # Files, not pipes: a child that fills a pipe nobody reads yet would stall.
    out: IO[str]
    err: IO[str]
    load_before: str

    def collect(self) -> dict[str, Any]:
        self.out.seek(0)
        self.err.seek(0)
        stdout, stderr = self.out.read(), self.err.read()
        line = next((x for x in stdout.splitlines() if x.startswith(RESULT)), None)
        if line is None:
            print(stdout[-2000:], stderr[-4000:], file=sys.stderr)
            result = arm_result({}, seconds=math.nan, trials=0, epochs=0, judged=[])
            result["error"] = stderr.strip().splitlines()[-1:]
        else:
            result = json.loads(line[len(RESULT) :])
        result.update(seed=self.seed, load_before=self.load_before)
        f = result["found"]
        outcome = f"confirmed #{f['trial']} {f['passes']}/{f['seeds']}" if f else "censored"
        print(
            f"{self.arm:14s} seed {self.seed}: {outcome} {result['seconds']:.0f} s, "
            f"{result['trials']} trials, {result['epochs']} epochs, judged {result['judged']}",
            flush=True,
        )
        return result


def run_all(
    jobs: list[tuple[str, int]], command: Callable[[str, int], list[str]], *, parallel: int
) -> dict[str, list[dict[str, Any]]]:
    """Run `command(arm, seed)` for every job, `parallel` at once; each arm's results by seed."""
    cores = sorted(os.sched_getaffinity(0))
    pending = list(jobs)
    results: dict[str, list[dict[str, Any]]] = {arm: [] for arm, _ in jobs}
    running: dict[int, _Running] = {}  # core slot -> its run
    free = list(range(parallel))
    with contextlib.ExitStack() as files:  # the runs' output files, closed however this ends
        while pending or running:
            while pending and free:
                arm, seed = pending.pop(0)
                slot = free.pop(0)
                pin = {cores[slot]} if parallel > 1 else None
                threads = {"TUNER_THREADS": "1"} if pin else {}
                out = files.enter_context(tempfile.TemporaryFile("w+"))
                err = files.enter_context(tempfile.TemporaryFile("w+"))
                proc = subprocess.Popen(
                    command(arm, seed),
                    stdout=out,
                    stderr=err,
                    text=True,
                    cwd=ROOT,
                    # A pinned run's product workers get one thread per op, as TensorFlow in a
                    # peer's process does on one core.
                    env={**os.environ, "PYTHONPATH": python_path(), **threads},
                    preexec_fn=(lambda pin=pin: os.sched_setaffinity(0, pin)) if pin else None,
                )
                running[slot] = _Running(arm, seed, proc, out, err, load_average())
            time.sleep(1)
            for slot, run in list(running.items()):
                if run.proc.poll() is None:
                    continue
                del running[slot]
                free.append(slot)
                results[run.arm].append(run.collect())
    for runs in results.values():
        runs.sort(key=lambda r: r["seed"])
    return results
