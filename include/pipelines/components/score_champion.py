# mypy: disable-error-code="valid-type,call-arg,name-match"
# (KFP reads the functional NamedTuple in the signature from the source; mypy cannot type it.)
"""Component: score the current champion on the challenger's test split (same rows, fair fight)."""

from typing import NamedTuple

from kfp.dsl import Dataset, Input

from include.pipelines.components._runtime import SKLEARN, VERTEX, fraud_component


@fraud_component(packages=(*SKLEARN, *VERTEX))
def score_champion(
    test: Input[Dataset],
    registry_uri: str,
    model_name: str,
) -> NamedTuple("ChampionOutputs", has_champion=bool, version=str, pr_auc=float, metrics_json=str):
    """No champion yet → ``has_champion`` False and zeros; the gate then skips the comparison."""
    import json
    from collections import namedtuple
    from pathlib import Path

    from fraud_mlops.training.steps import score_champion_step

    result = score_champion_step(Path(test.path), registry_uri, model_name)
    outputs = namedtuple("ChampionOutputs", ["has_champion", "version", "pr_auc", "metrics_json"])
    metrics = result["metrics"]
    return outputs(
        result["has_champion"], result["version"], float(metrics.get("pr_auc", 0.0)), json.dumps(metrics)
    )
