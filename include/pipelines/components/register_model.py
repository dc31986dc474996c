# mypy: disable-error-code="valid-type,call-arg,name-match"
# (KFP reads the functional NamedTuple in the signature from the source; mypy cannot type it.)
"""Component: register the challenger (Vertex Model Registry version / local file registry)."""

from typing import NamedTuple

from kfp.dsl import Input, Model, Output

from include.pipelines.components._runtime import SKLEARN, VERTEX, fraud_component


@fraud_component(packages=(*SKLEARN, *VERTEX))
def register_model(
    model: Input[Model],
    registry_uri: str,
    model_name: str,
    snapshot_name: str,
    pipeline_run: str,
    threshold: float,
    metrics_json: str,
    gate_reason: str,
    serving_image: str,
    registered_model: Output[Model],
) -> NamedTuple("RegisterOutputs", model_version=str, aliases=str):
    """The registered artifact holds ``model.joblib`` and the complete ``metadata.json``."""
    import json
    from collections import namedtuple
    from pathlib import Path

    from fraud_mlops.training.steps import register_step

    result = register_step(
        Path(model.path),
        Path(registered_model.path),
        registered_model.uri,
        registry_uri,
        model_name,
        snapshot=snapshot_name,
        pipeline_run=pipeline_run,
        threshold=threshold,
        metrics=json.loads(metrics_json),
        gate_reason=gate_reason,
        serving_image=serving_image,
    )
    registered_model.metadata.update(
        {"model_name": model_name, "model_version": result["model_version"], "aliases": result["aliases"]}
    )
    return namedtuple("RegisterOutputs", ["model_version", "aliases"])(
        result["model_version"], ",".join(result["aliases"])
    )
