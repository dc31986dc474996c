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
from fraud_mlops.settings import REPO_ROOT
from include.pipelines.compile import DEFAULT_OUTPUT, compiled_text
from include.pipelines.components._runtime import BASE_IMAGE, EMBEDDED_MODULES, PINS


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


def test_every_executor_names_the_image_and_pinned_packages(spec: dict) -> None:
    executors = spec["deploymentSpec"]["executors"]
    assert len(executors) == 8
    locked = _lock_versions()
    for name, executor in executors.items():
        container = executor["container"]
        assert container["image"] == BASE_IMAGE, name
        installs = container["command"][2]
        assert "pip install" in installs and "'kfp==2.17.0' '--no-deps'" in installs, name
        for package, version in re.findall(r"'([a-z0-9-]+)==([0-9.]+)'", installs):
            assert locked[package] == version, (name, package)
    train = executors["exec-train-model"]["container"]["command"][2]
    assert "'scikit-learn==1.9.1'" in train and "'pandas==" in train


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


def test_local_variant_only_drops_the_pip_prelude(fresh: str) -> None:
    original = yaml.safe_load(fresh)
    local = yaml.safe_load(without_pip_installs(fresh))
    for name, executor in local["deploymentSpec"]["executors"].items():
        command = executor["container"]["command"]
        assert "pip install" not in " ".join(command)
        assert command == original["deploymentSpec"]["executors"][name]["container"]["command"][3:]
        assert command[:2] == ["sh", "-ec"] and "kfp.dsl.executor_main" in command[2]
    local["deploymentSpec"] = original["deploymentSpec"] = None
    assert local == original  # graph, parameters and outputs untouched
