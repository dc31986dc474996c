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


def _locked_dependencies() -> dict[str, set[str]]:
    """Package → the packages it depends on, from uv.lock."""
    import tomllib

    lock = tomllib.loads((project.REPO_ROOT / "uv.lock").read_text())
    return {
        project.normalise(pkg["name"]): {project.normalise(d["name"]) for d in pkg.get("dependencies", [])}
        for pkg in lock["package"]
    }


def test_requirements_are_the_projects_dependencies_or_what_they_need() -> None:
    """Each line is a direct dependency of the project, or (Composer installs the file as it is)
    a locked dependency of such a line that the image lacks (e.g. Evidently's)."""
    dependencies = project.pyproject()["dependencies"]
    direct = {project.normalise(re.split(r"[=<>!~\[; ]", dep, maxsplit=1)[0]) for dep in dependencies}
    listed_direct = set(requirements()) & direct
    needs = _locked_dependencies()
    closure, todo = set(listed_direct), list(listed_direct)
    while todo:
        for dep in needs.get(todo.pop(), set()) - closure:
            closure.add(dep)
            todo.append(dep)
    assert set(requirements()) <= closure, set(requirements()) - closure
