"""Component ``evaluate_model``: Vertex metrics artifacts and the HTML report."""

from __future__ import annotations

import json
from pathlib import Path

from .conftest import evaluate


def test_logs_vertex_metrics_and_writes_the_report(trained: dict) -> None:
    out, metrics, classification, report = evaluate(trained)
    assert metrics.metadata["pr_auc"] == out.pr_auc > 0.6 and metrics.metadata["threshold"] == out.threshold
    assert classification.metadata["confusionMatrix"]["annotationSpecs"] == [
        {"displayName": "legit"},
        {"displayName": "fraud"},
    ]
    assert len(classification.metadata["confidenceMetrics"]) > 10
    assert Path(report.path).read_text().count("data:image/png;base64,") == 3
    assert json.loads(out.metrics_json)["roc_auc"] == out.roc_auc
