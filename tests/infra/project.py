"""The project's own version pins, read from where they are decided: uv.lock, pyproject, Makefile."""

from __future__ import annotations

import re
import tomllib
from functools import cache

from fraud_mlops.settings import REPO_ROOT


def normalise(name: str) -> str:
    """PEP 503 name normalisation (Faker == faker, a_b == a-b)."""
    return re.sub(r"[-_.]+", "-", name).lower()


@cache
def locked_versions() -> dict[str, str]:
    lock = tomllib.loads((REPO_ROOT / "uv.lock").read_text())
    return {normalise(p["name"]): str(p["version"]) for p in lock["package"]}


def locked_version(package: str) -> str:
    return locked_versions()[normalise(package)]


def pyproject() -> dict:
    return dict(tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"])


def makefile_uv_version() -> str:
    match = re.search(r"^UV_VERSION := (\S+)$", (REPO_ROOT / "Makefile").read_text(), flags=re.MULTILINE)
    assert match, "UV_VERSION is no longer set in the Makefile"
    return match.group(1)
