# mypy: disable-error-code="valid-type,call-arg,name-match"
# (KFP reads the functional NamedTuple in the signature from the source; mypy cannot type it.)
"""Component: the deployment gate; its ``decision`` output drives the pipeline's ``dsl.If``/``Else``."""

from typing import NamedTuple

from include.pipelines.components._runtime import fraud_component


@fraud_component()
def decide_gate(
    metrics_json: str,
    has_champion: bool,
    champion_metrics_json: str,
    champion_version: str,
    min_pr_auc: float,
    min_roc_auc: float,
    min_recall: float,
    min_precision: float,
    champion_tolerance: float,
    pipeline_run: str,
) -> NamedTuple("GateOutputs", decision=str, reason=str, pipeline_run=str):
    """``decision`` is ``deploy`` or ``reject``; ``reason`` says which bar failed or why it passed."""
    import json
    from collections import namedtuple

    from fraud_mlops.training.gate import GateThresholds, decide

    thresholds = GateThresholds(min_pr_auc, min_roc_auc, min_recall, min_precision, champion_tolerance)
    champion = json.loads(champion_metrics_json) if has_champion else None
    result = decide(json.loads(metrics_json), thresholds, champion, champion_version)
    print(f"gate: {result.decision}: {result.reason}")
    return namedtuple("GateOutputs", ["decision", "reason", "pipeline_run"])(
        result.decision, result.reason, pipeline_run
    )
