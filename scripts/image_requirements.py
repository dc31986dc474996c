"""The container images' full requirement lists, generated from uv.lock.

Each image's ``images/<image>/requirements.txt`` names the packages it needs (the human-edited
top-level pins). pip would resolve their dependencies (protobuf, grpcio, google-api-core, ...)
afresh on every build, to whatever is newest that day; this script instead walks uv.lock's
dependency graph from those pins, for the images' interpreter (CPython 3.11 on Linux x86_64,
``python:3.11-slim``), and writes the whole closure, every package at uv.lock's version, to
``images/<image>/requirements.lock.txt``, each package with the SHA-256 of every file uv.lock
records for it. The Dockerfiles install that file with ``pip install --no-deps --require-hashes``:
an image holds the versions the local venv and the tests ran, and pip refuses a file whose bytes
are not the ones uv.lock (and so ``make install``) took from PyPI.

``python -m scripts.image_requirements`` (``make image-requirements``) writes the lock files;
``--check`` fails when a committed one differs from uv.lock and the top-level pins. Offline
and deterministic: it reads only uv.lock and the images' requirements.txt.
"""

from __future__ import annotations

import argparse
import difflib
import sys
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from fraud_mlops.settings import REPO_ROOT
from scripts.image_digests import FOLDERS

#: The images' folders under ``images/`` (one list of the images: ``fraud_mlops.registry.images``).
IMAGES: tuple[str, ...] = tuple(sorted(FOLDERS.values()))
IMAGES_DIR = REPO_ROOT / "images"
UV_LOCK = REPO_ROOT / "uv.lock"
TOP_LEVEL = "requirements.txt"
LOCKED = "requirements.lock.txt"
COMMAND = "python -m scripts.image_requirements"
MAKE_TARGET = "make image-requirements"

#: The images' interpreter for marker evaluation: python:3.11-slim (Debian, glibc) on the x86_64
#: machines Vertex AI runs. The base image's patch release is not pinned, so a marker is
#: evaluated at both ends of 3.11 and must agree (:func:`_applies`).
TARGET_ENVIRONMENT: dict[str, str] = {
    "implementation_name": "cpython",
    "os_name": "posix",
    "platform_machine": "x86_64",
    "platform_python_implementation": "CPython",
    "platform_release": "",
    "platform_system": "Linux",
    "platform_version": "",
    "python_version": "3.11",
    "sys_platform": "linux",
}
PATCH_RELEASES = ("3.11.0", "3.11.99")

#: Packages an image installs at uv.lock's version without their dependencies: the training
#: image's KFP executor (``kfp.dsl.executor_main``), installed ``--no-deps`` as KFP's own
#: component prelude installs it (kfp-server-api, kubernetes, ... are never imported there).
UNFOLLOWED: dict[str, tuple[str, ...]] = {"training": ("kfp",)}


class LockError(RuntimeError):
    """uv.lock cannot give an image's closure (a pin it lacks, an ambiguous package, ...)."""


Package = dict[str, Any]  # one [[package]] table of uv.lock


def read_lock(path: Path = UV_LOCK) -> dict[str, list[Package]]:
    """uv.lock's packages by name; a name has several entries when the lock forks by marker."""
    packages: dict[str, list[Package]] = {}
    for package in tomllib.loads(path.read_text())["package"]:
        packages.setdefault(canonicalize_name(package["name"]), []).append(package)
    return packages


def read_top_level(path: Path) -> list[Requirement]:
    """The requirements of a requirements.txt (comments and blank lines skipped)."""
    lines = (line.split("#", 1)[0].strip() for line in path.read_text().splitlines())
    return [Requirement(line) for line in lines if line]


def _applies(marker: str | None, where: str) -> bool:
    """Whether a dependency's marker holds in the image (the same on every 3.11 patch release)."""
    if not marker:
        return True
    results = {
        Marker(marker).evaluate(
            {**TARGET_ENVIRONMENT, "python_full_version": full, "implementation_version": full}
        )
        for full in PATCH_RELEASES
    }
    if len(results) > 1:
        raise LockError(
            f"{where}: the marker {marker!r} depends on Python's patch release; "
            "pin PYTHON_VERSION in the images' Dockerfiles and in this script"
        )
    return results.pop()


def _select(lock: Mapping[str, list[Package]], dependency: Package, where: str) -> Package:
    """The locked package a dependency entry names (uv adds version and source when forked)."""
    candidates = lock.get(canonicalize_name(dependency["name"]), [])
    for key in ("version", "source"):
        if key in dependency:
            candidates = [c for c in candidates if c.get(key) == dependency[key]]
    if len(candidates) != 1:
        found = sorted(c.get("version", "?") for c in candidates)
        raise LockError(f"{where}: uv.lock has {found or 'no'} version(s) of {dependency['name']}, need one")
    return candidates[0]


