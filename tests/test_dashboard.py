"""optuna-dashboard on our storage, looked at in a real headless Chromium.

Screenshots and the 200-trial timing land in artifacts/ at the repository root.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
import uuid

import optuna
import pytest
import sqlalchemy
from browser import (
    ARTIFACTS,
    URL_LINE,
    page_text,
    screenshot,
    serve,
    wait_for_text,
    wait_until,
)
from conftest import ROOT, run_module, wait_for
from optuna.artifacts import FileSystemArtifactStore, upload_artifact
from selenium.webdriver.common.by import By
from synthetic import add_trials

from tuner import optuna_internals
from tuner.execution.budget import BudgetLock
from tuner.execution.create import create_study
from tuner.study import load_study_spec

PG_ADMIN = "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"


def study_in(
    tmp_path, tiny_study, *, n: int, epochs: int = 3, storage: str | None = None
) -> tuple[str, optuna.Study]:
    """A study made the way tuner.launch makes it (note, attributes), with n finished trials."""
    spec = load_study_spec(tiny_study(n_trials=n, epochs=epochs))
    url = storage or f"sqlite:///{tmp_path / 'dash.db'}"
    study = create_study(spec, url, n_trials=n, data_digest="d" * 64)
    add_trials(study, n, epochs=epochs, prune_every=5)
    return url, study


def open_trial_list(browser, study_url: str, n_trials: int) -> float:
    browser.get(f"{study_url}/trials")
    return wait_for_text(browser, f"{n_trials} Trials", "User Attributes", "val_accuracy")


def test_launch_serves_the_dashboard_while_workers_run_then_browser_shows_the_study(
    tmp_path, tiny_study, mnist_path, browser
):
    study_file = tiny_study(n_trials=2, epochs=2)
    stderr_path = tmp_path / "launch.err"
    with open(stderr_path, "w") as err:
        launch = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tuner.launch",
                "--study",
                study_file,
                "--workers",
                "1",
                "--data",
                mnist_path,
                "--dashboard",
                "--dashboard-port",
                "0",
            ],
            cwd=tmp_path,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
        )
        # The launcher prints the URL before any worker starts; the API must answer while they
        # run. Holding the trial budget keeps them from finishing the study meanwhile.
        match = wait_for(
            lambda: URL_LINE.search(stderr_path.read_text()) or launch.poll() is not None,
            timeout=120,
            what="the dashboard's URL",
        )
        assert launch.poll() is None, stderr_path.read_text()
        base = match["url"].split("/dashboard/")[0]
        with BudgetLock(f"sqlite:///{tmp_path / 'runs' / 'optuna.db'}", "tiny").hold():
            with urllib.request.urlopen(f"{base}/api/studies", timeout=10) as response:
                names = [s["study_name"] for s in json.load(response)["study_summaries"]]
            assert launch.poll() is None, "the API answered only after the launch ended"
        assert names == ["tiny"]
        out, _ = launch.communicate(timeout=300)
    assert launch.returncode == 0, stderr_path.read_text()
    assert "2/2 done" in out
    # The dashboard went away with the launch.
    with pytest.raises(OSError):
        urllib.request.urlopen(f"{base}/api/studies", timeout=5)
    assert (
        (tmp_path / "runs" / "logs" / "tiny" / "dashboard.log")
        .read_text()
        .startswith("dashboard for study")
    )

    # Now the finished study in the browser, through `python -m tuner.dashboard`.
    storage = f"sqlite:///{tmp_path / 'runs' / 'optuna.db'}"
    study = optuna.load_study(study_name="tiny", storage=storage)
    n_trials = len(study.trials)
    trial = study.trials[0]
    with serve("tiny", storage, cwd=tmp_path) as study_url:
        browser.get(study_url.split("/dashboard/")[0] + "/dashboard")
        wait_until(
            browser,
            lambda d: d.find_elements(By.XPATH, "//*[normalize-space()='1. tiny']"),
            what="the study list with 'tiny'",
        )
        assert "Direction: MAXIMIZE" in page_text(browser)
        screenshot(browser, "dashboard-study-list.png")

        open_trial_list(browser, study_url, n_trials)  # "2 Trials", then trial 0's details
        text = page_text(browser)
        assert f"val_accuracy {trial.user_attrs['val_accuracy']}" in text
        assert f"train_accuracy {trial.user_attrs['train_accuracy']}" in text
        for key in ("gap", "fit_seconds", "feasible", "seed"):
            assert f"\n{key} " in text, key
        assert "Intermediate Values" in text and f"1 {trial.intermediate_values[1]}" in text
        screenshot(browser, "dashboard-trial.png")

        browser.get(f"{study_url}/note")
        wait_for_text(
            browser, "What this study is", study.user_attrs["data_digest"], "Capstone rules"
        )
        screenshot(browser, "dashboard-note.png")


def test_dashboard_on_postgresql(tmp_path, tiny_study, browser):
    database = f"tuner_dash_{uuid.uuid4().hex[:8]}"  # our own database: other tests use `test`
    admin = sqlalchemy.create_engine(
        PG_ADMIN, isolation_level="AUTOCOMMIT", poolclass=sqlalchemy.NullPool
    )
    with admin.connect() as conn:
        conn.execute(sqlalchemy.text(f'CREATE DATABASE "{database}"'))
    try:
        url, study = study_in(
            tmp_path, tiny_study, n=7, storage=f"postgresql://postgres@127.0.0.1:5432/{database}"
        )
        # Let DROP DATABASE find no session of ours.
        optuna_internals.rdb_storage(study).engine.dispose()
        # A file the reporter attached (default artifact store: runs/artifacts under the cwd).
        store = tmp_path / "runs" / "artifacts"
        store.mkdir(parents=True)
        attached = tmp_path / "report.md"
        attached.write_text("# report\n")
        upload_artifact(
            artifact_store=FileSystemArtifactStore(str(store)),
            file_path=str(attached),
            study_or_trial=study,
        )
        with serve("tiny", url, cwd=tmp_path) as study_url:
            open_trial_list(browser, study_url, 7)
            screenshot(browser, "dashboard-postgresql.png")
            browser.get(study_url)
            wait_for_text(browser, "Study Artifacts", "report.md")
    finally:
        with admin.connect() as conn:
            conn.execute(sqlalchemy.text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))


def test_dashboard_page_time_for_a_200_trial_study(tmp_path, tiny_study, browser):
    url, study = study_in(tmp_path, tiny_study, n=200, epochs=5)
    complete = len(study.get_trials(states=(optuna.trial.TrialState.COMPLETE,)))
    with serve("tiny", url, cwd=tmp_path) as study_url:
        # Study page: done when the history plot has a point for every complete trial.
        start = time.perf_counter()
        browser.get(study_url)
        wait_until(
            browser,
            lambda d: (
                "Best Trial" in page_text(d)
                and d.execute_script(
                    "return document.querySelectorAll("
                    "'.js-plotly-plot .scatterlayer path.point').length"
                )
                >= complete
            ),
            what=f"the history plot with {complete} points",
        )
        study_seconds = time.perf_counter() - start
        screenshot(browser, "dashboard-200-trials.png")
        start = time.perf_counter()
        open_trial_list(browser, study_url, 200)
        trials_seconds = time.perf_counter() - start
    timing = {
        "trials": 200,
        "study_page_seconds": round(study_seconds, 2),
        "trial_list_seconds": round(trials_seconds, 2),
        "browser": "chromium headless",
    }
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "dashboard-200-trials.json").write_text(json.dumps(timing, indent=2) + "\n")
    print(f"200-trial study: study page {study_seconds:.2f}s, trial list {trials_seconds:.2f}s")
    # A page that takes this long is unusable while watching a study; it also catches a hang.
    assert study_seconds < 30 and trials_seconds < 30, timing


def test_dashboard_on_all_interfaces_says_so(tmp_path, tiny_study):
    url, _ = study_in(tmp_path, tiny_study, n=1)
    with (
        serve("tiny", url, cwd=tmp_path, host="0.0.0.0") as study_url,
        urllib.request.urlopen(study_url, timeout=10) as response,
    ):
        assert response.status == 200


def test_dashboard_bad_input_is_one_line_exit_2(tmp_path, tiny_study):
    url, _ = study_in(tmp_path, tiny_study, n=1)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        cases = [
            (["--study", "nope", "--storage", url], "no study named 'nope'"),
            (["--study", "tiny", "--storage", f"sqlite:///{tmp_path}/none.db"], "does not exist"),
            (["--study", "tiny", "--storage", "not a url"], "malformed storage URL"),
            (
                ["--study", "tiny", "--storage", "postgresql://me:hunter2@127.0.0.1:1/db"],
                "Connection refused",
            ),
            (
                ["--study", "tiny", "--storage", url, "--port", "70000"],
                "--port must be between 0 and 65535",
            ),
            (
                ["--study", "tiny", "--storage", url, "--port", port],
                f"cannot listen on 127.0.0.1:{port}",
            ),
        ]
        for argv, expected in cases:
            result = run_module("tuner.dashboard", *argv, cwd=tmp_path, timeout=60)
            assert result.returncode == 2, (argv, result.stderr)
            lines = result.stderr.strip().splitlines()
            assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
            assert expected in lines[0], lines[0]
            assert "hunter2" not in result.stderr + result.stdout
    assert not (tmp_path / "none.db").exists()


def test_launch_dashboard_that_cannot_start_stops_before_any_worker(
    tmp_path, tiny_study, mnist_path
):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        result = run_module(
            "tuner.launch",
            "--study",
            tiny_study(),
            "--data",
            mnist_path,
            "--dashboard",
            "--dashboard-port",
            port,
            cwd=tmp_path,
            timeout=120,
        )
    assert result.returncode == 2, result.stderr
    assert (
        result.stderr.strip()
        .splitlines()[-1]
        .startswith("error: dashboard did not start: cannot listen")
    )
    assert not (tmp_path / "runs" / "logs" / "tiny" / "worker-0.log").exists()
