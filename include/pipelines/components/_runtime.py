"""How every component runs on Vertex: the project's training image, the project's code.

* **Image**: the project-built training image (``images/training/Dockerfile``, pushed to the
  project's Artifact Registry by ``make images``), which holds every package the steps import
  at the versions of ``uv.lock`` (:data:`PINS`, compared with the lock by a test) and the KFP
  executor. Nothing is installed at start-up: a component runs without internet access. The
  compiled YAML names the image with ``{project}`` and ``{region}`` placeholders
  (:data:`TRAINING_IMAGE`); the Vertex runner fills them in at submission
  (:func:`fraud_mlops.pipeline_runs.vertex.pipeline_for_project`). ``kfp.local``'s
  ``SubprocessRunner`` ignores images and runs in this venv, which holds the same lock.
* **Packages**: each component still names what its step imports (:func:`fraud_component`'s
  ``packages``); a test checks that the training image's requirements cover them.
* **Project code**: the modules the steps need (``fraud_mlops.training``, ``fraud_mlops.registry``,
  ``fraud_mlops.features``) are embedded in each component with KFP's ``embedded_artifact_path``;
  at run time KFP unpacks them and puts them first on ``sys.path``, on Vertex and in
  ``kfp.local`` alike. KFP's archive carries file times, owners and a gzip timestamp; while
  components are built, :func:`_deterministic_archives` normalises those so the compiled YAML is
  byte-identical on every machine and every run.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import gzip
import shutil
import tarfile
import tempfile
import types
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from kfp import dsl
from kfp.dsl import component_factory

import fraud_mlops
from fraud_mlops.registry.images import TRAINING_IMAGE as TRAINING_IMAGE_NAME
from fraud_mlops.registry.images import image_uri

#: The training image, project and region left as placeholders (filled in at submission).
TRAINING_IMAGE = image_uri("{project}", "{region}", TRAINING_IMAGE_NAME)

#: Versions from uv.lock (tests/pipelines/test_compile.py fails when they drift apart).
PINS: dict[str, str] = {
    "duckdb": "2.0.0",
    "google-cloud-aiplatform": "2.7.0",
    "google-cloud-bigquery-storage": "2.43.0",
    "joblib": "1.6.0",
    "matplotlib": "3.11.2",
    "narwhals": "2.29.0",
    "numpy": "2.4.6",
    "pandas": "2.3.3",
    "pyarrow": "26.0.1",
    "scikit-learn": "1.9.1",
    "scipy": "1.17.1",
    "threadpoolctl": "3.8.0",
}

DATA = ("numpy", "pandas", "pyarrow")
SKLEARN = (*DATA, "scikit-learn", "scipy", "joblib", "threadpoolctl", "narwhals")
VERTEX = ("google-cloud-aiplatform",)

#: The project modules the steps import, relative to ``plugins/``.
EMBEDDED_MODULES: tuple[str, ...] = (
    "fraud_mlops/__init__.py",
    "fraud_mlops/features.py",
    "fraud_mlops/retries.py",
    "fraud_mlops/training/__init__.py",
    "fraud_mlops/training/dataset.py",
    "fraud_mlops/training/evaluate.py",
    "fraud_mlops/training/gate.py",
    "fraud_mlops/training/report.py",
    "fraud_mlops/training/steps.py",
    "fraud_mlops/training/train.py",
    "fraud_mlops/registry/__init__.py",
    "fraud_mlops/registry/artifact.py",
    "fraud_mlops/registry/backends.py",
    "fraud_mlops/registry/base.py",
    "fraud_mlops/registry/images.py",
    "fraud_mlops/registry/local_endpoint.py",
    "fraud_mlops/registry/local_registry.py",
    "fraud_mlops/registry/model_server.py",
    "fraud_mlops/registry/names.py",
    "fraud_mlops/registry/predictor.py",
    "fraud_mlops/registry/serving_image.py",
    "fraud_mlops/registry/traffic.py",
    "fraud_mlops/registry/vertex.py",
)


def pinned(packages: Sequence[str]) -> list[str]:
    return [f"{name}=={PINS[name]}" for name in sorted(set(packages))]


@functools.lru_cache(maxsize=1)
def embedded_code_dir() -> Path:
    """A folder holding just :data:`EMBEDDED_MODULES`, copied from the importable package."""
    plugins = Path(fraud_mlops.__file__).resolve().parents[1]
    staging = Path(tempfile.mkdtemp(prefix="fraud-mlops-embedded-"))
    atexit.register(shutil.rmtree, staging, True)
    for relative in EMBEDDED_MODULES:
        target = staging / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(plugins / relative, target)
    return staging


def _normalise(info: tarfile.TarInfo) -> tarfile.TarInfo | None:
    if "__pycache__" in info.name:
        return None
    info.mtime = 0
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    info.mode = 0o755 if info.isdir() else 0o644
    return info


class _NormalisedTarFile(tarfile.TarFile):
    def add(self, name: Any, arcname: Any = None, recursive: bool = True, *, filter: Any = None) -> None:
        super().add(name, arcname, recursive, filter=_normalise)


@contextlib.contextmanager
def _deterministic_archives() -> Iterator[None]:
    """Make KFP's embedded archive depend on file contents only (no times, owners, gzip mtime)."""
    saved = component_factory.tarfile, component_factory.gzip
    component_factory.tarfile = types.SimpleNamespace(open=_NormalisedTarFile.open)  # type: ignore[assignment]
    component_factory.gzip = types.SimpleNamespace(compress=functools.partial(gzip.compress, mtime=0))  # type: ignore[assignment]
    try:
        yield
    finally:
        component_factory.tarfile, component_factory.gzip = saved


#: What each component declared it imports (component name → packages), for the image test.
DECLARED_PACKAGES: dict[str, tuple[str, ...]] = {}


def fraud_component(packages: Sequence[str] = ()) -> Callable[[Callable[..., Any]], Any]:
    """``@dsl.component`` on the training image with the project's code embedded; no installs."""
    unknown = set(packages) - set(PINS)
    if unknown:
        raise ValueError(f"packages not pinned in PINS (nor in the training image): {sorted(unknown)}")

    def decorate(func: Callable[..., Any]) -> Any:
        DECLARED_PACKAGES[func.__name__] = tuple(sorted(set(packages)))
        with _deterministic_archives():
            return dsl.component(
                func,
                base_image=TRAINING_IMAGE,
                install_kfp_package=False,  # the image has the KFP executor
                embedded_artifact_path=str(embedded_code_dir()),
            )

    return decorate
