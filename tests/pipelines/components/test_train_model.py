"""Component ``train_model``: the fitted estimator as a model artifact, traceable to its snapshot."""

from __future__ import annotations

from pathlib import Path

from fraud_mlops.registry.artifact import MODEL_FILE, read_metadata

from .conftest import SNAPSHOT


def test_writes_the_model_artifact_with_its_metadata(trained: dict) -> None:
    model = trained["model"]
    assert (Path(model.path) / MODEL_FILE).is_file()
    assert model.metadata["framework"] == "scikit-learn"
    assert trained["fit"]["train_rows"] == trained["dataset"].train_rows
    assert read_metadata(Path(model.path))["snapshot"] == SNAPSHOT
