"""Component: fit the model on the training split; a ``Model`` artifact in Vertex's sklearn layout."""

from kfp.dsl import Dataset, Input, Model, Output

from include.pipelines.components._runtime import SKLEARN, fraud_component


@fraud_component(packages=SKLEARN)
def train_model(
    train: Input[Dataset],
    validation: Input[Dataset],
    model_type: str,
    seed: int,
    snapshot_name: str,
    model: Output[Model],
) -> str:
    """Writes ``model.joblib`` + ``metadata.json`` into the artifact folder; returns the fit summary."""
    import json
    from pathlib import Path

    from fraud_mlops.training.steps import train_step

    info = train_step(
        Path(train.path), Path(validation.path), model_type, seed, Path(model.path), snapshot_name
    )
    model.metadata.update({"framework": "scikit-learn", "model_type": model_type, **info["params"]})
    return json.dumps(info, sort_keys=True)
