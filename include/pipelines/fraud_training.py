"""The training pipeline: snapshot → dataset → train → evaluate → gate → register + deploy.

Compiled to ``fraud_training.yaml`` (``make compile``), which is what Vertex AI Pipelines runs
and what the local target runs with ``kfp.local``. Only parameter values differ by target
(snapshot URI, registry and endpoint URIs); see :mod:`fraud_mlops.training.pipeline_params`.

The gate's ``dsl.If`` always has a ``dsl.Else``: kfp 2.17's local runner silently skips a
root-level ``If`` without one and still reports success, and a rejection deserves a record.
"""

from typing import NamedTuple

from kfp import dsl

from fraud_mlops.registry.names import MODEL_NAME
from include.pipelines.components.build_dataset import build_dataset
from include.pipelines.components.decide_gate import decide_gate
from include.pipelines.components.deploy_model import deploy_model
from include.pipelines.components.evaluate_model import evaluate_model
from include.pipelines.components.record_rejection import record_rejection
from include.pipelines.components.register_model import register_model
from include.pipelines.components.score_champion import score_champion
from include.pipelines.components.train_model import train_model

PIPELINE_NAME = "fraud-training"
DEPLOY = "deploy"  # fraud_mlops.training.gate.DEPLOY; the compiled condition compares to it


class PipelineOutputs(NamedTuple):
    decision: str
    reason: str
    model_version: str
    traffic_json: str
    metrics_json: str
    champion_version: str
    pipeline_run: str


@dsl.pipeline(name=PIPELINE_NAME, description="Card-fraud model: train, evaluate, gate, register, deploy.")
def fraud_training(
    snapshot_uri: str,
    snapshot_name: str,
    registry_uri: str,
    endpoint_uri: str,
    model_name: str = MODEL_NAME,
    model_type: str = "hist_gradient_boosting",
    seed: int = 0,
    validation_fraction: float = 0.15,
    test_fraction: float = 0.15,
    min_pr_auc: float = 0.5,
    min_roc_auc: float = 0.85,
    min_recall: float = 0.0,
    min_precision: float = 0.0,
    champion_tolerance: float = 0.0,
    canary_percent: int = 10,
    serving_image: str = "",
    machine_type: str = "",
) -> PipelineOutputs:
    data = build_dataset(
        snapshot_uri=snapshot_uri, validation_fraction=validation_fraction, test_fraction=test_fraction
    ).set_display_name("dataset-from-snapshot")

    champion = score_champion(
        test=data.outputs["test"], registry_uri=registry_uri, model_name=model_name
    ).set_display_name("score-champion")
    champion.set_caching_options(False)  # the champion changes between runs; never reuse a score

    trained = train_model(
        train=data.outputs["train"],
        validation=data.outputs["validation"],
        model_type=model_type,
        seed=seed,
        snapshot_name=snapshot_name,
    ).set_display_name("train")

    evaluation = evaluate_model(
        model=trained.outputs["model"],
        validation=data.outputs["validation"],
        test=data.outputs["test"],
        champion_metrics_json=champion.outputs["metrics_json"],
        champion_version=champion.outputs["version"],
        snapshot_name=snapshot_name,
    ).set_display_name("evaluate")

    gate = decide_gate(
        metrics_json=evaluation.outputs["metrics_json"],
        has_champion=champion.outputs["has_champion"],
        champion_metrics_json=champion.outputs["metrics_json"],
        champion_version=champion.outputs["version"],
        min_pr_auc=min_pr_auc,
        min_roc_auc=min_roc_auc,
        min_recall=min_recall,
        min_precision=min_precision,
        champion_tolerance=champion_tolerance,
        pipeline_run=dsl.PIPELINE_JOB_NAME_PLACEHOLDER,
    ).set_display_name("gate")
    gate.set_caching_options(False)

    with dsl.If(gate.outputs["decision"] == DEPLOY, name="gate-passed"):
        registered = register_model(
            model=trained.outputs["model"],
            registry_uri=registry_uri,
            model_name=model_name,
            snapshot_name=snapshot_name,
            pipeline_run=gate.outputs["pipeline_run"],
            threshold=evaluation.outputs["threshold"],
            metrics_json=evaluation.outputs["metrics_json"],
            gate_reason=gate.outputs["reason"],
            serving_image=serving_image,
        ).set_display_name("register")
        registered.set_caching_options(False)
        deployed = deploy_model(
            registry_uri=registry_uri,
            endpoint_uri=endpoint_uri,
            model_name=model_name,
            model_version=registered.outputs["model_version"],
            threshold=evaluation.outputs["threshold"],
            canary_percent=canary_percent,
            machine_type=machine_type,
        ).set_display_name("deploy")
        deployed.set_caching_options(False)
    with dsl.Else(name="gate-failed"):
        rejected = record_rejection(
            registry_uri=registry_uri,
            model_name=model_name,
            reason=gate.outputs["reason"],
            snapshot_name=snapshot_name,
            pipeline_run=gate.outputs["pipeline_run"],
            metrics_json=evaluation.outputs["metrics_json"],
        ).set_display_name("record-rejection")
        rejected.set_caching_options(False)

    return PipelineOutputs(
        decision=gate.outputs["decision"],
        reason=gate.outputs["reason"],
        model_version=dsl.OneOf(deployed.outputs["model_version"], rejected.outputs["model_version"]),
        traffic_json=dsl.OneOf(deployed.outputs["traffic_json"], rejected.outputs["traffic_json"]),
        metrics_json=evaluation.outputs["metrics_json"],
        champion_version=champion.outputs["version"],
        pipeline_run=gate.outputs["pipeline_run"],
    )
