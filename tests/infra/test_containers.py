"""docker-compose.yaml and its Dockerfile agree with the local target's settings.

There is no Docker engine on these machines: nothing here starts a container. The tests read
the files as Compose would (anchors merged, variables interpolated) and compare them with
``devtools.stack.config`` for the containers' paths and hosts. The emulator init
script does run, for real, against the GCS and Pub/Sub emulators of this machine.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from devtools.stack import config
from fraud_mlops import settings as settings_module
from fraud_mlops.settings import REPO_ROOT, settings_from_env
from scripts import container_env
from scripts.container_env import COMPOSE, CONTAINER_PORTS

from . import compose, project
from .keys_command import KEYS_COMMAND, run_keys_command

COMPOSE_FILE = REPO_ROOT / "docker-compose.yaml"
AIRFLOW_SERVICES = {
    "airflow-apiserver": "api-server",
    "airflow-scheduler": "scheduler",
    "airflow-dag-processor": "dag-processor",
    "airflow-triggerer": "triggerer",
}
ONE_SHOT = {"airflow-init", "emulators-init"}
SECRETS = config.StackSecrets(jwt_secret="jwt-secret", fernet_key="fernet-key=")

#: Where the compose stack differs from the no-Docker stack on purpose, and why.
CONTAINER_DIFFERENCES: dict[str, tuple[str | None, str]] = {
    "AIRFLOW_HOME": (None, "the official image's /opt/airflow (logs and config in the image layout)"),
    "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": (
        "postgresql+psycopg2://airflow:airflow@postgres/airflow",
        "the official layout's Postgres service instead of SQLite",
    ),
    "AIRFLOW__DATABASE__SQL_ALCHEMY_CONNECT_ARGS": (None, "SQLite's busy timeout; Postgres needs none"),
    "AIRFLOW__API__HOST": ("0.0.0.0", "listen on the container's interface; published on 127.0.0.1 only"),
    "AIRFLOW__API__BASE_URL": ("http://localhost:8080", "the URL a browser on the host uses"),
}
#: Set in compose only, and why.
COMPOSE_ONLY = {"AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "the scheduler's healthcheck endpoint (port 8974)"}


@pytest.fixture(scope="module")
def model() -> dict[str, Any]:
    """docker-compose.yaml as Compose sees it with the env file `make compose-env` writes."""
    return compose.load(COMPOSE_FILE, container_env.compose_env(SECRETS))


def test_compose_needs_only_what_the_env_file_provides() -> None:
    provided = set(container_env.compose_env(SECRETS))
    required = {name for name, op in compose.variables(COMPOSE_FILE).items() if op in (":?", "?", None)}
    optional = {name for name, op in compose.variables(COMPOSE_FILE).items() if op in (":-", "-")}
    assert required <= provided, required - provided
    assert optional <= set(config.PORT_ENV.values()) | {"AIRFLOW_UID"}
    with pytest.raises(compose.MissingVariable, match="make compose-env"):
        compose.load(COMPOSE_FILE, {})


def test_services_follow_the_official_airflow_3_layout(model: dict[str, Any]) -> None:
    services = model["services"]
    assert set(services) == {*AIRFLOW_SERVICES, *ONE_SHOT, "postgres", "gcs", "pubsub"}
    for name, command in AIRFLOW_SERVICES.items():
        assert services[name]["command"] == command
    assert not {"redis", "airflow-worker", "flower", "airflow-webserver"} & set(services)
    for name in [*AIRFLOW_SERVICES, "airflow-init"]:
        assert compose.environment(services[name])["AIRFLOW__CORE__EXECUTOR"] == "LocalExecutor"
        assert compose.environment(services[name])["AIRFLOW__CORE__LOAD_EXAMPLES"] == "False"


def test_long_running_services_have_healthchecks_and_start_in_order(model: dict[str, Any]) -> None:
    services = model["services"]
    for name, service in services.items():
        if name in ONE_SHOT:
            assert "healthcheck" not in service and "restart" not in service, name
            continue
        test = service["healthcheck"]["test"]
        assert test[0] in {"CMD", "CMD-SHELL"} and len(test) > 1, name
    for name in AIRFLOW_SERVICES:
        assert services[name]["depends_on"] == {
            "postgres": {"condition": "service_healthy"},
            "emulators-init": {"condition": "service_completed_successfully"},
            "airflow-init": {"condition": "service_completed_successfully"},
        }
    assert services["airflow-init"]["depends_on"]["postgres"] == {"condition": "service_healthy"}
    assert services["emulators-init"]["depends_on"] == {
        "gcs": {"condition": "service_healthy"},
        "pubsub": {"condition": "service_healthy"},
    }
    # Healthchecks of the Airflow components probe what the official file probes.
    assert "/api/v2/version" in " ".join(services["airflow-apiserver"]["healthcheck"]["test"])
    assert "localhost:8974/health" in " ".join(services["airflow-scheduler"]["healthcheck"]["test"])
    assert "DagProcessorJob" in services["airflow-dag-processor"]["healthcheck"]["test"][1]
    assert "TriggererJob" in services["airflow-triggerer"]["healthcheck"]["test"][1]


def test_dependencies_exist_and_have_no_cycle(model: dict[str, Any]) -> None:
    graph = {name: set(service.get("depends_on", {})) for name, service in model["services"].items()}
    for name, needs in graph.items():
        assert needs <= set(graph), (name, needs - set(graph))
    done: set[str] = set()
    while len(done) < len(graph):
        ready = {name for name, needs in graph.items() if name not in done and needs <= done}
        assert ready, f"dependency cycle among {set(graph) - done}"
        done |= ready


def test_airflow_image_is_the_project_dockerfile_at_the_locked_version(model: dict[str, Any]) -> None:
    for name in [*AIRFLOW_SERVICES, "airflow-init"]:
        service = model["services"][name]
        assert service["build"] == {"context": ".", "dockerfile": "Dockerfile"}
        assert service["image"] == f"fraud-mlops-airflow:{project.locked_version('apache-airflow')}"


def test_dockerfile_pins_the_project_versions() -> None:
    dockerfile = (REPO_ROOT / "Dockerfile").read_text()
    args = dict(re.findall(r"^ARG (\w+)=(\S+)$", dockerfile, flags=re.MULTILINE))
    assert args["AIRFLOW_VERSION"] == project.locked_version("apache-airflow")
    assert f">={args['PYTHON_VERSION']}" in project.pyproject()["requires-python"]
    assert args["UV_VERSION"] == project.makefile_uv_version()
    assert "FROM apache/airflow:${AIRFLOW_VERSION}-python${PYTHON_VERSION}" in dockerfile
    assert "uv export --frozen --no-dev" in dockerfile  # the lock, not a fresh resolution
    assert (
        'pip install --no-cache-dir "apache-airflow==${AIRFLOW_VERSION}" -r /requirements.lock.txt'
        in dockerfile
    )
    ignored = (REPO_ROOT / ".dockerignore").read_text().splitlines()
    assert {".local", ".venv", ".git", "infra/.build"} <= set(ignored)


def test_mounts_are_the_project_folders_at_the_paths_settings_resolve(model: dict[str, Any]) -> None:
    settings = container_env.container_settings(COMPOSE)
    expected = {
        "./dags": "/opt/airflow/dags",
        "./plugins": "/opt/airflow/plugins",
        "./include": "/opt/airflow/include",
        "./devtools": "/opt/airflow/devtools",  # the harness (pools, demo): in containers, never on Composer
        "mlops-data": str(settings.local_dir),
        "airflow-logs": "/opt/airflow/logs",
    }
    for name in [*AIRFLOW_SERVICES, "airflow-init"]:
        mounts = dict(volume.split(":")[:2] for volume in model["services"][name]["volumes"])
        assert mounts == expected, name
    for source in ("dags", "plugins", "include", "devtools"):
        assert (REPO_ROOT / source).is_dir()
    # fraud_mlops.paths finds include/ beside plugins/: /opt/airflow/include here.
    assert Path(expected["./plugins"]).parent / "include" == Path(expected["./include"])
    assert set(model["volumes"]) == {"postgres-db-volume", "mlops-data", "airflow-logs", "gcs-data"}


def test_airflow_environment_is_the_local_stack_environment(model: dict[str, Any]) -> None:
    expected = container_env.airflow_env(COMPOSE, SECRETS)
    for key, (value, _why) in CONTAINER_DIFFERENCES.items():
        assert key in expected, f"{key} no longer differs: drop it from CONTAINER_DIFFERENCES"
        if value is None:
            del expected[key]
        else:
            expected[key] = value
    for key in COMPOSE_ONLY:
        assert key not in expected
    connection_keys = {k for k in expected if k.startswith("AIRFLOW_CONN_")}
    assert connection_keys, "config.airflow_env gives no connections"

    for name in [*AIRFLOW_SERVICES, "airflow-init"]:
        actual = compose.environment(model["services"][name])
        assert set(actual) == set(expected) | set(COMPOSE_ONLY), name
        plain = {k: v for k, v in actual.items() if k not in connection_keys and k not in COMPOSE_ONLY}
        assert plain == {k: v for k, v in expected.items() if k not in connection_keys}, name
        for key in connection_keys:
            assert json.loads(actual[key]) == json.loads(expected[key]), (name, key)


def test_connections_point_at_the_container_paths_and_secrets(model: dict[str, Any]) -> None:
    env = compose.environment(model["services"]["airflow-scheduler"])
    settings = container_env.container_settings(COMPOSE)
    warehouse = json.loads(env[f"AIRFLOW_CONN_{settings.warehouse_conn_id.upper()}"])
    assert (
        warehouse["host"] == str(settings.warehouse_path) == "/opt/airflow/.local/warehouse/warehouse.duckdb"
    )
    assert not [name for name in env if "PSEUDONYM" in name]  # no key: the keyset is under .local/kms
    google = json.loads(env[f"AIRFLOW_CONN_{settings.gcp_conn_id.upper()}"])
    assert google["extra"] == {"is_anonymous": True, "project": settings.project}
    assert env["STORAGE_EMULATOR_HOST"].startswith("http://")  # the sync client needs the scheme


def test_ports_are_published_on_loopback_under_the_stack_port_variables() -> None:
    raw = compose.load(COMPOSE_FILE)["services"]
    expected = {
        "airflow-apiserver": ("MLOPS_AIRFLOW_PORT", CONTAINER_PORTS.airflow),
        "gcs": ("MLOPS_GCS_PORT", CONTAINER_PORTS.gcs),
        "pubsub": ("MLOPS_PUBSUB_PORT", CONTAINER_PORTS.pubsub),
    }
    published = {name: service["ports"] for name, service in raw.items() if service.get("ports")}
    assert set(published) == set(expected)
    for name, (variable, port) in expected.items():
        assert variable == config.PORT_ENV[{"airflow-apiserver": "airflow"}.get(name, name)]
        assert published[name] == [f"127.0.0.1:${{{variable}:-{port}}}:{port}"]


def test_emulator_hosts_are_the_emulator_services(model: dict[str, Any]) -> None:
    env = compose.environment(model["services"]["airflow-scheduler"])
    gcs = model["services"]["gcs"]
    assert env["STORAGE_EMULATOR_HOST"] == f"http://gcs:{CONTAINER_PORTS.gcs}"
    assert f"-port={CONTAINER_PORTS.gcs}" in gcs["command"]
    assert env["PUBSUB_EMULATOR_HOST"] == f"pubsub:{CONTAINER_PORTS.pubsub}"
    assert f"--host-port=0.0.0.0:{CONTAINER_PORTS.pubsub}" in model["services"]["pubsub"]["command"]
    assert compose.environment(gcs)["PUBSUB_EMULATOR_HOST"] == env["PUBSUB_EMULATOR_HOST"]


def test_gcs_emulator_announces_landed_files_like_the_bucket_notification(model: dict[str, Any]) -> None:
    settings = container_env.container_settings(COMPOSE)
    flags = dict(flag.lstrip("-").split("=", 1) for flag in model["services"]["gcs"]["command"])
    assert flags["event.pubsub-project-id"] == settings.project
    assert flags["event.pubsub-topic"] == settings_module.LANDING_TOPIC
    assert flags["event.bucket"] == settings.landing_bucket
    assert flags["event.object-prefix"] == settings.landing_prefix
    assert flags["event.list"] == "finalize"  # OBJECT_FINALIZE, as in infra/modules/pubsub
    assert f"--project={settings.project}" in model["services"]["pubsub"]["command"]
    # ...so the project's landing command publishes none of its own (one notification per file).
    env = compose.environment(model["services"]["airflow-scheduler"])
    assert settings_from_env(env).storage_notifies


def test_emulator_init_creates_what_the_local_target_uses(model: dict[str, Any]) -> None:
    settings = container_env.container_settings(COMPOSE)
    init = model["services"]["emulators-init"]
    env = compose.environment(init)
    assert env["GCP_PROJECT"] == settings.project
    assert set(env["BUCKETS"].split()) == {settings.landing_bucket, settings.quarantine_bucket}
    assert (env["TOPIC"], env["SUBSCRIPTION"]) == (
        settings_module.LANDING_TOPIC,
        settings_module.LANDING_SUBSCRIPTION,
    )
    assert env["GCS_URL"] == f"http://gcs:{CONTAINER_PORTS.gcs}"
    assert env["PUBSUB_URL"] == f"http://pubsub:{CONTAINER_PORTS.pubsub}"
    assert init["volumes"] == ["./infra/local/init-emulators.sh:/init-emulators.sh:ro"]
    assert (REPO_ROOT / "infra" / "local" / "init-emulators.sh").is_file()


def test_airflow_init_creates_the_pseudonym_keyset_in_the_data_volume(
    model: dict[str, Any], tmp_path: Path
) -> None:
    """The staging SQL and the function read the keyset under the data folder: without this
    step the stack's first ingestion failed (`the local pseudonym keyset is missing`). It runs
    before the volume is handed to the Airflow user, so that user can read the private files."""
    script = model["services"]["airflow-init"]["command"][1]
    lines = [line.strip() for line in script.splitlines()]
    keys = lines.index(f"/entrypoint {KEYS_COMMAND}")
    chown = next(i for i, line in enumerate(lines) if line.startswith("chown -R"))
    assert keys < chown and "/opt/airflow/.local" in lines[chown]
    env = compose.environment(model["services"]["airflow-init"])
    assert env["MLOPS_LOCAL_DIR"] == str(container_env.container_settings(COMPOSE).local_dir)
    assert sorted(run_keys_command(tmp_path / "volume")) == ["pseudonym-kek.json", "pseudonym_keyset.wrapped"]


def test_airflow_init_migrates_and_creates_the_stack_pools(model: dict[str, Any]) -> None:
    script = model["services"]["airflow-init"]["command"][1]
    assert model["services"]["airflow-init"]["command"][0] == "-c"
    assert "/entrypoint airflow db migrate" in script
    checked = subprocess.run(["bash", "-n", "-c", script], capture_output=True, text=True, check=False)
    assert checked.returncode == 0, checked.stderr
    python = re.search(r"python -c '(.*?)'", script, flags=re.DOTALL)
    assert python, script
    code = compile(python.group(1), "airflow-init", "exec")
    assert "POOLS" in code.co_names and "create_or_update_pool" in code.co_names
    assert "devtools.stack.config" in python.group(1)


def _wait_for(url: str, process: subprocess.Popen[bytes], seconds: float = 120) -> None:
    import time
    import urllib.request

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert process.poll() is None, "the Pub/Sub emulator exited"
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.5)
    pytest.fail(f"{url} did not answer")


@pytest.mark.slow
def test_init_script_creates_buckets_topic_and_subscription(
    gcs_client: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Run infra/local/init-emulators.sh (twice: idempotent) against the emulators of this machine."""
    gcloud = shutil.which("gcloud")
    assert gcloud, "the gcloud CLI (with the Pub/Sub emulator) is part of this machine image"
    port = config.free_port()
    emulator = subprocess.Popen(
        [gcloud, "beta", "emulators", "pubsub", "start", f"--host-port=127.0.0.1:{port}",
         f"--data-dir={tmp_path}", "--quiet"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    try:
        _wait_for(f"http://127.0.0.1:{port}", emulator)
        init = compose.environment(
            compose.load(COMPOSE_FILE, container_env.compose_env(SECRETS))["services"]["emulators-init"]
        )
        env = {
            **init,
            "PATH": os.environ["PATH"],
            "GCS_URL": os.environ["STORAGE_EMULATOR_HOST"],
            "PUBSUB_URL": f"http://127.0.0.1:{port}",
        }
        for _ in range(2):
            done = subprocess.run(
                ["sh", str(REPO_ROOT / "infra" / "local" / "init-emulators.sh")],
                env=env, capture_output=True, text=True, check=False,
            )  # fmt: skip
            assert done.returncode == 0, done.stderr + done.stdout
        assert "exists:" in done.stdout

        assert {b.name for b in gcs_client.list_buckets()} == set(init["BUCKETS"].split())
        from google.cloud.pubsub_v1 import SubscriberClient

        monkeypatch.setenv("PUBSUB_EMULATOR_HOST", f"127.0.0.1:{port}")
        subscriber = SubscriberClient()
        subscription = subscriber.get_subscription(
            subscription=f"projects/{init['GCP_PROJECT']}/subscriptions/{init['SUBSCRIPTION']}"
        )
        subscriber.close()
        assert subscription.topic == f"projects/{init['GCP_PROJECT']}/topics/{init['TOPIC']}"
        assert subscription.ack_deadline_seconds == 60
    finally:
        os.killpg(emulator.pid, 15)
        emulator.wait(timeout=30)


def test_env_files_carry_the_stack_secrets_literally_and_privately(tmp_path: Path) -> None:
    secrets = config.load_or_create_secrets(tmp_path)  # the no-Docker stack's secrets file
    assert config.load_or_create_secrets(tmp_path) == secrets
    path = container_env.write_env_file(tmp_path / "compose.env", container_env.compose_env(secrets))
    assert path.stat().st_mode & 0o777 == 0o600
    lines = dict(line.split("=", 1) for line in path.read_text().splitlines())
    assert not [name for name in lines if "PSEUDONYM" in name]
    assert (tmp_path / "kms" / "pseudonym_keyset.wrapped").is_file()  # the local KMS stand-in's
    assert lines["AIRFLOW_FERNET_KEY"] == f"'{secrets.fernet_key}'"
    with pytest.raises(ValueError, match="single quotes"):
        container_env.write_env_file(tmp_path / "bad.env", {"X": "it's"})
