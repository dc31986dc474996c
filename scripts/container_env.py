"""The local target's environment inside containers (docker-compose, Astro), from one definition.

``devtools.stack.config`` describes the no-Docker stack: processes on 127.0.0.1,
the repository at its checkout path. In containers the same settings hold with other paths
and hosts: the project lives at the image's Airflow home and the emulators are services on
the compose network. :func:`to_container` is that translation; the one setting that differs
is :data:`STORAGE_EMULATOR_ENV` (the containers' fake-gcs-server publishes notifications).

``python -m scripts.container_env compose`` writes ``.local/compose.env`` (the per-machine
secrets docker-compose.yaml interpolates); ``... astro`` writes ``.local/astro.env`` (the
whole project environment for ``astro dev start --env``). Both reuse the Airflow secrets the
no-Docker stack created under ``.local/`` (Fernet key, JWT secret). The pseudonym keyset is not
among them: the host's stays in the host's data folder, and each container stack makes its own
(``python -m devtools.stack keys``: compose's ``airflow-init`` in the data volume, the Astro build
in the image, whose layers then hold this local stand-in key: keep such an image local).
"""

from __future__ import annotations

import argparse
import json
import os
from dataclasses import dataclass
from pathlib import Path

from devtools.stack import config
from fraud_mlops.settings import REPO_ROOT, Settings, get_settings, settings_from_env

#: Fixed ports inside containers (the host side is chosen in the compose file).
CONTAINER_PORTS = config.StackPorts(
    airflow=8080, gcs=4443, pubsub=8085, function=8090, worker_log=8793, trigger_log=8794
)
GCS_SERVICE = "gcs"
PUBSUB_SERVICE = "pubsub"


@dataclass(frozen=True)
class ContainerLayout:
    name: str
    root: str  # where the image puts dags/, plugins/, include/ (the project root)
    api_service: str  # service name of the Airflow API server


COMPOSE = ContainerLayout("compose", "/opt/airflow", "airflow-apiserver")
ASTRO = ContainerLayout("astro", "/usr/local/airflow", "api-server")


def container_settings(layout: ContainerLayout) -> Settings:
    return settings_from_env({"MLOPS_TARGET": "local", "MLOPS_LOCAL_DIR": f"{layout.root}/.local"})


def to_container(value: str, layout: ContainerLayout) -> str:
    """Rewrite a value of the no-Docker stack for the containers: paths, then hosts."""
    ports = CONTAINER_PORTS
    value = value.replace(str(REPO_ROOT), layout.root)
    value = value.replace(f"http://{config.HOST}:{ports.gcs}", f"http://{GCS_SERVICE}:{ports.gcs}")
    value = value.replace(f"{config.HOST}:{ports.pubsub}", f"{PUBSUB_SERVICE}:{ports.pubsub}")
    return value.replace(
        f"http://{config.HOST}:{ports.airflow}/execution/",
        f"http://{layout.api_service}:{ports.airflow}/execution/",
    )


#: What the containers' storage emulator adds: fake-gcs-server publishes each landing's
#: OBJECT_FINALIZE notification itself (its ``-event.*`` flags), as Cloud Storage does, so the
#: project's landing command must not publish a second one.
STORAGE_EMULATOR_ENV = {"MLOPS_STORAGE_NOTIFIES": "true"}


def _in_containers(raw: dict[str, str], layout: ContainerLayout) -> dict[str, str]:
    return {**{key: to_container(value, layout) for key, value in raw.items()}, **STORAGE_EMULATOR_ENV}


def service_env(layout: ContainerLayout) -> dict[str, str]:
    """What every process of the project needs (config.service_env), inside the containers."""
    return _in_containers(config.service_env(container_settings(layout), CONTAINER_PORTS), layout)


def airflow_env(layout: ContainerLayout, secrets: config.StackSecrets) -> dict[str, str]:
    """The Airflow processes' environment (config.airflow_env), inside the containers."""
    return _in_containers(config.airflow_env(container_settings(layout), CONTAINER_PORTS, secrets), layout)


def connections(layout: ContainerLayout, secrets: config.StackSecrets) -> dict[str, dict]:
    raw = config.connections(container_settings(layout), CONTAINER_PORTS, secrets)
    return {conn_id: json.loads(to_container(json.dumps(conn), layout)) for conn_id, conn in raw.items()}


def compose_env(secrets: config.StackSecrets) -> dict[str, str]:
    """Variables docker-compose.yaml interpolates: the secrets, and the host user's uid."""
    return {
        "AIRFLOW_UID": str(os.getuid()),
        "AIRFLOW_FERNET_KEY": secrets.fernet_key,
        "AIRFLOW_JWT_SECRET": secrets.jwt_secret,
    }


def astro_env(secrets: config.StackSecrets) -> dict[str, str]:
    """Environment of the Astro containers: the project's settings.

    The other connections and the pool come from airflow_settings.yaml; Airflow's own
    configuration (executor, database, API) is the Astro CLI's.
    """
    return {
        **service_env(ASTRO),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    }


def write_env_file(path: Path, values: dict[str, str]) -> Path:
    """KEY='value' lines, private to the user (they carry secrets).

    Single quotes make Compose's dotenv parser take the value literally: no ``$``
    interpolation, no ``#`` comments, JSON kept as it is.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = []
    for key, value in sorted(values.items()):
        if "\n" in value or "'" in value:
            raise ValueError(f"{key}: env files cannot hold newlines or single quotes")
        lines.append(f"{key}='{value}'")
    path.write_text("\n".join(lines) + "\n")
    path.chmod(0o600)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.container_env", description=__doc__)
    parser.add_argument("target", choices=["compose", "astro"])
    args = parser.parse_args(argv)
    local_dir = get_settings().local_dir
    secrets = config.load_or_create_secrets(local_dir)
    values = compose_env(secrets) if args.target == "compose" else astro_env(secrets)
    print(write_env_file(local_dir / f"{args.target}.env", values))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
