"""Component ``deploy_model``: the registered version on the endpoint, with its threshold."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fraud_mlops.registry.artifact import read_metadata
from fraud_mlops.registry.local_endpoint import read_endpoint


def test_the_first_model_takes_all_traffic(champion_v1: dict, evaluation: Any, endpoint_file: Path) -> None:
    assert json.loads(champion_v1["deployed"].traffic_json) == {"1": 100}
    (served,) = read_endpoint(endpoint_file).deployed_models
    assert served.model_version == "1" and served.threshold == evaluation.threshold
    assert read_metadata(Path(served.artifact_uri))["threshold"] == served.threshold
