"""The Composer dependency contract: the pinned image's packages + requirements.txt run every gcp task.

An isolated environment is built from ``infra/composer_image_packages.txt`` (what the pinned
Composer image ships) plus ``requirements.txt`` (what the deploy installs on top), and nothing
else, not this project's ``.venv``:

1. **resolve** (``uv pip compile``): the two lists together must resolve, and to exactly
   themselves: a package requirements.txt needs that neither list holds, or a version either
   list would have to move, fails here;
2. **install** (``uv pip install --no-deps`` of both lists into a venv cached under
   ``.local/composer-contract/<hash of both files>``, so a rerun with unchanged files costs
   nothing; uv links from its cache, about a minute the first time);
3. **import** in that venv, with ``MLOPS_TARGET=gcp``: every DAG (a DagBag with no import
   errors) and every module a gcp task imports at run time: the orchestration code's modules
   (tests/infra/test_runtime_calls.py ``CODE_OF["orchestration"]``, without the local-only
   adapters) and every Airflow provider module they import.
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from fraud_mlops.settings import REPO_ROOT

from . import iac
from .test_runtime_calls import files_of

IMAGE_FILE = REPO_ROOT / "infra" / "composer_image_packages.txt"
REQUIREMENTS = REPO_ROOT / "requirements.txt"
UV = REPO_ROOT / ".tools" / "bin" / "uv"
CACHE = REPO_ROOT / ".local" / "composer-contract"
PYTHON = "3.11"

#: Adapters of the local target: never imported on gcp (their libraries are not on Composer).
LOCAL_ONLY = {
    "fraud_mlops.warehouse.duckdb",
    "fraud_mlops.warehouse.duckdb_load",
    "fraud_mlops.warehouse.hook",
    "fraud_mlops.warehouse.operators",
    "fraud_mlops.warehouse.transpile",
    "fraud_mlops.warehouse.keyed_udf",
    "fraud_mlops.feature_store.local",
    "fraud_mlops.feature_store.local_store",
    "fraud_mlops.feature_store.source",
    "fraud_mlops.feature_store.sync",
    "fraud_mlops.pipeline_runs.kfp_local",
}


def pins(path: Path) -> dict[str, str]:
    return {
        name.lower().replace("_", "-"): version
        for name, version in re.findall(r"^([A-Za-z0-9_.-]+)==(\S+)\s*$", path.read_text(), flags=re.M)
    }


def _uv(*args: str, timeout: int = 900) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(UV), *args], capture_output=True, text=True, timeout=timeout, check=False)


def resolve(image: Path, requirements: Path) -> subprocess.CompletedProcess[str]:
    return _uv(
        "pip", "compile", str(image), str(requirements), "--python-version", PYTHON,
        "--python-platform", "x86_64-manylinux_2_28", "--no-header", "--no-annotate", "--quiet",
    )  # fmt: skip


def runtime_modules() -> list[str]:
    """The project's modules a gcp task runs, and the Airflow provider modules they import."""
    modules: set[str] = set()
    for path in files_of("orchestration"):
        relative = path.relative_to(REPO_ROOT)
        name = ".".join(relative.with_suffix("").parts).removeprefix("plugins.")
        if name.endswith("__init__") or name in LOCAL_ONLY:
            continue
        modules.add(name)
        if name.startswith("dags."):
            continue  # the DagBag loads DAG files
        modules |= _imported_at_run_time(ast.parse(path.read_text()))
    return sorted(m for m in modules if not m.startswith("dags.") and m not in LOCAL_ONLY)


def _imported_at_run_time(tree: ast.Module) -> set[str]:
    """Airflow provider modules, and every third-party package, a module imports anywhere.

    Task code imports its libraries inside the task function (cheap DAG parsing), so the
    imports in function bodies count too: a library only a task imports (e.g. Evidently in
    the monitoring task) must still be on Composer. ``if TYPE_CHECKING:`` blocks do not run.
    """
    found: set[str] = set()
    skipped = {
        id(n)
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
        for n in ast.walk(node)
    }
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        names = []
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        for name in names:
            top = name.split(".")[0]
            if name.startswith("airflow.providers.") or name.startswith("fraud_mlops."):
                found.add(name)
            elif top not in sys.stdlib_module_names and top not in ("airflow", "__future__"):
                found.add(top)
    return found


def environment(image: Path, requirements: Path) -> Path:
    """The venv of exactly these two lists (cached by their content)."""
    digest = hashlib.sha256(image.read_bytes() + b"\0" + requirements.read_bytes()).hexdigest()[:16]
    venv = CACHE / digest
    if (venv / ".complete").is_file():
        return venv
    shutil.rmtree(venv, ignore_errors=True)
    made = _uv("venv", "--quiet", "--python", str(REPO_ROOT / ".venv" / "bin" / "python"), str(venv))
    assert made.returncode == 0, made.stderr
    installed = _uv(
        "pip", "install", "--quiet", "--no-deps", "--python", str(venv / "bin" / "python"),
        "-r", str(image), "-r", str(requirements),
    )  # fmt: skip
    assert installed.returncode == 0, installed.stderr[-3000:]
    (venv / ".complete").write_text("")
    return venv


