"""The images install uv.lock's versions of every package, not only of their top-level pins.

``images/<image>/requirements.lock.txt`` is generated (scripts/image_requirements.py) from uv.lock
and the image's ``requirements.txt``; the Dockerfiles install it with ``--no-deps``. These tests
keep it fresh, complete and Linux-only. Paths are read from the script's module at run time
(``ir.UV_LOCK``, ``ir.IMAGES_DIR``), so they can be pointed at an edited copy.
"""

from __future__ import annotations

import importlib.metadata
import re
import shutil
from pathlib import Path

import pytest
from packaging import tags
from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name, parse_wheel_filename

from scripts import image_requirements as ir

#: What a path that runs only on Vertex imports through the top-level pins: the GAPIC clients'
#: transport and retries (google-api-core[grpc]), auth, BigQuery and its Storage read API.
VERTEX_ONLY = {
    "training": (
        *("google-api-core", "grpcio", "grpcio-status", "protobuf", "proto-plus", "google-auth"),
        *("googleapis-common-protos", "google-cloud-bigquery", "google-cloud-storage", "pyarrow"),
    ),
    # AIP_STORAGE_URI is a gs:// folder: the server downloads the model with Cloud Storage.
    "model_server": (
        *("google-cloud-storage", "google-api-core", "google-auth", "google-resumable-media"),
        *("google-crc32c", "requests", "protobuf"),
    ),
}
#: python:3.11-slim is Debian (glibc >= 2.36) on x86_64: the wheels pip can install there.
LINUX_TAGS = frozenset(
    (
        *tags.cpython_tags(
            (3, 11), ["cp311"], [*(f"manylinux_2_{m}_x86_64" for m in range(36, 4, -1)), "linux_x86_64"]
        ),
        *tags.compatible_tags((3, 11), "cp311", [*(f"manylinux_2_{m}_x86_64" for m in range(36, 4, -1))]),
    )
)


def _pins(path: Path) -> dict[str, str]:
    return {
        canonicalize_name(n): v
        for n, v in re.findall(r"^([A-Za-z0-9_.-]+)==(\S+)(?: \\)?$", path.read_text(), flags=re.M)
    }


def _locked(image: str) -> dict[str, str]:
    return _pins(ir.IMAGES_DIR / image / ir.LOCKED)


def _hashes(image: str) -> dict[str, set[str]]:
    """The lock file's ``--hash`` options per package, read as pip reads them (a line ending in a
    backslash continues on the next)."""
    text = (ir.IMAGES_DIR / image / ir.LOCKED).read_text().replace("\\\n", " ")
    hashes = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            requirement, *options = line.split()
            hashes[canonicalize_name(requirement.split("==")[0])] = {
                option.removeprefix("--hash=") for option in options if option.startswith("--hash=")
            }
    return hashes


def _single_versions() -> dict[str, str]:
    """uv.lock's name -> version, for the names it locks at one version."""
    return {
        name: entries[0]["version"] for name, entries in ir.read_lock(ir.UV_LOCK).items() if len(entries) == 1
    }


def test_the_committed_lock_files_are_generated_from_uv_lock() -> None:
    diffs = ir.stale(ir.UV_LOCK, ir.IMAGES_DIR)
    assert not diffs, (
        "".join(diffs.values()) + f"\nstale image lock files: run `{ir.MAKE_TARGET}` and commit them"
    )


@pytest.mark.parametrize("image", ir.IMAGES)
def test_every_top_level_pin_is_in_the_lock_file_at_its_version(image: str) -> None:
    locked = _locked(image)
    for requirement in ir.read_top_level(ir.IMAGES_DIR / image / ir.TOP_LEVEL):
        name = canonicalize_name(requirement.name)
        assert name in locked, f"{requirement} is missing from images/{image}/{ir.LOCKED}"
        assert requirement.specifier.contains(locked[name]), (
            f"{requirement} but the lock file has {locked[name]}"
        )


@pytest.mark.parametrize("image", ir.IMAGES)
def test_the_lock_file_holds_what_vertex_only_paths_import_at_uv_locks_versions(image: str) -> None:
    locked, lock = _locked(image), _single_versions()
    assert {name: locked.get(name) for name in VERTEX_ONLY[image]} == {
        name: lock[name] for name in VERTEX_ONLY[image]
    }
    assert all(lock.get(name) == version for name, version in locked.items()), (
        "a version differs from uv.lock"
    )


