"""Each component's function (``python_func``) on small data, chained as the pipeline chains them."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from kfp.dsl import HTML, ClassificationMetrics, Dataset, Markdown, Metrics, Model

from fraud_mlops.features import EVENT_TIME, FEATURE_NAMES
from fraud_mlops.registry.artifact import MODEL_FILE, read_metadata
from fraud_mlops.registry.local_endpoint import read_endpoint
from fraud_mlops.registry.local_registry import LocalModelRegistry
from fraud_mlops.settings import Settings
from include.pipelines.components.build_dataset import build_dataset
from include.pipelines.components.decide_gate import decide_gate
from include.pipelines.components.deploy_model import deploy_model
from include.pipelines.components.evaluate_model import evaluate_model
from include.pipelines.components.record_rejection import record_rejection
from include.pipelines.components.register_model import register_model
from include.pipelines.components.score_champion import score_champion
from include.pipelines.components.train_model import train_model

SNAPSHOT = "training_snapshot_20260901T000000_abcd1234"


def _artifact(kind, root: Path, name: str):  # type: ignore[no-untyped-def]
    return kind(name=name, uri=str(root / name))


@pytest.fixture
def trained(local_settings: Settings, snapshot_writer, examples: pd.DataFrame, tmp_path: Path) -> dict:
    """build_dataset → train_model, as the pipeline runs them."""
    path = snapshot_writer(SNAPSHOT, examples)
    splits = {n: _artifact(Dataset, tmp_path, n) for n in ("train", "validation", "test")}
    out = build_dataset.python_func(
        snapshot_uri=str(path), validation_fraction=0.15, test_fraction=0.15, **splits
    )
    model = _artifact(Model, tmp_path, "model")
    fit = json.loads(
        train_model.python_func(
            train=splits["train"], validation=splits["validation"], model_type="hist_gradient_boosting",
            seed=0, snapshot_name=SNAPSHOT, model=model,
        )
    )  # fmt: skip
    return {"splits": splits, "dataset": out, "model": model, "fit": fit, "root": tmp_path}


def test_dataset_and_train_components_write_their_artifacts(trained: dict) -> None:
    out, splits = trained["dataset"], trained["splits"]
    assert out.train_rows + json.loads(out.summary_json)["validation"]["rows"] + out.test_rows == 4000
    train, test = pd.read_parquet(splits["train"].path), pd.read_parquet(splits["test"].path)
    assert train[EVENT_TIME].max() < test[EVENT_TIME].min()
    assert splits["test"].metadata["rows"] == out.test_rows and splits["test"].metadata["format"] == "parquet"
    model = trained["model"]
    assert (Path(model.path) / MODEL_FILE).is_file()
    assert model.metadata["framework"] == "scikit-learn" and trained["fit"]["train_rows"] == out.train_rows
    assert read_metadata(Path(model.path))["snapshot"] == SNAPSHOT


def _evaluate(trained: dict, champion_json: str = "{}", champion_version: str = ""):  # type: ignore[no-untyped-def]
    root = trained["root"]
    metrics, classification, report = (
        _artifact(Metrics, root, "metrics"),
        _artifact(ClassificationMetrics, root, "classification"),
        _artifact(HTML, root, "report"),
    )
    out = evaluate_model.python_func(
        model=trained["model"], validation=trained["splits"]["validation"], test=trained["splits"]["test"],
        champion_metrics_json=champion_json, champion_version=champion_version, snapshot_name=SNAPSHOT,
        metrics=metrics, classification=classification, report=report,
    )  # fmt: skip
    return out, metrics, classification, report


def test_evaluate_component_logs_vertex_metrics_and_writes_the_report(trained: dict) -> None:
    out, metrics, classification, report = _evaluate(trained)
    assert metrics.metadata["pr_auc"] == out.pr_auc > 0.6 and metrics.metadata["threshold"] == out.threshold
    assert classification.metadata["confusionMatrix"]["annotationSpecs"] == [
        {"displayName": "legit"},
        {"displayName": "fraud"},
    ]
    assert len(classification.metadata["confidenceMetrics"]) > 10
    assert Path(report.path).read_text().count("data:image/png;base64,") == 3
    assert json.loads(out.metrics_json)["roc_auc"] == out.roc_auc


def test_gate_register_deploy_then_a_worse_challenger_is_turned_down(
    trained: dict, local_settings: Settings
) -> None:
    registry_uri = str(local_settings.registry_dir)
    endpoint_file = local_settings.local_dir / "endpoints" / "fraud-endpoint.json"
    champion = score_champion.python_func(
        test=trained["splits"]["test"], registry_uri=registry_uri, model_name="fraud-detector"
    )
    assert champion.has_champion is False and champion.version == ""
    evaluation = _evaluate(trained)[0]
    gate_args = dict(
        min_pr_auc=0.5, min_roc_auc=0.85, min_recall=0.0, min_precision=0.0, champion_tolerance=0.0,
        pipeline_run="fraud-training-test-1",
    )  # fmt: skip
    gate = decide_gate.python_func(
        metrics_json=evaluation.metrics_json, has_champion=False, champion_metrics_json="{}",
        champion_version="", **gate_args,
    )  # fmt: skip
    assert gate.decision == "deploy", gate.reason

    registered_model = _artifact(Model, trained["root"], "registered")
    registered = register_model.python_func(
        model=trained["model"], registry_uri=registry_uri, model_name="fraud-detector",
        snapshot_name=SNAPSHOT, pipeline_run=gate.pipeline_run, threshold=evaluation.threshold,
        metrics_json=evaluation.metrics_json, gate_reason=gate.reason, serving_image="",
        registered_model=registered_model,
    )  # fmt: skip
    assert (registered.model_version, registered.aliases) == ("1", "champion")
    deployed = deploy_model.python_func(
        registry_uri=registry_uri, endpoint_uri=str(endpoint_file), model_name="fraud-detector",
        model_version="1", threshold=evaluation.threshold, canary_percent=10, machine_type="",
    )  # fmt: skip
    assert json.loads(deployed.traffic_json) == {"1": 100}
    served = read_endpoint(endpoint_file).deployed_models[0]
    metadata = read_metadata(Path(served.artifact_uri))
    assert (
        metadata["model_version"] == "1" and metadata["threshold"] == served.threshold == evaluation.threshold
    )
    assert metadata["pipeline_run"] == "fraud-training-test-1" and metadata["snapshot"] == SNAPSHOT
    assert metadata["metrics"]["pr_auc"] == evaluation.pr_auc and metadata["feature_names"] == list(
        FEATURE_NAMES
    )

    # The champion now exists and is scored on the same test rows; a weaker challenger loses.
    champion = score_champion.python_func(
        test=trained["splits"]["test"], registry_uri=registry_uri, model_name="fraud-detector"
    )
    assert champion.has_champion and champion.version == "1"
    assert champion.pr_auc == pytest.approx(evaluation.pr_auc)
    weaker = json.dumps({**json.loads(evaluation.metrics_json), "pr_auc": evaluation.pr_auc - 0.01})
    gate = decide_gate.python_func(
        metrics_json=weaker, has_champion=True, champion_metrics_json=champion.metrics_json,
        champion_version=champion.version, **gate_args,
    )  # fmt: skip
    assert gate.decision == "reject" and "champion 1" in gate.reason

    rejection = _artifact(Markdown, trained["root"], "rejection")
    out = record_rejection.python_func(
        registry_uri=registry_uri, model_name="fraud-detector", reason=gate.reason, snapshot_name=SNAPSHOT,
        pipeline_run="fraud-training-test-2", metrics_json=weaker, rejection=rejection,
    )  # fmt: skip
    assert out.model_version == ""
    assert gate.reason in Path(rejection.path).read_text()
    logged = LocalModelRegistry(local_settings.registry_dir).rejections("fraud-detector")
    assert [r["pipeline_run"] for r in logged] == ["fraud-training-test-2"]
    assert [m.model_version for m in read_endpoint(endpoint_file).deployed_models] == ["1"]