PROBE = """
import importlib, json, sys
from airflow.dag_processing.dagbag import DagBag
bag = DagBag(dag_folder=sys.argv[1])
failed = {}
for name in json.loads(sys.argv[2]):
    try:
        importlib.import_module(name)
    except Exception as exc:
        failed[name] = f"{type(exc).__name__}: {exc}"
def assets(condition):  # the assets of a schedule's condition (AssetAll, AssetAny nest them)
    if hasattr(condition, "objects"):
        for each in condition.objects:
            yield from assets(each)
    elif condition is not None:
        yield condition
triggers = {}  # each asset watcher's trigger class path, and the file its module loads from
for dag in bag.dags.values():
    for asset in assets(getattr(dag.timetable, "asset_condition", None)):
        for watcher in getattr(asset, "watchers", ()):
            classpath = watcher.trigger.serialize()[0]
            triggers[classpath] = importlib.import_module(classpath.rsplit(".", 1)[0]).__file__
print("CONTRACT " + json.dumps({"dags": sorted(bag.dags), "import_errors": {k: str(v)[-600:] for k, v in bag.import_errors.items()}, "module_errors": failed, "triggers": triggers, "site": [p for p in sys.path if p.endswith("site-packages")]}))
"""


def probe(venv: Path, tmp_path: Path) -> dict[str, object]:
    env = {
        key: value for key, value in os.environ.items() if not key.startswith(("VIRTUAL_ENV", "PYTHON"))
    } | {
        "MLOPS_TARGET": "gcp",
        "GCP_PROJECT": "fraud-project",
        "AIRFLOW_HOME": str(tmp_path / "airflow"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "True",
        # Importability is checked here, not import time (tests/dags time the parse): the first
        # DAG of a fresh venv compiles every module it imports, which took over the default
        # 30 s on a busy 2-core machine.
        "AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT": "600",
        "PYTHONPATH": os.pathsep.join([str(REPO_ROOT / "plugins"), str(REPO_ROOT)]),
        "PYTHONNOUSERSITE": "1",
    }
    proc = subprocess.run(
        [str(venv / "bin" / "python"), "-c", PROBE, str(REPO_ROOT / "dags"), json.dumps(runtime_modules())],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    lines = [line for line in proc.stdout.splitlines() if line.startswith("CONTRACT ")]
    assert proc.returncode == 0 and lines, proc.stderr[-3000:]
    return dict(json.loads(lines[-1][len("CONTRACT ") :]))


def test_the_package_list_is_the_pinned_images() -> None:
    header = re.search(r"^# image: (\S+)$", IMAGE_FILE.read_text(), flags=re.M)
    assert header, "infra/composer_image_packages.txt names no image"
    variables = iac.blocks("variable", iac.INFRA)
    assert variables["composer_image_version"]["default"] == header[1]
    image = pins(IMAGE_FILE)
    assert image["apache-airflow"] == "3.3.2" and "apache-airflow-providers-google" in image


def test_requirements_resolve_on_top_of_the_image_without_moving_it() -> None:
    result = resolve(IMAGE_FILE, REQUIREMENTS)
    assert result.returncode == 0, f"requirements.txt conflicts with the image:\n{result.stderr[-3000:]}"
    resolved = {
        name.lower(): version
        for name, version in re.findall(r"^([A-Za-z0-9_.-]+)==(\S+)", result.stdout, flags=re.M)
    }
    declared = pins(IMAGE_FILE) | pins(REQUIREMENTS)
    extra = {n: v for n, v in resolved.items() if n not in declared}
    moved = {n: (declared[n], v) for n, v in resolved.items() if n in declared and declared[n] != v}
    assert not extra, f"requirements.txt needs packages neither list holds: {extra}"
    assert not moved, f"versions the resolver had to move: {moved}"


def test_every_dag_and_gcp_runtime_module_imports_in_the_image_environment(tmp_path: Path) -> None:
    venv = environment(IMAGE_FILE, REQUIREMENTS)
    result = probe(venv, tmp_path)
    assert result["import_errors"] == {}, result["import_errors"]
    assert result["module_errors"] == {}, result["module_errors"]
    assert set(result["dags"]) >= {"fraud_batch_scoring", "fraud_ingest_events", "fraud_training"}  # type: ignore[arg-type]


def test_every_watcher_trigger_loads_from_an_installed_package(tmp_path: Path) -> None:
    """The triggerer imports a trigger by its class path, and Cloud Composer 3 syncs ``plugins/``
    to neither its scheduler nor its triggerer ("Plugins aren't synchronized to these components
    of your environment": https://cloud.google.com/composer/docs/composer-3/install-plugins).
    A watcher whose trigger class lives in this project's package would fail to load there on
    every try, and no notification would start a run; locally, where ``plugins/`` is on every
    component's path, nothing shows it."""
    venv = environment(IMAGE_FILE, REQUIREMENTS)
    result = probe(venv, tmp_path)
    triggers: dict[str, str] = result["triggers"]  # type: ignore[assignment]
    site: list[str] = result["site"]  # type: ignore[assignment]
    assert "airflow.providers.google.cloud.triggers.pubsub.PubsubPullTrigger" in triggers
    outside = {path: file for path, file in triggers.items() if not any(file.startswith(s) for s in site)}
    assert not outside, f"trigger classes Composer 3's triggerer cannot import: {outside}"


def test_runtime_modules_cover_the_gcp_task_code() -> None:
    modules = runtime_modules()
    assert "fraud_mlops.registry.batch_prediction" in modules
    assert "airflow.providers.google.cloud.operators.vertex_ai.batch_prediction_job" in modules
    # the landing watcher's trigger, which the triggerer imports by its class path
    assert "airflow.providers.google.cloud.triggers.pubsub" in modules
    assert not set(modules) & LOCAL_ONLY