def _windows_only() -> set[str]:
    """uv.lock's packages that every dependency on them restricts to Windows (or Cygwin)."""
    linux = {**ir.TARGET_ENVIRONMENT, "python_full_version": "3.11.9", "implementation_version": "3.11.9"}
    windows = {**linux, "sys_platform": "win32", "platform_system": "Windows", "os_name": "nt"}
    windows_only: dict[str, list[bool]] = {}
    for entries in ir.read_lock(ir.UV_LOCK).values():
        for package in entries:
            groups = [package.get("dependencies", []), *package.get("optional-dependencies", {}).values()]
            for dependency in (d for group in groups for d in group):
                marker = Marker(dependency.get("marker") or "python_version >= '3'")
                restricted = marker.evaluate(windows) and not marker.evaluate(linux)
                windows_only.setdefault(canonicalize_name(dependency["name"]), []).append(restricted)
    return {name for name, edges in windows_only.items() if all(edges)}


@pytest.mark.parametrize("image", ir.IMAGES)
def test_no_windows_only_package_is_in_the_lock_file(image: str) -> None:
    windows_only = _windows_only()
    assert "colorama" in windows_only  # the check has something to catch (click, tqdm, ... on win32)
    assert "tzdata" not in windows_only  # pandas needs it everywhere; only some packages on win32
    found = (windows_only | {"pywin32", "pywin32-ctypes", "colorama"}) & set(_locked(image))
    assert not found, f"Windows-only packages in images/{image}/{ir.LOCKED}: {sorted(found)}"


def test_kfp_is_in_the_training_lock_file_without_its_dependencies() -> None:
    """The image installs the KFP executor --no-deps, as KFP's own component prelude does: none of
    kfp's own dependencies come with it (kfp-server-api, for one, is an sdist only)."""
    locked = _locked("training")
    assert locked["kfp"] == _single_versions()["kfp"] == "2.17.0"
    assert not {"kfp-pipeline-spec", "kfp-server-api", "kubernetes"} & set(locked)
    assert "kfp" not in _locked("model_server")


@pytest.mark.parametrize("image", ir.IMAGES)
def test_the_dockerfile_installs_the_lock_file_without_resolving(image: str) -> None:
    dockerfile = (ir.IMAGES_DIR / image / "Dockerfile").read_text()
    assert f"COPY images/{image}/{ir.LOCKED} /tmp/{ir.LOCKED}" in dockerfile
    # --only-binary: an sdist's build dependencies would be installed without hash checks
    assert (
        f"pip install --no-cache-dir --no-deps --require-hashes --only-binary=:all: -r /tmp/{ir.LOCKED}"
        in dockerfile
    )
    installs = re.findall(r"pip install[^\n]*", dockerfile)
    assert len(installs) == 1, f"one install, of the hashed lock file: {installs}"


@pytest.mark.parametrize("image", ir.IMAGES)
def test_every_package_has_a_linux_wheel_so_nothing_is_built_from_source(image: str) -> None:
    """And pip may install that wheel: its hash is among the package's hashes in the lock file."""
    lock, hashes = ir.read_lock(ir.UV_LOCK), _hashes(image)
    without = []
    for name, version in _locked(image).items():
        (package,) = (p for p in lock[name] if p["version"] == version)
        linux_wheels = {
            w["hash"]
            for w in package.get("wheels", [])
            if set(parse_wheel_filename(w["url"].rsplit("/", 1)[1])[3]) & LINUX_TAGS
        }
        if not linux_wheels & hashes[name]:
            without.append(f"{name}=={version}")
    assert not without, (
        f"no CPython 3.11 manylinux x86_64 wheel hash in images/{image}/{ir.LOCKED} for {without}"
    )


@pytest.mark.parametrize("image", ir.IMAGES)
def test_every_package_carries_the_hash_of_every_file_uv_lock_took_and_no_other(image: str) -> None:
    """pip's hash-checking mode (--require-hashes, as the Dockerfile installs) needs a hash on
    every line; these are uv.lock's, so an image gets the bytes `make install` verified."""
    lock, hashes, locked = ir.read_lock(ir.UV_LOCK), _hashes(image), _locked(image)
    assert set(hashes) == set(locked)
    for name, version in locked.items():
        (package,) = (p for p in lock[name] if p["version"] == version)
        files = [package.get("sdist", {}), *package.get("wheels", [])]
        assert hashes[name] == {f["hash"] for f in files if "hash" in f}, name
        assert all(re.fullmatch(r"sha256:[0-9a-f]{64}", h) for h in hashes[name]), name