def closure(
    lock: Mapping[str, list[Package]], requirements: list[Requirement], where: str = "requirements"
) -> dict[str, str]:
    """Every package the requirements need in the image, name -> uv.lock's version."""
    pending: list[tuple[Package, frozenset[str]]] = []
    for requirement in requirements:
        if not _applies(str(requirement.marker) if requirement.marker else None, where):
            continue
        name = canonicalize_name(requirement.name)
        matching = [
            p
            for p in lock.get(name, [])
            if requirement.specifier.contains(p.get("version", ""), prereleases=True)
        ]
        if len(matching) != 1:
            locked = sorted(p.get("version", "?") for p in lock.get(name, []))
            raise LockError(
                f"{where}: {requirement} matches no single version in uv.lock (it has {locked or 'none'})"
            )
        pending.append((matching[0], frozenset(canonicalize_name(e) for e in requirement.extras)))

    versions: dict[str, str] = {}
    done: dict[str, set[str]] = {}  # name -> extras already followed ("" = the base)
    while pending:
        package, extras = pending.pop()
        name = canonicalize_name(package["name"])
        if "version" not in package or package.get("source", {}).keys() - {"registry"}:
            raise LockError(f"{where}: {name} is not a registry package in uv.lock ({package.get('source')})")
        if versions.setdefault(name, package["version"]) != package["version"]:
            raise LockError(f"{where}: needs {name} at {versions[name]} and at {package['version']}")
        seen = done.setdefault(name, set())
        optional = package.get("optional-dependencies", {})
        groups = [("", package.get("dependencies", []))] if "" not in seen else []
        groups += [(extra, optional.get(extra, [])) for extra in sorted(extras - seen)]
        for group, dependencies in groups:
            seen.add(group)
            for dependency in dependencies:
                if _applies(dependency.get("marker"), f"{where}: {name}"):
                    extras_wanted = frozenset(canonicalize_name(e) for e in dependency.get("extra", []))
                    pending.append((_select(lock, dependency, f"{where}: {name}"), extras_wanted))
    return dict(sorted(versions.items()))


def artifact_hashes(package: Package) -> list[str]:
    """The ``sha256:`` digests of every file uv.lock records for a package (its sdist, its wheels):
    pip takes whichever file it picks for the image if its digest is among them."""
    files = [package["sdist"]] if "sdist" in package else []
    files += package.get("wheels", [])
    hashes = sorted({f["hash"] for f in files if "hash" in f})
    if not hashes or not all(h.startswith("sha256:") for h in hashes):
        raise LockError(f"uv.lock records no sha256 for {package['name']} {package.get('version')}: {hashes}")
    return hashes


def render(image: str, packages: Mapping[str, Package]) -> str:
    header = (
        f"# GENERATED from uv.lock by `{COMMAND}` ({MAKE_TARGET}): do not edit.\n"
        f"# images/{image}/{TOP_LEVEL} (the top-level pins) and every package they need on CPython 3.11,\n"
        f"# Linux x86_64, at uv.lock's versions with uv.lock's file hashes; images/{image}/Dockerfile\n"
        "# installs it with --no-deps --require-hashes.\n"
    )
    unfollowed = UNFOLLOWED.get(image, ())
    if unfollowed:
        header += f"# Installed without their dependencies: {', '.join(unfollowed)}.\n"
    lines = []
    for name, package in packages.items():
        hashes = " \\\n".join(f"    --hash={digest}" for digest in artifact_hashes(package))
        lines.append(f"{name}=={package['version']} \\\n{hashes}\n")
    return header + "".join(lines)


def generate(image: str, lock_path: Path | None = None, images_dir: Path | None = None) -> str:
    """The lock file an image should have, as text (from :data:`UV_LOCK`, :data:`IMAGES_DIR`)."""
    lock_path, images_dir = lock_path or UV_LOCK, images_dir or IMAGES_DIR
    top_level = images_dir / image / TOP_LEVEL
    lock = read_lock(lock_path)
    where = f"images/{image}/{TOP_LEVEL}"
    versions = closure(lock, read_top_level(top_level), where)
    for name in UNFOLLOWED.get(image, ()):
        (package,) = lock[name]  # one locked version, else the unpacking fails loudly
        versions.setdefault(name, package["version"])
    packages = {
        name: _select(lock, {"name": name, "version": version}, where)
        for name, version in sorted(versions.items())
    }
    return render(image, packages)


def stale(lock_path: Path | None = None, images_dir: Path | None = None) -> dict[str, str]:
    """Image -> unified diff (committed -> fresh), for every image whose lock file is stale."""
    images_dir = images_dir or IMAGES_DIR
    diffs = {}
    for image in IMAGES:
        path = images_dir / image / LOCKED
        committed = path.read_text() if path.is_file() else ""
        fresh = generate(image, lock_path, images_dir)
        if committed != fresh:
            name = f"images/{image}/{LOCKED}"
            lines = difflib.unified_diff(
                committed.splitlines(keepends=True), fresh.splitlines(keepends=True), name, f"{name} (fresh)"
            )
            diffs[image] = "".join(lines)
    return diffs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=COMMAND, description=__doc__)
    parser.add_argument("--check", action="store_true", help="fail if a committed lock file is stale")
    args = parser.parse_args(argv)
    try:
        if args.check:
            diffs = stale()
            for diff in diffs.values():
                sys.stderr.write(diff)
            if diffs:
                names = ", ".join(f"images/{image}/{LOCKED}" for image in diffs)
                print(
                    f"stale: {names} differ from uv.lock and {TOP_LEVEL}; run `{MAKE_TARGET}`",
                    file=sys.stderr,
                )
                return 1
            print(f"images/*/{LOCKED} match uv.lock")
            return 0
        for image in IMAGES:
            path = IMAGES_DIR / image / LOCKED
            path.write_text(generate(image))
            print(f"wrote {path.relative_to(REPO_ROOT) if path.is_relative_to(REPO_ROOT) else path}")
    except LockError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
