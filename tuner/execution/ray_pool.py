"""Run the worker loop as Ray actors on any node of a Ray cluster, beside pool.py's processes.

    python -m tuner.launch --study NAME --storage postgresql://... --ray auto|local|ray://HOST:PORT
                           [--workers N] [--cpus-per-worker C] [--gpus-per-worker G]

Each actor is one worker process running tuner.execution.loop.run_worker with the CPUs and the
GPU share it asked Ray for (a fraction such as 0.25 lets four small trials share one GPU); Ray
places it on any node with room, and ships this `tuner` package to it. When a node dies, its
workers' trials stop beating and are failed and retried by the heartbeat check, and Ray
restarts the lost actors elsewhere (MAX_RESTARTS each), where they rejoin the study. The
launcher shows the same progress line as the local pool and stops the actors on Ctrl-C: each
is interrupted as SIGINT interrupts a local worker process, so its trial ends FAIL "interrupted".

Ray is an optional extra (pip install 'mnist-tuner[ray]'); nothing here imports it until used.
"""

from __future__ import annotations

import _thread
import asyncio
import logging
import math
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Any

import optuna

import tuner
from tuner.errors import TunerError
from tuner.execution.pool import STOP_GRACE_SECONDS, catch_stop_signals, supervise
from tuner.execution.slots import SHARED_GPU_ENV
from tuner.execution.storage import open_storage
from tuner.study import StudySpec

MAX_RESTARTS = 3  # per actor: a worker lost with its node is started again elsewhere
# What the workers need from the launcher's environment (heartbeat settings, Keras backend).
FORWARDED_ENV_PREFIXES = ("TUNER_", "KERAS_")
LOG_HINT = "worker logs: Ray's session logs on each node (/tmp/ray/session_latest/logs/worker-*)"


def check_ray_request(address: str, url: str, cpus: float, gpus: float) -> None:
    """Refuse what cannot work before anything starts: one line, exit 2."""
    for option, amount in (("--cpus-per-worker", cpus), ("--gpus-per-worker", gpus)):
        # Ray takes fractions below 1 and whole numbers above.
        if not math.isfinite(amount) or amount < 0 or (amount > 1 and not amount.is_integer()):
            raise TunerError(
                f"{option} takes a fraction below 1 (e.g. 0.25) or a whole number, got {amount:g}"
            )
    if url.startswith("sqlite") and address != "local":
        raise TunerError(
            f"--ray {address}: workers on other nodes cannot share a SQLite file; use a "
            "postgresql:// --storage, or --ray local to run on this host only"
        )


def run_ray_pool(
    spec: StudySpec,
    url: str,
    data_path: str | None,
    *,
    address: str,
    workers: int,
    cpus: float,
    gpus: float,
) -> int:
    """Start `workers` actors on the Ray cluster at `address`; supervise them; an exit code."""
    ray = _import_ray()
    catch_stop_signals()
    storage = open_storage(url)
    study = optuna.load_study(study_name=spec.name, storage=storage)
    try:
        ray.init(
            address=None if address == "local" else address,
            # Ship this package to every node, so each runs the launcher's code.
            runtime_env={"py_modules": [str(Path(tuner.__file__).parent)]},
            log_to_driver=False,  # worker output stays in Ray's logs, not on this terminal
            logging_level=logging.WARNING,
            **({"include_dashboard": False} if address == "local" else {}),
        )
    except Exception as e:
        raise TunerError(f"--ray {address}: cannot connect: {_one_line(e)}") from None
    try:
        _warn_if_short(ray.cluster_resources(), cpus=cpus, gpus=gpus)
        actors = _RayWorkers(ray, spec, url, data_path, workers=workers, cpus=cpus, gpus=gpus)
        print(
            f"{workers} Ray workers ({cpus:g} CPU, {gpus:g} GPU each) on study {spec.name!r}, "
            f"cluster {address}; {LOG_HINT}",
            file=sys.stderr,
        )
        return supervise(spec, study, storage, actors)
    finally:
        ray.shutdown()


