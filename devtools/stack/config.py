"""What the local stack is made of: ports, connections, pools and the Airflow environment.

Pure functions, no processes: the stack runner (:mod:`.stack`), the tests and the
docker-compose / Astro consistency checks all read the same definitions from here.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

from fraud_mlops.settings import REPO_ROOT, Settings

HOST = "127.0.0.1"  # every local service binds to loopback only

PORT_ENV = {
    "airflow": "MLOPS_AIRFLOW_PORT",
    "gcs": "MLOPS_GCS_PORT",
    "pubsub": "MLOPS_PUBSUB_PORT",
    "function": "MLOPS_FUNCTION_PORT",
    "worker_log": "MLOPS_WORKER_LOG_PORT",
    "trigger_log": "MLOPS_TRIGGER_LOG_PORT",
}

POOLS: dict[str, tuple[int, str]] = {
    "warehouse": (1, "DuckDB allows one writer: local warehouse tasks run one at a time"),
}


@dataclass(frozen=True)
class StackPorts:
    airflow: int
    gcs: int
    pubsub: int
    function: int
    worker_log: int
    trigger_log: int

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def choose_ports(env: dict[str, str] | None = None) -> StackPorts:
    """Ports from ``MLOPS_*_PORT`` where set, else free ones (8080/8793 may be taken)."""
    env = dict(os.environ if env is None else env)
    chosen: dict[str, int] = {}
    for name, var in PORT_ENV.items():
        chosen[name] = int(env[var]) if env.get(var) else free_port()
    return StackPorts(**chosen)


@dataclass(frozen=True)
class StackSecrets:
    """Per-machine secrets of the local stack, created once under the local folder.

    The pseudonym key is not among them: it lives in the local stand-in of Cloud KMS
    (``<local dir>/kms``, :func:`fraud_mlops.pseudonym.ensure_local_keys`), created with these.
    """

    jwt_secret: str
    fernet_key: str


def pseudonymiser(local_dir: Path) -> Callable[[str], str]:
    """The card pseudonym function the ingestion SQL used (the local KMS stand-in's keyset).

    Never creates a keyset: one that did not pseudonymise the stored cards would find none of them.
    """
    from fraud_mlops import targets
    from fraud_mlops.settings import get_settings

    settings = get_settings()
    if settings.local_dir != local_dir.resolve():
        settings = replace(settings, local_dir=local_dir.resolve())
    try:
        return targets.pseudonymiser(settings)
    except FileNotFoundError as missing:
        raise RuntimeError(f"{missing}: start the local stack once (it creates the keyset)") from None


def load_or_create_secrets(local_dir: Path) -> StackSecrets:
    from fraud_mlops.pseudonym import ensure_local_keys

    ensure_local_keys(local_dir)  # the local "Cloud KMS" and the wrapped pseudonym keyset
    path = local_dir / "secrets.json"
    if path.exists():
        known = {f.name for f in fields(StackSecrets)}  # files from before the keyset dropped the key
        return StackSecrets(**{k: v for k, v in json.loads(path.read_text()).items() if k in known})
    from cryptography.fernet import Fernet

    created = StackSecrets(
        jwt_secret=secrets.token_hex(32),
        fernet_key=Fernet.generate_key().decode(),
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(asdict(created)))
    path.chmod(0o600)
    return created


def connections(settings: Settings, ports: StackPorts, stack_secrets: StackSecrets) -> dict[str, dict]:
    """Airflow connections of the local target (given to Airflow as ``AIRFLOW_CONN_*``)."""
    return {
        settings.gcp_conn_id: {
            "conn_type": "google_cloud_platform",
            # Anonymous credentials + STORAGE_EMULATOR_HOST: the provider's own GCS hook and
            # sensors talk to the emulator unchanged.
            "extra": {"is_anonymous": True, "project": settings.project},
        },
        settings.warehouse_conn_id: {
            "conn_type": "duckdb",
            "host": str(settings.warehouse_path),
            "extra": {"threads": 2, "memory_limit": "4GB", "snapshot_dir": str(settings.snapshot_dir)},
        },
    }


def service_env(settings: Settings, ports: StackPorts) -> dict[str, str]:
    """Environment every local process needs to reach the stand-ins."""
    return {
        "MLOPS_TARGET": "local",
        "MLOPS_LOCAL_DIR": str(settings.local_dir),
        "GCP_PROJECT": settings.project,
        "STORAGE_EMULATOR_HOST": f"http://{HOST}:{ports.gcs}",  # the scheme is required
        "PUBSUB_EMULATOR_HOST": f"{HOST}:{ports.pubsub}",
        "MLOPS_FUNCTION_PORT": str(ports.function),
        "PYTHONPATH": os.pathsep.join([str(REPO_ROOT / "plugins"), str(REPO_ROOT)]),
    }


def airflow_env(
    settings: Settings, ports: StackPorts, stack_secrets: StackSecrets, parallelism: int = 4
) -> dict[str, str]:
    """Environment of the Airflow processes (api-server, scheduler, dag-processor, triggerer)."""
    home = settings.local_dir / "airflow"
    env = service_env(settings, ports)
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(REPO_ROOT / "dags"),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO_ROOT / "plugins"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__PARALLELISM": str(parallelism),
            "AIRFLOW__CORE__FERNET_KEY": stack_secrets.fernet_key,
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",  # loopback only
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://{HOST}:{ports.airflow}/execution/",
            "AIRFLOW__API__HOST": HOST,
            "AIRFLOW__API__PORT": str(ports.airflow),
            "AIRFLOW__API__BASE_URL": f"http://{HOST}:{ports.airflow}",
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__API_AUTH__JWT_SECRET": stack_secrets.jwt_secret,
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONNECT_ARGS": "devtools.stack.sqlite.CONNECT_ARGS",
            "AIRFLOW__WORKERS__EXECUTION_API_TIMEOUT": "30",
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(ports.worker_log),
            "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(ports.trigger_log),
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "30",
            "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "30",
            "AIRFLOW__TRIGGERER__CAPACITY": "50",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
        }
    )
    for conn_id, conn in connections(settings, ports, stack_secrets).items():
        env[f"AIRFLOW_CONN_{conn_id.upper()}"] = json.dumps(conn)
    return env
