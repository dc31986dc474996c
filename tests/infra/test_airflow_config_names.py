"""Every Airflow option the project sets names an option the locked Airflow reads.

Airflow ignores an unknown ``AIRFLOW__SECTION__KEY`` without a word, and options move between
sections across versions: ``[scheduler] min_file_process_interval`` became
``[dag_processor] min_file_process_interval`` in Airflow 3 with no fallback, and
``[scheduler] standalone_dag_processor`` is gone (the DAG processor always runs on its own).
A setting under an old name silently keeps the default. The names are checked against the
installed Airflow's own configuration description (core and providers), for every place that
sets one: the no-Docker stack, docker-compose.yaml, the Astro environment and Composer's
``airflow_config_overrides``.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import pytest

from devtools.stack import config
from fraud_mlops.settings import REPO_ROOT, settings_from_env
from scripts import container_env

from . import compose, iac

SECRETS = config.StackSecrets(jwt_secret="jwt", fernet_key="fernet=")
PORTS = config.StackPorts(
    airflow=18080, gcs=14443, pubsub=18085, function=18090, worker_log=18793, trigger_log=18794
)


@cache
def known_options() -> frozenset[tuple[str, str]]:
    from airflow.configuration import retrieve_configuration_description

    described = retrieve_configuration_description(include_providers=True)
    return frozenset((section, option) for section, body in described.items() for option in body["options"])


def env_options(env: dict[str, str]) -> set[tuple[str, str]]:
    """``AIRFLOW__SECTION__KEY`` names as (section, key), as Airflow reads them (lower case)."""
    options = set()
    for name in env:
        if name.startswith("AIRFLOW__"):
            section, _, key = name.removeprefix("AIRFLOW__").partition("__")
            options.add((section.lower(), key.lower()))
    return options


def composer_options() -> set[tuple[str, str]]:
    """Composer's ``airflow_config_overrides`` keys (``section-key``) as (section, key)."""
    (composer,) = [r for r in iac.resources() if r.type == "google_composer_environment"]
    overrides = composer.body["config"][0]["software_config"][0]["airflow_config_overrides"]
    return {tuple(key.split("-", 1)) for key in overrides}  # type: ignore[misc]


def compose_options(path: Path) -> set[tuple[str, str]]:
    options = set()
    for service in compose.load(path, container_env.compose_env(SECRETS))["services"].values():
        options |= env_options(compose.environment(service))
    return options


SOURCES = {
    "no-Docker stack": lambda: env_options(
        config.airflow_env(settings_from_env({"MLOPS_LOCAL_DIR": "/tmp/mlops"}), PORTS, SECRETS)
    ),
    "docker-compose.yaml": lambda: compose_options(REPO_ROOT / "docker-compose.yaml"),
    "Astro environment": lambda: env_options(container_env.astro_env(SECRETS)),
    "Composer overrides": composer_options,
}


@pytest.mark.parametrize("source", SOURCES)
def test_every_airflow_option_set_is_one_airflow_reads(source: str) -> None:
    options = SOURCES[source]()
    assert options, f"{source} sets no Airflow option: the collection is broken"
    assert sorted(options - known_options()) == []


def test_an_option_under_its_pre_airflow_3_section_is_caught() -> None:
    """The check itself: the names this project once set, and Airflow 3 ignores."""
    stale = env_options(
        {
            "AIRFLOW__SCHEDULER__MIN_FILE_PROCESS_INTERVAL": "30",
            "AIRFLOW__SCHEDULER__STANDALONE_DAG_PROCESSOR": "True",
        }
    )
    assert stale and not stale & known_options()
    assert ("dag_processor", "min_file_process_interval") in known_options()
