"""One progress line for a whole study while its workers run, and the summary at the end."""

from __future__ import annotations

import shutil
import sys
import time

import optuna

from tuner.execution.storage import is_connection_error
from tuner.judging.records import GoalState
from tuner.study import record
from tuner.study.record import StudyCounts, best_trial, count_trials


class Progress:
    """One line for the whole study: done of target, pruned, failed, best feasible, rate."""

    def __init__(self, study: optuna.Study, *, goal: bool = False) -> None:
        self.study = study
        self.goal = goal  # show the phase: search, choosing or confirming a candidate
        self.start = time.monotonic()
        self.start_finished = count_trials(study.get_trials(deepcopy=False)).finished
        self.tty = sys.stderr.isatty()
        self._last = ""
        self._last_print = 0.0

    def line(self) -> tuple[str, StudyCounts]:
        trials = self.study.get_trials(deepcopy=False)
        counts = count_trials(trials)
        target = record.target_trials(self.study, counts.finished)
        best, feasible = best_trial(self.study, trials)
        if best is None:
            best_text = "best -"
        else:
            best_text = (
                f"best {'feasible' if feasible else 'INFEASIBLE'} {best.value:.4f} (#{best.number})"
            )
        elapsed = time.monotonic() - self.start
        rate = (counts.finished - self.start_finished) / max(elapsed, 1e-9) * 60
        phase = f"{GoalState.read(self.study).phase_text(time.time())} " if self.goal else ""
        text = (
            f"[{self.study.study_name}] {phase}{_bar(counts.finished, target)} "
            f"{counts.finished}/{target} done: "
            f"{counts.complete} complete, "
            f"{counts.pruned} pruned, {counts.failed} failed, {counts.running} running | "
            f"{counts.feasible} feasible, {best_text} | {_clock(elapsed)}, {rate:.1f} trials/min"
        )
        return text, counts

    def show(self) -> None:
        try:
            text, _ = self.line()
        except Exception as e:
            if not is_connection_error(e):
                raise
            text = f"[{self.study.study_name}] storage unreachable; workers retry until it is back"
        if self.tty:
            # A line wider than the terminal wraps, and \r would then redraw only its last row.
            text = text[: shutil.get_terminal_size().columns - 1]
            print("\r" + text.ljust(len(self._last)), end="", file=sys.stderr, flush=True)
            self._last = text
        elif (
            text.split("|")[0] != self._last.split("|")[0]
            or time.monotonic() - self._last_print > 30
        ):
            print(text, file=sys.stderr, flush=True)
            self._last, self._last_print = text, time.monotonic()

    def end(self) -> None:
        if self.tty and self._last:
            print(file=sys.stderr)

    def summary(self) -> StudyCounts:
        text, counts = self.line()
        print(text)
        if counts.prune_reasons:
            reasons = ", ".join(f"{k} {v}" for k, v in sorted(counts.prune_reasons.items()))
            print(f"pruned by reason: {reasons}")
        return counts


def _bar(done: int, target: int, width: int = 20) -> str:
    filled = width if target <= 0 else min(width, done * width // target)
    return "[" + "#" * filled + "-" * (width - filled) + "]"


def _clock(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes}m{secs:02d}s"
