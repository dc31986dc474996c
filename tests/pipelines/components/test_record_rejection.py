"""Component ``record_rejection``: why a challenger was turned down, and nothing deployed."""

from __future__ import annotations

from pathlib import Path

from kfp.dsl import Markdown

from fraud_mlops.registry.local_endpoint import read_endpoint
from fraud_mlops.registry.local_registry import LocalModelRegistry
from fraud_mlops.registry.names import MODEL_NAME
from fraud_mlops.settings import Settings
from include.pipelines.components.record_rejection import record_rejection

from .conftest import SNAPSHOT, artifact


def test_the_reason_is_recorded_and_the_endpoint_is_untouched(
    champion_v1: dict, trained: dict, local_settings: Settings, endpoint_file: Path
) -> None:
    reason = "rejected: pr_auc 0.0500 < minimum 0.5000"
    rejection = artifact(Markdown, trained["root"], "rejection")
    out = record_rejection.python_func(
        registry_uri=champion_v1["registry_uri"], model_name=MODEL_NAME, reason=reason, snapshot_name=SNAPSHOT,
        pipeline_run="fraud-training-test-2", metrics_json='{"pr_auc": 0.05}', rejection=rejection,
    )  # fmt: skip
    assert out.model_version == ""
    assert reason in Path(rejection.path).read_text()
    logged = LocalModelRegistry(local_settings.registry_dir).rejections(MODEL_NAME)
    assert [(r["pipeline_run"], r["reason"], r["snapshot"]) for r in logged] == [
        ("fraud-training-test-2", reason, SNAPSHOT)
    ]
    assert [m.model_version for m in read_endpoint(endpoint_file).deployed_models] == ["1"]