class _RayWorkers:
    """The actors of one launch; `supervise` drives them like local worker processes."""

    def __init__(
        self,
        ray: Any,
        spec: StudySpec,
        url: str,
        data_path: str | None,
        *,
        workers: int,
        cpus: float,
        gpus: float,
    ) -> None:
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        self.ray = ray
        # On the launcher's node, which outlives the workers it coordinates.
        here = NodeAffinitySchedulingStrategy(ray.get_runtime_context().get_node_id(), soft=True)
        self.control = ray.remote(_Control).options(num_cpus=0, scheduling_strategy=here).remote()
        env = _worker_env(cpus=cpus, gpus=gpus)
        actor_class = ray.remote(_Worker).options(
            num_cpus=cpus,
            num_gpus=gpus,
            max_restarts=MAX_RESTARTS,
            max_task_retries=-1,  # a restarted actor runs its worker loop again
            scheduling_strategy="SPREAD",  # one node's loss costs as few workers as possible
        )
        self.actors = [actor_class.remote(self.control, env) for _ in range(workers)]
        self.runs = {
            actor.run.remote(spec, url, data_path, index): index
            for index, actor in enumerate(self.actors)
        }
        self.errors: dict[int, str] = {}

    def wait(self, timeout: float) -> bool:
        if self.runs:
            done, _ = self.ray.wait(list(self.runs), num_returns=1, timeout=timeout)
            for ref in done:
                self._collect(ref)
        return bool(self.runs)

    def _collect(self, ref: Any) -> None:
        index = self.runs.pop(ref)
        try:
            code = self.ray.get(ref)
            if code != 0:
                self.errors[index] = f"exited with code {code}"
        except Exception as e:
            self.errors[index] = _one_line(e)
        # An ended actor still holds its CPUs and GPU share; free them for restarted ones.
        self.ray.kill(self.actors[index], no_restart=True)

    def stop(self) -> None:
        try:
            self.ray.get(self.control.stop.remote(), timeout=30)
        except Exception as e:  # the control actor's node is gone: kill the workers instead
            print(f"cannot reach the Ray workers to stop them: {_one_line(e)}", file=sys.stderr)
        if self.runs:
            done, _ = self.ray.wait(
                list(self.runs), num_returns=len(self.runs), timeout=STOP_GRACE_SECONDS
            )
            for ref in done:
                self._collect(ref)
        for index in list(self.runs.values()):
            self.ray.kill(self.actors[index], no_restart=True)

    def owners(self) -> set[str]:
        try:
            return set(self.ray.get(self.control.names.remote(), timeout=30))
        except Exception:  # the control actor is gone with its node: heartbeats cover it
            return set()

    def report_exits(self) -> None:
        for index, error in sorted(self.errors.items()):
            print(f"Ray worker {index} {error} ({LOG_HINT})", file=sys.stderr)


class _Control:
    """Async actor: the names every worker incarnation runs under, and the stop request."""

    def __init__(self) -> None:
        self._names: list[str] = []
        self._stop = asyncio.Event()

    async def register(self, name: str) -> None:
        self._names.append(name)

    async def names(self) -> list[str]:
        return self._names

    async def stop(self) -> None:
        self._stop.set()

    async def stopped(self) -> None:
        await self._stop.wait()


class _Worker:
    """One Ray actor = one worker process; `run` is the worker loop, in the main thread."""

    def __init__(self, control: Any, env: dict[str, str]) -> None:
        import ray

        from tuner.execution.loop import stop_on_signals, worker_name

        os.environ.update(env)  # before TensorFlow is imported, in `run`
        # Ray cannot interrupt a running actor method; a SIGINT handler can, as in a local worker.
        stop_on_signals(signal.SIGINT)
        ray.get(control.register.remote(worker_name()))
        threading.Thread(target=self._interrupt_on_stop, args=(control,), daemon=True).start()

    @staticmethod
    def _interrupt_on_stop(control: Any) -> None:
        import ray

        try:
            ray.get(control.stopped.remote())
        except Exception:  # the launcher and its control actor are gone: Ray ends us too
            return
        # Ray blocks SIGINT in its workers; this runs our SIGINT handler in the main thread
        # as if the signal had arrived (at its next Python instruction).
        _thread.interrupt_main(signal.SIGINT)

    def run(self, spec: StudySpec, url: str, data_path: str | None, index: int) -> int:
        from tuner.execution.loop import run_worker

        logging.basicConfig(
            level=logging.INFO, format=f"[worker {index}] %(levelname)s %(message)s", force=True
        )
        return run_worker(spec, url, data_path, index=index)


def _worker_env(*, cpus: float, gpus: float) -> dict[str, str]:
    """The environment a worker needs: the launcher's tuner settings, its CPU threads, and
    either no GPU or a GPU share (Ray sets CUDA_VISIBLE_DEVICES to the GPU it gave)."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key.startswith(FORWARDED_ENV_PREFIXES) and key != "TUNER_STORAGE"
    }
    env.update(TF_CPP_MIN_LOG_LEVEL="3", PYTHONUNBUFFERED="1", TUNER_THREADS=str(max(1, int(cpus))))
    env.update(SHARED_GPU_ENV if gpus > 0 else {"CUDA_VISIBLE_DEVICES": ""})
    return env


def _warn_if_short(resources: dict[str, float], *, cpus: float, gpus: float) -> None:
    for name, need in (("CPU", cpus), ("GPU", gpus)):
        if need > resources.get(name, 0):
            print(
                f"the Ray cluster has {resources.get(name, 0):g} {name} now and each worker "
                f"asks for {need:g}: workers wait until a node with room joins",
                file=sys.stderr,
            )


def _import_ray() -> Any:
    try:
        import ray
    except ModuleNotFoundError:
        raise TunerError(
            "--ray needs Ray on this host and the cluster: pip install 'mnist-tuner[ray]'"
        ) from None
    return ray


def _one_line(error: BaseException) -> str:
    """The last non-empty line of an error (Ray's carry the remote traceback first)."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return lines[-1] if lines else type(error).__name__
