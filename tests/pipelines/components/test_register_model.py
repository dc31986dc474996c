"""Component ``register_model``: the registry's next version, with the complete metadata."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fraud_mlops.features import FEATURE_NAMES
from fraud_mlops.registry.artifact import read_metadata
from fraud_mlops.registry.local_registry import LocalModelRegistry
from fraud_mlops.registry.names import MODEL_NAME
from fraud_mlops.settings import Settings

from .conftest import SNAPSHOT


def test_the_first_model_is_version_1_and_champion(
    champion_v1: dict, evaluation: Any, local_settings: Settings
) -> None:
    registered = champion_v1["registered"]
    assert (registered.model_version, registered.aliases) == ("1", "champion")
    version = LocalModelRegistry(local_settings.registry_dir).get(MODEL_NAME, "champion")
    assert version is not None and version.version == "1"
    metadata = read_metadata(Path(version.artifact_uri))
    assert metadata["model_version"] == "1" and metadata["threshold"] == evaluation.threshold
    assert metadata["pipeline_run"] == "fraud-training-test-1" and metadata["snapshot"] == SNAPSHOT
    assert metadata["metrics"]["pr_auc"] == evaluation.pr_auc
    assert metadata["feature_names"] == list(FEATURE_NAMES)
