# mypy: disable-error-code="valid-type,call-arg,name-match"
# (KFP reads the functional NamedTuple in the signature from the source; mypy cannot type it.)
"""Component: the gate's ``Else`` branch: record that and why the challenger was turned down."""

from typing import NamedTuple

from kfp.dsl import Markdown, Output

from include.pipelines.components._runtime import SKLEARN, fraud_component


@fraud_component(packages=SKLEARN)
def record_rejection(
    registry_uri: str,
    model_name: str,
    reason: str,
    snapshot_name: str,
    pipeline_run: str,
    metrics_json: str,
    rejection: Output[Markdown],
) -> NamedTuple("RejectOutputs", model_version=str, traffic_json=str):
    """Also keeps the pipeline honest: an ``If`` without ``Else`` is silently skipped by kfp.local."""
    import json
    from collections import namedtuple

    from fraud_mlops.training.steps import reject_step

    record = reject_step(
        registry_uri,
        model_name,
        reason=reason,
        snapshot=snapshot_name,
        pipeline_run=pipeline_run,
        metrics=json.loads(metrics_json),
    )
    with open(rejection.path, "w") as handle:
        handle.write(f"# Challenger rejected\n\n{reason}\n\n```json\n{json.dumps(record, indent=2)}\n```\n")
    return namedtuple("RejectOutputs", ["model_version", "traffic_json"])("", "{}")
