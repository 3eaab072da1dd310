"""GPU worker slots: which GPU each worker process gets, and the CPU fallback.

This machine has no GPU. CUDA_VISIBLE_DEVICES is how CUDA itself restricts the GPUs a process
sees, so setting it here exercises the same code paths a GPU host takes; a stand-in nvidia-smi
on PATH checks the parsing of the real one's output format.
"""

from __future__ import annotations

import os

import pytest

from tuner.errors import TunerError
from tuner.execution.slots import cpu_shares, visible_gpus, worker_slots


def test_one_process_per_gpu_slot_with_memory_growth(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1")
    slots = worker_slots(workers=2, gpus="all", per_gpu=2)
    assert [s["CUDA_VISIBLE_DEVICES"] for s in slots] == ["0", "0", "1", "1"]
    assert all(s["TF_FORCE_GPU_ALLOW_GROWTH"] == "true" for s in slots)
    assert all(s["XLA_PYTHON_CLIENT_PREALLOCATE"] == "false" for s in slots)
    assert [s["CUDA_VISIBLE_DEVICES"] for s in worker_slots(workers=2, gpus="1")] == ["1"]


def test_a_gpu_that_is_not_there_is_an_error(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1")
    with pytest.raises(TunerError, match=r"--gpus 0,3: GPU 3 not visible here \(visible: 0, 1\)"):
        worker_slots(workers=2, gpus="0,3")
    with pytest.raises(TunerError, match="--gpus takes 'all' or a list"):
        worker_slots(workers=2, gpus=",")


@pytest.mark.parametrize("hidden", ["", "-1"])
def test_no_gpu_visible_says_so_once_and_runs_cpu_workers(monkeypatch, capsys, hidden):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", hidden)
    slots = worker_slots(workers=3, gpus="all", per_gpu=4)
    assert len(slots) == 3
    assert all(s["CUDA_VISIBLE_DEVICES"] == "" and int(s["TUNER_THREADS"]) >= 1 for s in slots)
    err = capsys.readouterr().err
    assert err == "no GPU visible (--gpus all); running 3 CPU workers instead\n"


def test_gpus_come_from_nvidia_smi_when_cuda_does_not_restrict_them(monkeypatch, tmp_path):
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))  # no nvidia-smi at all
    assert visible_gpus() == []
    fake = (
        tmp_path / "nvidia-smi"
    )  # the real one's output for `--query-gpu=index --format=csv,noheader`
    fake.write_text("#!/bin/sh\nprintf '0\\n1\\n'\n")
    fake.chmod(0o755)
    assert visible_gpus() == ["0", "1"]


def test_cpu_workers_share_the_cores_unless_tuner_threads_fixes_their_threads(monkeypatch):
    monkeypatch.delenv("TUNER_THREADS", raising=False)
    cores = os.cpu_count() or 1
    assert [s["TUNER_THREADS"] for s in worker_slots(workers=2, gpus=None)] == [
        str(max(1, cores // 2))
    ] * 2
    monkeypatch.setenv("TUNER_THREADS", "3")
    assert [s["TUNER_THREADS"] for s in worker_slots(workers=2, gpus=None)] == ["3", "3"]
    for bad in ("abc", "0", "-2"):
        monkeypatch.setenv("TUNER_THREADS", bad)
        with pytest.raises(TunerError, match="TUNER_THREADS must be a positive integer"):
            worker_slots(workers=2, gpus=None)


def test_cpu_workers_get_their_own_cores_in_turn(monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2, 3})
    assert cpu_shares(2, 2) == ["0,1", "2,3"]
    assert cpu_shares(4, 1) == ["0", "1", "2", "3"]
    assert cpu_shares(3, 2) == ["0,1", "2,3", "0,1"]  # more threads than cores: they share
    monkeypatch.delenv("TUNER_THREADS", raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 4)
    assert [s["TUNER_CPUS"] for s in worker_slots(workers=2, gpus=None)] == ["0,1", "2,3"]
