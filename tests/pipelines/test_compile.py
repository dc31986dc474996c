"""The committed pipeline YAML: equal to a fresh compile, reproducible, runnable on Vertex as named."""

from __future__ import annotations

import base64
import gzip
import io
import os
import re
import subprocess
import sys
import tarfile
import tomllib
from pathlib import Path

import pytest
import yaml

from fraud_mlops.pipeline_runs.kfp_local import without_pip_installs
from fraud_mlops.pipeline_runs.vertex import pipeline_for_project
from fraud_mlops.registry.images import image_tag
from fraud_mlops.settings import REPO_ROOT
from include.pipelines.compile import DEFAULT_OUTPUT, compiled_text
from include.pipelines.components._runtime import DECLARED_PACKAGES, EMBEDDED_MODULES, PINS, TRAINING_IMAGE
from tests.project_imports import imported_files


@pytest.fixture(scope="module")
def fresh() -> str:
    return compiled_text()


@pytest.fixture(scope="module")
def spec(fresh: str) -> dict:
    return yaml.safe_load(fresh)


def test_committed_yaml_equals_a_fresh_compile(fresh: str) -> None:
    assert DEFAULT_OUTPUT.read_text() == fresh, (
        "include/pipelines/fraud_training.yaml is stale: run `make compile`"
    )


def test_compile_is_byte_identical_in_another_process(fresh: str, tmp_path: Path) -> None:
    out = tmp_path / "again.yaml"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO_ROOT / "plugins"), str(REPO_ROOT)])}
    subprocess.run(
        [sys.executable, "-m", "include.pipelines.compile", "--output", str(out)],
        cwd=tmp_path, env=env, check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    assert out.read_bytes() == fresh.encode()


def _lock_versions() -> dict[str, str]:
    lock = tomllib.loads((REPO_ROOT / "uv.lock").read_text())
    return {p["name"]: p["version"] for p in lock["package"] if "version" in p}


def test_component_pins_equal_the_lock() -> None:
    locked = _lock_versions()
    assert {name: locked[name] for name in PINS} == PINS
    assert locked["kfp"] == "2.17.0"


def test_every_executor_runs_the_training_image_and_installs_nothing(spec: dict) -> None:
    executors = spec["deploymentSpec"]["executors"]
    assert len(executors) == 8
    for name, executor in executors.items():
        container = executor["container"]
        assert container["image"] == TRAINING_IMAGE, name
        assert container["command"][:2] == ["sh", "-ec"], name
        assert "pip install" not in " ".join(container["command"]), name  # no internet at start-up


def _requirement_pins(path: Path) -> dict[str, str]:
    return dict(re.findall(r"^([A-Za-z0-9_.-]+)==(\S+)$", path.read_text(), flags=re.M))


def test_the_training_image_holds_every_package_a_component_imports(spec: dict) -> None:
    image = _requirement_pins(REPO_ROOT / "images/training/requirements.txt")
    assert image == PINS  # and PINS equal the lock (test_component_pins_equal_the_lock)
    assert len(DECLARED_PACKAGES) == 8
    for component, packages in DECLARED_PACKAGES.items():
        assert set(packages) <= set(image), component
    assert set(DECLARED_PACKAGES["train_model"]) >= {"scikit-learn", "pandas", "numpy"}
    server = _requirement_pins(REPO_ROOT / "images/model_server/requirements.txt")
    for name in ("scikit-learn", "numpy", "scipy", "joblib"):  # trained here, loaded there
        assert image[name] == server[name], name
    dockerfile = (REPO_ROOT / "images/training/Dockerfile").read_text()
    assert "images/training/requirements.lock.txt" in dockerfile  # generated from requirements.txt
    locked = (REPO_ROOT / "images/training/requirements.lock.txt").read_text()
    assert re.search(r"^kfp==2\.17\.0 \\$", locked, flags=re.M)  # the executor, --no-deps


def test_the_vertex_runner_fills_in_the_projects_image(fresh: str) -> None:
    text = pipeline_for_project(fresh, "fraud-prj", "europe-west4")
    images = {e["container"]["image"] for e in yaml.safe_load(text)["deploymentSpec"]["executors"].values()}
    assert images == {f"europe-west4-docker.pkg.dev/fraud-prj/fraud-images/training:{image_tag('training')}"}
    assert re.fullmatch(r"sklearn1\.9\.1-numpy2\.4\.6-[0-9a-f]{12}", image_tag("training"))
    assert "{project}" not in text


def test_the_runner_keeps_the_tag_the_compile_wrote(fresh: str) -> None:
    """During a deploy the plugins (which compute the tag) go up before ``include/`` (the YAML):
    a run starting in between fills in the project of the YAML it has and keeps its tag, the
    build of the code that YAML embeds."""
    older = fresh.replace(image_tag("training"), "sklearn1.9.1-numpy2.4.6-0123456789ab")
    text = pipeline_for_project(older, "fraud-prj", "europe-west4")
    images = {e["container"]["image"] for e in yaml.safe_load(text)["deploymentSpec"]["executors"].values()}
    assert images == {
        "europe-west4-docker.pkg.dev/fraud-prj/fraud-images/training:sklearn1.9.1-numpy2.4.6-0123456789ab"
    }
    with pytest.raises(ValueError, match="does not name the training image"):
        pipeline_for_project(fresh.replace("fraud-images/training:", "other/training:"), "p", "r")


def _embedded_members(spec: dict, executor: str) -> list[tarfile.TarInfo]:
    source = spec["deploymentSpec"]["executors"][executor]["container"]["command"][-1]
    archive = re.search(r"__KFP_EMBEDDED_ARCHIVE_B64 = '([^']+)'", source)
    assert archive, "component does not embed the project code"
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(base64.b64decode(archive[1])))) as tar:
        return tar.getmembers()


