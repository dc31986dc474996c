"""requirements.txt in Composer's meaning: what goes on top of the image, pinned to the lock."""

from __future__ import annotations

import re

from scripts.deploy_composer import read_requirements

from . import project

#: Provided (and pinned) by the Composer image; installing them over it breaks the environment.
IMAGE_OWNED = {
    "apache-airflow",
    "apache-airflow-core",
    "apache-airflow-task-sdk",
    "apache-airflow-providers-google",
}
#: Stand-ins of the local target: meaningless on Composer.
LOCAL_ONLY = {
    *("duckdb", "apache-airflow-providers-duckdb", "gcp-storage-emulator"),
    *("functions-framework", "gunicorn"),
}


def requirements() -> dict[str, str]:
    """Normalised name -> version, as the deploy reads the file (it refuses unpinned lines)."""
    return {project.normalise(name): pin.removeprefix("==") for name, pin in read_requirements().items()}


def test_requirements_are_pinned_to_the_locked_versions() -> None:
    pins = requirements()
    assert pins
    assert {name: project.locked_versions().get(name) for name in pins} == pins


def test_requirements_leave_the_image_packages_alone() -> None:
    assert not set(requirements()) & IMAGE_OWNED
    assert not set(requirements()) & LOCAL_ONLY


def test_requirements_are_direct_dependencies_of_the_project() -> None:
    dependencies = project.pyproject()["dependencies"]
    direct = {project.normalise(re.split(r"[=<>!~\[; ]", dep, maxsplit=1)[0]) for dep in dependencies}
    assert set(requirements()) <= direct, set(requirements()) - direct
