"""The Astro CLI project files agree with the local target's settings and with docker-compose.

No Astro CLI or Docker engine here: the files are checked, not run.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml

from devtools.stack import config
from fraud_mlops.settings import REPO_ROOT, settings_from_env
from scripts import container_env
from scripts.container_env import ASTRO, CONTAINER_PORTS

from . import compose, project
from .keys_command import KEYS_COMMAND, run_keys_command

SECRETS = config.StackSecrets(jwt_secret="jwt", fernet_key="fernet=")
EMULATORS = ("pubsub", "gcs", "emulators-init")


def _settings_file() -> dict[str, Any]:
    return dict(yaml.safe_load((REPO_ROOT / "airflow_settings.yaml").read_text())["airflow"])


def test_astro_image_is_the_runtime_of_the_locked_airflow_and_python() -> None:
    dockerfile = (REPO_ROOT / "Dockerfile.astro").read_text()
    runtime = re.search(
        r"^FROM astrocrpublic\.azurecr\.io/runtime:(\d+)\.(\d+)-\d+-python-(\S+)$", dockerfile, re.M
    )
    assert runtime, "FROM the Astro Runtime image with an explicit Python"
    airflow = project.locked_version("apache-airflow")
    assert ".".join(runtime.groups()[:2]) == ".".join(airflow.split(".")[:2])
    assert f">={runtime.group(3)}" in project.pyproject()["requires-python"]
    args = dict(re.findall(r"^ARG (\w+)=(\S+)$", dockerfile, flags=re.MULTILINE))
    assert args["AIRFLOW_VERSION"] == airflow
    assert args["UV_VERSION"] == project.makefile_uv_version()
    assert "uv export --frozen --no-dev" in dockerfile
    assert "airflow.__version__" in dockerfile  # the build fails on a runtime/lock mismatch


def test_the_version_guard_checks_the_runtime_before_the_install_can_replace_it() -> None:
    lines = (REPO_ROOT / "Dockerfile.astro").read_text().splitlines()
    guard = next(i for i, line in enumerate(lines) if "airflow.__version__" in line)
    install = next(i for i, line in enumerate(lines) if line.startswith("RUN pip install"))
    assert guard < install


def test_the_image_carries_the_pseudonym_keyset_where_the_containers_read_it(tmp_path: Path) -> None:
    """Astro's containers keep the local data folder in their own filesystem (no volume), and
    the host's .local is not copied in: the image build creates the keyset the staging SQL needs."""
    dockerfile = (REPO_ROOT / "Dockerfile.astro").read_text().replace("\\\n", " ")
    (run,) = [line for line in dockerfile.splitlines() if line.startswith("RUN") and KEYS_COMMAND in line]
    assignments = dict(re.findall(r"(\w+)=(\S+)", run.split(KEYS_COMMAND)[0]))
    env = container_env.astro_env(SECRETS)
    assert assignments == {key: env[key] for key in ("MLOPS_LOCAL_DIR", "PYTHONPATH")}
    lines = dockerfile.splitlines()
    assert lines.index(run) > next(i for i, line in enumerate(lines) if line.startswith("RUN pip install"))
    assert ".local" in (REPO_ROOT / ".dockerignore").read_text().split()  # not the host's keys
    assert sorted(run_keys_command(tmp_path / "image")) == ["pseudonym-kek.json", "pseudonym_keyset.wrapped"]


def test_connections_are_the_local_stack_connections() -> None:
    expected = container_env.connections(ASTRO, SECRETS)
    listed = {c["conn_id"]: c for c in _settings_file()["connections"]}
    assert set(listed) == set(expected)
    for conn_id, conn in expected.items():
        entry = listed[conn_id]
        assert entry["conn_type"] == conn["conn_type"], conn_id
        assert entry.get("conn_host") == conn.get("host"), conn_id
        assert entry.get("conn_extra") == conn.get("extra"), conn_id
        if conn.get("password"):
            # Secrets stay out of the repository: the env file overrides this entry.
            assert entry.get("conn_password") == "", conn_id
            env_conn = json.loads(container_env.astro_env(SECRETS)[f"AIRFLOW_CONN_{conn_id.upper()}"])
            assert env_conn == conn
    warehouse = listed[container_env.container_settings(ASTRO).warehouse_conn_id]
    assert warehouse["conn_host"].startswith(f"{ASTRO.root}/.local/")


def test_pools_are_the_local_stack_pools() -> None:
    pools = {
        p["pool_name"]: (p["pool_slot"], p["pool_description"], p["pool_include_deferred"])
        for p in _settings_file()["pools"]
    }
    assert pools == {name: (slots, description, False) for name, (slots, description) in config.POOLS.items()}
    assert _settings_file()["variables"] == []  # the project reads no Airflow Variables


def test_astro_env_is_the_project_environment_for_the_astro_containers() -> None:
    env = container_env.astro_env(SECRETS)
    settings = container_env.container_settings(ASTRO)
    assert env["MLOPS_TARGET"] == "local"
    assert env["MLOPS_LOCAL_DIR"] == f"{ASTRO.root}/.local" == str(settings.local_dir)
    assert env["PYTHONPATH"] == f"{ASTRO.root}/plugins:{ASTRO.root}"
    assert env["STORAGE_EMULATOR_HOST"] == f"http://gcs:{CONTAINER_PORTS.gcs}"
    assert env["PUBSUB_EMULATOR_HOST"] == f"pubsub:{CONTAINER_PORTS.pubsub}"
    assert env["GCP_PROJECT"] == settings.project
    assert env["AIRFLOW__CORE__LOAD_EXAMPLES"] == "False"
    assert settings_from_env(env).storage_notifies  # the override's fake-gcs-server notifies
    assert str(REPO_ROOT) not in json.dumps(env)
    # The same values the compose stack gives its Airflow containers, bar the project root.
    compose_env = compose.environment(
        compose.load(REPO_ROOT / "docker-compose.yaml", container_env.compose_env(SECRETS))["services"][
            "airflow-scheduler"
        ]
    )
    for key in ("MLOPS_TARGET", "GCP_PROJECT", "STORAGE_EMULATOR_HOST", "PUBSUB_EMULATOR_HOST"):
        assert env[key] == compose_env[key], key


def test_override_emulators_are_exact_copies_of_the_compose_ones() -> None:
    override = compose.load(REPO_ROOT / "docker-compose.override.yml")
    main = compose.load(REPO_ROOT / "docker-compose.yaml")
    assert set(override["services"]) == set(EMULATORS)
    for name in EMULATORS:
        assert override["services"][name] == main["services"][name], name
    assert set(override["networks"]) == {"airflow"}
    assert set(override["volumes"]) == {"gcs-data"} <= set(main["volumes"])


def test_astro_project_layout() -> None:
    assert (
        yaml.safe_load((REPO_ROOT / ".astro" / "config.yaml").read_text())["project"]["name"] == "fraud-mlops"
    )
    packages = [
        line.strip()
        for line in (REPO_ROOT / "packages.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert packages == []
    assert (REPO_ROOT / "requirements.txt").is_file()  # installed by the runtime's ONBUILD step
    assert "/include/" in (REPO_ROOT / "dags" / ".airflowignore").read_text().splitlines()
    ignored = (REPO_ROOT / ".dockerignore").read_text().splitlines()
    assert {"airflow_settings.yaml", ".local", ".env"} <= set(ignored)  # no secrets baked in
    compile((REPO_ROOT / ".astro" / "test_dag_integrity_default.py").read_text(), "dag-integrity", "exec")
