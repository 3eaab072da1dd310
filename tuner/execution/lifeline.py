"""Processes a launcher starts stop when it dies, even by SIGKILL.

Workers and the dashboard run in their own sessions (Ctrl-C reaches them once, through the
launcher), so after a SIGKILL of the launcher nothing else would stop them. The launcher puts
its pid in the child's environment; the child asks the kernel for SIGHUP when its parent dies.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys

LAUNCHER_PID_ENV = "TUNER_LAUNCHER_PID"
_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def launcher_env() -> dict[str, str]:
    """What a launcher adds to a child's environment so the child can stop with it."""
    return {LAUNCHER_PID_ENV: str(os.getpid())}


def stop_with_launcher() -> None:
    """In the child: SIGHUP when the launcher dies. Linux only; a no-op without a launcher."""
    launcher = os.environ.get(LAUNCHER_PID_ENV)
    if not launcher or not sys.platform.startswith("linux"):
        return
    ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGHUP)
    if os.getppid() != int(launcher):  # it died before we asked
        os.kill(os.getpid(), signal.SIGHUP)