@pytest.mark.parametrize("image", ir.IMAGES)
def test_the_lock_file_is_complete_by_its_packages_own_metadata(image: str) -> None:
    """An oracle independent of the walk: the venv holds uv.lock (``uv sync --frozen``), so each
    locked package's installed Requires-Dist must be satisfied inside the lock file."""
    locked = _locked(image)
    environment = {
        **ir.TARGET_ENVIRONMENT,
        "python_full_version": "3.11.9",
        "implementation_version": "3.11.9",
    }
    missing = []
    unfollowed = ir.UNFOLLOWED.get(image, ())
    for name, version in locked.items():
        try:
            installed = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            pytest.fail(f"{name} is in images/{image}/{ir.LOCKED} but not in the venv (another platform's?)")
        assert installed == version, (
            f"the venv has {name} {installed}, not uv.lock's {version}: run `make install`"
        )
        if name in unfollowed:  # installed --no-deps on purpose (kfp: its executor only)
            continue
        for text in importlib.metadata.requires(name) or []:
            requirement = Requirement(text)
            if requirement.marker and not requirement.marker.evaluate({**environment, "extra": ""}):
                continue
            dependency = canonicalize_name(requirement.name)
            if not requirement.specifier.contains(locked.get(dependency, "0.0.0.dev0"), prereleases=True):
                missing.append(f"{name} needs {requirement}, lock file has {locked.get(dependency)}")
    assert not missing, missing


# --- the generator itself, on a small uv.lock ---------------------------------------------------

SMALL_LOCK = """
version = 1
requires-python = "==3.11.*"

[[package]]
name = "app"
version = "1.0"
source = { registry = "https://pypi.org/simple" }
dependencies = [
    { name = "core", extra = ["grpc"] },
    { name = "winonly", marker = "sys_platform == 'win32'" },
    { name = "forked", version = "2.0", source = { registry = "https://pypi.org/simple" }, marker = "python_version >= '3.11'" },
]

[[package]]
name = "core"
version = "3.0"
source = { registry = "https://pypi.org/simple" }
dependencies = [{ name = "base" }]

[package.optional-dependencies]
grpc = [{ name = "grpcio" }]
unused = [{ name = "never" }]

[[package]]
name = "base"
version = "0.1"
source = { registry = "https://pypi.org/simple" }

[[package]]
name = "grpcio"
version = "1.0"
source = { registry = "https://pypi.org/simple" }

[[package]]
name = "never"
version = "1.0"
source = { registry = "https://pypi.org/simple" }

[[package]]
name = "vague"
version = "1.0"
source = { registry = "https://pypi.org/simple" }
dependencies = [{ name = "forked" }]

[[package]]
name = "winonly"
version = "1.0"
source = { registry = "https://pypi.org/simple" }

[[package]]
name = "forked"
version = "1.0"
source = { registry = "https://pypi.org/simple" }

[[package]]
name = "forked"
version = "2.0"
source = { registry = "https://pypi.org/simple" }
"""


def test_the_walk_follows_markers_extras_and_forks(tmp_path: Path) -> None:
    (tmp_path / "uv.lock").write_text(SMALL_LOCK)
    lock = ir.read_lock(tmp_path / "uv.lock")
    assert ir.closure(lock, [Requirement("app==1.0")]) == {
        "app": "1.0",
        "base": "0.1",
        "core": "3.0",
        "forked": "2.0",
        "grpcio": "1.0",
    }
    with pytest.raises(
        ir.LockError, match=r"app==2\.0 matches no single version in uv.lock \(it has \['1\.0'\]\)"
    ):
        ir.closure(lock, [Requirement("app==2.0")])
    with pytest.raises(
        ir.LockError, match=r"forked matches no single version in uv.lock \(it has \['1\.0', '2\.0'\]\)"
    ):
        ir.closure(lock, [Requirement("forked")])
    with pytest.raises(
        ir.LockError, match=r"vague: uv.lock has \['1\.0', '2\.0'\] version\(s\) of forked, need one"
    ):
        ir.closure(lock, [Requirement("vague==1.0")])
    patch_dependent = SMALL_LOCK.replace("python_version >= '3.11'", "python_full_version >= '3.11.3'")
    (tmp_path / "uv.lock").write_text(patch_dependent)
    with pytest.raises(ir.LockError, match="depends on Python's patch release"):
        ir.closure(ir.read_lock(tmp_path / "uv.lock"), [Requirement("app==1.0")])


def _copy(tmp_path: Path) -> tuple[Path, Path]:
    images = tmp_path / "images"
    for image in ir.IMAGES:
        (images / image).mkdir(parents=True)
        for name in (ir.TOP_LEVEL, ir.LOCKED, "Dockerfile"):
            shutil.copyfile(ir.IMAGES_DIR / image / name, images / image / name)
    shutil.copyfile(ir.UV_LOCK, tmp_path / "uv.lock")
    return tmp_path / "uv.lock", images


