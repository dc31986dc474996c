"""Fixtures of the component tests: each component's ``python_func`` on local artifacts, in pipeline order.

Components are called as the pipeline calls them (``.python_func`` with KFP artifact objects
whose URIs are local paths), against the real local registry and endpoint files.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from kfp.dsl import HTML, ClassificationMetrics, Dataset, Metrics, Model

from fraud_mlops.registry.names import MODEL_NAME
from fraud_mlops.settings import Settings
from include.pipelines.components.build_dataset import build_dataset
from include.pipelines.components.decide_gate import decide_gate
from include.pipelines.components.deploy_model import deploy_model
from include.pipelines.components.evaluate_model import evaluate_model
from include.pipelines.components.register_model import register_model
from include.pipelines.components.train_model import train_model

SNAPSHOT = "training_snapshot_20260901T000000_abcd1234"
GATE_ARGS: dict[str, Any] = {
    "min_pr_auc": 0.5,
    "min_roc_auc": 0.85,
    "min_recall": 0.0,
    "min_precision": 0.0,
    "champion_tolerance": 0.0,
    "pipeline_run": "fraud-training-test-1",
}


def artifact(kind: Any, root: Path, name: str) -> Any:
    return kind(name=name, uri=str(root / name))


@pytest.fixture
def trained(local_settings: Settings, snapshot_writer: Any, examples: pd.DataFrame, tmp_path: Path) -> dict:
    """build_dataset → train_model, as the pipeline runs them."""
    path = snapshot_writer(SNAPSHOT, examples)
    splits = {n: artifact(Dataset, tmp_path, n) for n in ("train", "validation", "test")}
    out = build_dataset.python_func(
        snapshot_uri=str(path), validation_fraction=0.15, test_fraction=0.15, **splits
    )
    model = artifact(Model, tmp_path, "model")
    fit = json.loads(
        train_model.python_func(
            train=splits["train"], validation=splits["validation"], model_type="hist_gradient_boosting",
            seed=0, snapshot_name=SNAPSHOT, model=model,
        )
    )  # fmt: skip
    return {"splits": splits, "dataset": out, "model": model, "fit": fit, "root": tmp_path}


def evaluate(trained: dict, champion_json: str = "{}", champion_version: str = "") -> tuple[Any, ...]:
    root = trained["root"]
    metrics, classification, report = (
        artifact(Metrics, root, "metrics"),
        artifact(ClassificationMetrics, root, "classification"),
        artifact(HTML, root, "report"),
    )
    out = evaluate_model.python_func(
        model=trained["model"], validation=trained["splits"]["validation"], test=trained["splits"]["test"],
        champion_metrics_json=champion_json, champion_version=champion_version, snapshot_name=SNAPSHOT,
        metrics=metrics, classification=classification, report=report,
    )  # fmt: skip
    return out, metrics, classification, report


@pytest.fixture
def evaluation(trained: dict) -> Any:
    return evaluate(trained)[0]


@pytest.fixture
def endpoint_file(local_settings: Settings) -> Path:
    return local_settings.local_dir / "endpoints" / "fraud-endpoint.json"


@pytest.fixture
def champion_v1(trained: dict, evaluation: Any, local_settings: Settings, endpoint_file: Path) -> dict:
    """The first model: gated without a champion, registered (v1, alias champion), deployed."""
    registry_uri = str(local_settings.registry_dir)
    gate = decide_gate.python_func(
        metrics_json=evaluation.metrics_json, has_champion=False, champion_metrics_json="{}",
        champion_version="", **GATE_ARGS,
    )  # fmt: skip
    registered = register_model.python_func(
        model=trained["model"], registry_uri=registry_uri, model_name=MODEL_NAME,
        snapshot_name=SNAPSHOT, pipeline_run=gate.pipeline_run, threshold=evaluation.threshold,
        metrics_json=evaluation.metrics_json, gate_reason=gate.reason, serving_image="",
        registered_model=artifact(Model, trained["root"], "registered"),
    )  # fmt: skip
    deployed = deploy_model.python_func(
        registry_uri=registry_uri, endpoint_uri=str(endpoint_file), model_name=MODEL_NAME,
        model_version=registered.model_version, threshold=evaluation.threshold, canary_percent=10,
        machine_type="",
    )  # fmt: skip
    return {"registry_uri": registry_uri, "gate": gate, "registered": registered, "deployed": deployed}
