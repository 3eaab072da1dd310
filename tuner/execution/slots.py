"""Worker slots on this host: which GPU each worker process gets, or its share of CPU threads."""

from __future__ import annotations

import itertools
import os
import shutil
import subprocess
import sys

from tuner.errors import TunerError

# GPU memory on demand (TensorFlow and JAX), so several workers can share one GPU.
SHARED_GPU_ENV = {"TF_FORCE_GPU_ALLOW_GROWTH": "true", "XLA_PYTHON_CLIENT_PREALLOCATE": "false"}


def visible_gpus() -> list[str]:
    """GPU ids this host lets us use, without importing TensorFlow.

    $CUDA_VISIBLE_DEVICES, when set, is the list (empty or -1: none); else nvidia-smi's indices.
    """
    restricted = os.environ.get("CUDA_VISIBLE_DEVICES")
    if restricted is not None:
        ids = [g.strip() for g in restricted.split(",") if g.strip()]
        # CUDA stops at the first invalid entry; -1 is the usual way to hide every GPU.
        return list(itertools.takewhile(lambda g: g != "-1", ids))
    if shutil.which("nvidia-smi") is None:
        return []
    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=index", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            check=False,
            timeout=30,
        )
    except (OSError, subprocess.TimeoutExpired):
        return []
    return (
        [line.strip() for line in out.stdout.splitlines() if line.strip()]
        if out.returncode == 0
        else []
    )


def worker_slots(*, workers: int, gpus: str | None, per_gpu: int = 1) -> list[dict[str, str]]:
    """The environment of each worker process: its GPU, or its share of CPU threads.

    `gpus` is None (CPU workers), "all", or a list like "0,1"; each GPU gets `per_gpu` processes.
    With no GPU visible at all, it says so in one line and falls back to `workers` CPU workers.
    """
    if workers < 1 or per_gpu < 1:
        raise TunerError(
            f"--workers and --workers-per-gpu must be at least 1, got {workers} and {per_gpu}"
        )
    if gpus is not None:
        available = visible_gpus()
        if gpus.strip() == "all":
            chosen = available
        else:
            chosen = [g.strip() for g in gpus.split(",") if g.strip()]
            if not chosen:
                raise TunerError(f"--gpus takes 'all' or a list like 0,1; got {gpus!r}")
        if available:
            missing = [g for g in chosen if g not in available]
            if missing:
                raise TunerError(
                    f"--gpus {gpus}: GPU {', '.join(missing)} not visible here "
                    f"(visible: {', '.join(available)})"
                )
            return [
                {"CUDA_VISIBLE_DEVICES": gpu, **SHARED_GPU_ENV}
                for gpu in chosen
                for _ in range(per_gpu)
            ]
        print(
            f"no GPU visible (--gpus {gpus}); running {workers} CPU worker"
            f"{'s' if workers != 1 else ''} instead",
            file=sys.stderr,
        )
    # $TUNER_THREADS, when set, fixes the threads per op whatever the number of workers: a seed's
    # result can depend on it, so runs with different --workers then give the same figures.
    fixed = os.environ.get("TUNER_THREADS", "")
    if fixed and not (fixed.isdigit() and int(fixed) > 0):
        raise TunerError(f"TUNER_THREADS must be a positive integer, got {fixed!r}")
    threads = int(fixed) if fixed else max(1, (os.cpu_count() or 1) // workers)
    return [
        {"CUDA_VISIBLE_DEVICES": "", "TUNER_THREADS": str(threads), "TUNER_CPUS": cpus}
        for cpus in cpu_shares(workers, threads)
    ]


def cpu_shares(workers: int, threads: int) -> list[str]:
    """The cores each CPU worker may run on, `threads` apiece, in turn over the cores this
    process may use ("0,1", "2,3", ...). JAX has no thread setting of its own: a JAX worker
    pins itself to its share (tuner.training.backend), or every worker would use every core."""
    cores = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    cores = cores or list(range(os.cpu_count() or 1))
    return [
        ",".join(str(cores[(w * threads + t) % len(cores)]) for t in range(threads))
        for w in range(workers)
    ]