def test_project_code_is_embedded_without_caches_times_or_owners(spec: dict) -> None:
    members = _embedded_members(spec, "exec-decide-gate")
    files = sorted(m.name.removeprefix("./") for m in members if m.isfile())
    assert files == sorted(EMBEDDED_MODULES)
    assert all(m.mtime == 0 and m.uid == 0 and m.uname == "" for m in members)


def test_every_project_import_of_the_embedded_code_is_embedded() -> None:
    """The training image holds no project code: each step runs the modules its archive embeds.
    A project module one of them imports, at the top or in a function, that the list leaves out
    fails the step on Vertex only (``kfp.local`` runs on the venv, where all of ``plugins/`` is
    importable): ``fraud_mlops.retries``, once the registry's reads retried, failed every gcp
    training run's gate, register and deploy with ``ModuleNotFoundError``."""
    missing = {
        found: relative
        for relative in EMBEDDED_MODULES
        for found in imported_files(relative)
        if found not in EMBEDDED_MODULES
    }
    assert missing == {}, f"imported by embedded modules but not embedded: {missing}"


def test_gate_has_both_branches_on_the_decision(spec: dict) -> None:
    """``If`` + ``Else`` (kfp.local silently skips a root-level ``If`` alone): both conditions exist."""
    branches = spec["root"]["dag"]["tasks"]["condition-branches-1"]
    assert "decide-gate" in branches["dependentTasks"]
    inner = spec["components"]["comp-condition-branches-1"]["dag"]["tasks"]
    decision = "inputs.parameter_values['pipelinechannel--decide-gate-decision'] == 'deploy'"
    assert {k: (v["taskInfo"]["name"], v["triggerPolicy"]["condition"]) for k, v in inner.items()} == {
        "condition-2": ("gate-passed", decision),
        "condition-3": ("gate-failed", f"!({decision})"),
    }
    assert spec["root"]["outputDefinitions"]["parameters"].keys() >= {
        "decision",
        "model_version",
        "pipeline_run",
    }


def test_local_variant_is_the_compiled_pipeline(fresh: str) -> None:
    """Nothing to drop any more: kfp.local runs the committed YAML as it is (images are ignored)."""
    assert yaml.safe_load(without_pip_installs(fresh)) == yaml.safe_load(fresh)
