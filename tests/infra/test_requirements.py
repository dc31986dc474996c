"""requirements.txt in Composer's meaning: what goes on top of the image, pinned to the lock."""

from __future__ import annotations

import re
import tomllib

from fraud_mlops.settings import REPO_ROOT

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


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def requirements() -> dict[str, str]:
    pins = {}
    for raw in (REPO_ROOT / "requirements.txt").read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        name, _, version = line.partition("==")
        assert version, f"{line!r}: pin every requirement with =="
        pins[_normalise(name)] = version
    return pins


def test_requirements_are_pinned_to_the_locked_versions() -> None:
    lock = tomllib.loads((REPO_ROOT / "uv.lock").read_text())
    locked = {_normalise(p["name"]): p["version"] for p in lock["package"]}
    pins = requirements()
    assert pins
    assert {name: locked.get(name) for name in pins} == pins


def test_requirements_leave_the_image_packages_alone() -> None:
    assert not set(requirements()) & IMAGE_OWNED
    assert not set(requirements()) & LOCAL_ONLY


def test_requirements_are_direct_dependencies_of_the_project() -> None:
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    direct = {_normalise(re.split(r"[=<>!~\[; ]", dep, maxsplit=1)[0]) for dep in project["dependencies"]}
    assert set(requirements()) <= direct, set(requirements()) - direct
