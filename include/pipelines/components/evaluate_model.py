# mypy: disable-error-code="valid-type,call-arg,name-match"
# (KFP reads the functional NamedTuple in the signature from the source; mypy cannot type it.)
"""Component: metrics on the test split, ``Metrics``/``ClassificationMetrics`` artifacts, HTML report."""

from typing import NamedTuple

from kfp.dsl import HTML, ClassificationMetrics, Dataset, Input, Metrics, Model, Output

from include.pipelines.components._runtime import SKLEARN, fraud_component


@fraud_component(packages=(*SKLEARN, "matplotlib"))
def evaluate_model(
    model: Input[Model],
    validation: Input[Dataset],
    test: Input[Dataset],
    champion_metrics_json: str,
    champion_version: str,
    snapshot_name: str,
    metrics: Output[Metrics],
    classification: Output[ClassificationMetrics],
    report: Output[HTML],
) -> NamedTuple(
    "EvaluationOutputs",
    pr_auc=float,
    roc_auc=float,
    precision=float,
    recall=float,
    f1=float,
    threshold=float,
    metrics_json=str,
):
    """Threshold chosen on validation (max F1); everything else measured on test."""
    import json
    from collections import namedtuple
    from pathlib import Path

    from fraud_mlops.training.steps import evaluate_step

    champion = json.loads(champion_metrics_json) or None
    context = {
        "snapshot": snapshot_name,
        "model_type": model.metadata.get("model_type", ""),
        "champion_version": champion_version or "(none)",
        "threshold_rule": "max F1 on the validation split",
    }
    evaluation = evaluate_step(
        Path(model.path), Path(validation.path), Path(test.path), Path(report.path), context, champion
    )
    for name, value in evaluation.scalars().items():
        metrics.log_metric(name, value)
    classification.log_roc_curve(
        evaluation.roc_curve.x, evaluation.roc_curve.y, evaluation.roc_curve.thresholds
    )
    classification.log_confusion_matrix(["legit", "fraud"], evaluation.confusion)
    outputs = namedtuple(
        "EvaluationOutputs", ["pr_auc", "roc_auc", "precision", "recall", "f1", "threshold", "metrics_json"]
    )
    return outputs(
        evaluation.pr_auc,
        evaluation.roc_auc,
        evaluation.precision,
        evaluation.recall,
        evaluation.f1,
        evaluation.threshold,
        json.dumps(evaluation.scalars(), sort_keys=True),
    )