def test_check_fails_on_an_edited_lock_file_or_a_uv_lock_bump(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    uv_lock, images = _copy(tmp_path)
    monkeypatch.setattr(ir, "UV_LOCK", uv_lock)
    monkeypatch.setattr(ir, "IMAGES_DIR", images)
    assert ir.main(["--check"]) == 0

    locked = images / "training" / ir.LOCKED
    locked.write_text(locked.read_text().replace("protobuf==", "protobuf==0.0.0\n# was "))
    assert ir.main(["--check"]) == 1
    assert "stale: images/training/requirements.lock.txt" in capsys.readouterr().err
    assert ir.main([]) == 0 and ir.main(["--check"]) == 0  # regenerating repairs it

    version = _single_versions()["grpcio"]
    text = uv_lock.read_text()
    uv_lock.write_text(
        text.replace(f'name = "grpcio"\nversion = "{version}"', 'name = "grpcio"\nversion = "99.0"')
    )
    assert ir.main(["--check"]) == 1
    err = capsys.readouterr().err
    assert "+grpcio==99.0" in err and f"run `{ir.MAKE_TARGET}`" in err
    assert "images/model_server" not in err.rsplit("stale:", 1)[1]  # the server does not use gRPC


def test_a_top_level_pin_uv_lock_lacks_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    uv_lock, images = _copy(tmp_path)
    monkeypatch.setattr(ir, "UV_LOCK", uv_lock)
    monkeypatch.setattr(ir, "IMAGES_DIR", images)
    top_level = images / "model_server" / ir.TOP_LEVEL
    top_level.write_text(top_level.read_text().replace("joblib==", "joblib==0.1\n# was "))
    assert ir.main(["--check"]) == 2


# --- pip itself, on the committed lines -----------------------------------------------------------


def _smallest_pure_python(image: str, count: int) -> list[str]:
    """The lock file's entries (their text, hashes included) of its ``count`` smallest
    pure-Python packages: what pip reads in the image, cheap to download."""
    lock, sizes = ir.read_lock(ir.UV_LOCK), {}
    for name, version in _locked(image).items():
        (package,) = (p for p in lock[name] if p["version"] == version)
        pure = [w for w in package.get("wheels", []) if w["url"].endswith("-py3-none-any.whl")]
        if pure:
            sizes[name] = pure[0]["size"]
    chosen = sorted(sizes, key=sizes.__getitem__)[:count]
    text = (ir.IMAGES_DIR / image / ir.LOCKED).read_text()
    blocks = re.finditer(r"^([A-Za-z0-9_.-]+)==\S+ \\\n(?:    --hash=\S+(?: \\)?\n)+", text, flags=re.M)
    found = {canonicalize_name(m.group(1)): m.group(0) for m in blocks}
    assert len(found) == len(_locked(image))  # every entry is one such block
    return [found[name] for name in chosen]


@pytest.mark.slow
def test_pip_installs_the_lock_files_lines_in_hash_checking_mode_and_refuses_other_bytes(
    tmp_path: Path,
) -> None:
    """Real pip (the bootstrap venv's, ``make install``) downloads the two smallest packages of
    the server's lock file from PyPI as the Dockerfile's ``--require-hashes`` install would, and
    refuses them when a hash is not the file's. Needs PyPI, as ``make install`` does."""
    import subprocess

    from fraud_mlops.settings import REPO_ROOT

    pip = REPO_ROOT / ".tools" / "bin" / "pip"
    assert pip.is_file(), "the bootstrap venv's pip is missing: run `make install`"
    entries = _smallest_pure_python("model_server", 2)
    assert len(entries) == 2

    def download(text: str, into: str) -> subprocess.CompletedProcess[str]:
        requirements = tmp_path / f"{into}.txt"
        requirements.write_text(text)
        return subprocess.run(
            [
                *(str(pip), "download", "--no-deps", "--require-hashes", "--only-binary=:all:"),
                *("--platform", "manylinux2014_x86_64", "--python-version", "3.11"),
                *("--disable-pip-version-check", "-d", str(tmp_path / into), "-r", str(requirements)),
            ],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )

    good = download("".join(entries), "good")
    assert good.returncode == 0, good.stderr
    assert len(list((tmp_path / "good").glob("*.whl"))) == 2

    # every hash of the first entry replaced: pip must refuse the file it downloads
    tampered = re.sub(r"sha256:[0-9a-f]{64}", "sha256:" + "0" * 64, entries[0])
    bad = download(tampered + entries[1], "bad")
    assert bad.returncode != 0
    assert "DO NOT MATCH THE HASHES" in bad.stderr, bad.stderr
