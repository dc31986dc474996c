"""The prediction function's requirements.txt: every package Cloud Functions installs, at uv.lock's version.

Cloud Functions installs the file with pip on every deploy. Top-level pins alone would let the
transitive packages (grpcio, protobuf, google-api-core, …) take whatever is newest that day, so
the file lists the whole closure and this test keeps it exact: pinned, equal to the lock, and
closed under the lock's dependencies for the function's platform (python311 on Linux).
"""

from __future__ import annotations

import re
import tomllib

from packaging.markers import Marker

from . import project

REQUIREMENTS = project.REPO_ROOT / "functions" / "predict" / "requirements.txt"
#: The Cloud Functions runtime (infra/modules/prediction_function: runtime = "python311").
PLATFORM = {
    "python_version": "3.11", "python_full_version": "3.11.0", "sys_platform": "linux",
    "platform_system": "Linux", "platform_machine": "x86_64", "os_name": "posix",
    "implementation_name": "cpython", "platform_python_implementation": "CPython", "extra": "",
}  # fmt: skip


def pins() -> dict[str, str]:
    lines = [line.strip() for line in REQUIREMENTS.read_text().splitlines()]
    found = {}
    for line in (x for x in lines if x and not x.startswith("#")):
        match = re.fullmatch(r"([A-Za-z0-9_.-]+)==([^\s;]+)", line)
        assert match, f"not a plain pin: {line!r}"
        found[project.normalise(match.group(1))] = match.group(2)
    return found


def _needs() -> dict[str, set[str]]:
    """Package → what it needs on the function's platform, from uv.lock (extras followed)."""
    lock = tomllib.loads((project.REPO_ROOT / "uv.lock").read_text())
    packages = {project.normalise(p["name"]): p for p in lock["package"]}

    def deps(entries: list[dict]) -> set[tuple[str, tuple[str, ...]]]:
        return {
            (project.normalise(d["name"]), tuple(d.get("extra", ())))
            for d in entries
            if "marker" not in d or Marker(d["marker"]).evaluate(PLATFORM)
        }

    needs: dict[str, set[str]] = {}
    for name, package in packages.items():
        todo, seen = list(deps(package.get("dependencies", []))), set()
        while todo:
            dep, extras = todo.pop()
            if (dep, extras) in seen:
                continue
            seen.add((dep, extras))
            for extra in extras:
                todo += deps(packages[dep].get("optional-dependencies", {}).get(extra, []))
        needs[name] = {dep for dep, _ in seen}
    return needs


def test_every_package_is_pinned_to_the_locked_version() -> None:
    listed = pins()
    assert {"functions-framework", "google-cloud-aiplatform", "google-cloud-kms", "tink"} <= set(listed)
    assert {name: project.locked_versions().get(name) for name in listed} == listed


def test_the_list_is_closed_so_nothing_floats_at_deploy() -> None:
    listed, needs = set(pins()), _needs()
    missing = {f"{name} needs {dep}" for name in listed for dep in needs[name] if dep not in listed}
    assert not missing, sorted(missing)


def test_the_closure_check_can_fail() -> None:
    needs = _needs()
    assert {"grpcio", "protobuf"} <= needs["google-cloud-kms"] | needs["google-api-core"]
    assert "gunicorn" in needs["functions-framework"]  # its marker excludes only win32
