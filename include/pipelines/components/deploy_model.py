# mypy: disable-error-code="valid-type,call-arg,name-match"
# (KFP reads the functional NamedTuple in the signature from the source; mypy cannot type it.)
"""Component: deploy the registered version to the endpoint with a canary traffic split."""

from typing import NamedTuple

from include.pipelines.components._runtime import SKLEARN, VERTEX, fraud_component


@fraud_component(packages=(*SKLEARN, *VERTEX))
def deploy_model(
    registry_uri: str,
    endpoint_uri: str,
    model_name: str,
    model_version: str,
    threshold: float,
    canary_percent: int,
    machine_type: str,
) -> NamedTuple("DeployOutputs", model_version=str, traffic_json=str):
    """First deploy takes 100 %; later ones ``canary_percent`` beside the champion."""
    import json
    from collections import namedtuple

    from fraud_mlops.training.steps import deploy_step

    split = deploy_step(
        registry_uri, endpoint_uri, model_name, model_version, threshold, canary_percent, machine_type
    )
    print(f"traffic after deploying {model_name} v{model_version}: {split}")
    return namedtuple("DeployOutputs", ["model_version", "traffic_json"])(
        model_version, json.dumps(split, sort_keys=True)
    )
