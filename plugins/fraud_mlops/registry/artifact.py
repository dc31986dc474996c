"""The model artifact's format: one folder holding ``model.joblib`` and ``metadata.json``.

Training writes it, the registry copies and labels it, the local endpoint and batch scoring
load it. It lives with the registry because the registry owns model versions: serving reads
an artifact through this module without importing training code.

``model.joblib`` is a plain scikit-learn estimator (no project classes), so anything that can
``joblib.load`` it and call ``predict_proba`` on a float array in ``FEATURE_NAMES`` order (NaN
for missing) can serve it. ``metadata.json`` carries the operating threshold, metrics,
snapshot and pipeline run, and, once registered, the model version.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

MODEL_FILE = "model.joblib"  # the file name the model server (registry/model_server.py) loads
METADATA_FILE = "metadata.json"


def save_model(estimator: Any, model_dir: Path, metadata: dict[str, Any]) -> Path:
    """Write ``model.joblib`` and ``metadata.json`` into ``model_dir`` (Vertex's artifact layout).

    The metadata records the library versions that pickled the model (``training_versions``):
    the model server and the registry compare them with the serving image's (:mod:`.serving_image`).
    """
    import joblib

    from fraud_mlops.registry.serving_image import installed_versions

    model_dir.mkdir(parents=True, exist_ok=True)
    joblib.dump(estimator, model_dir / MODEL_FILE)
    write_metadata(model_dir, {"training_versions": installed_versions(), **metadata})
    return model_dir


def write_metadata(model_dir: Path, metadata: dict[str, Any]) -> None:
    (model_dir / METADATA_FILE).write_text(json.dumps(metadata, indent=2, sort_keys=True, default=str) + "\n")


def read_metadata(model_dir: Path) -> dict[str, Any]:
    path = model_dir / METADATA_FILE
    return json.loads(path.read_text()) if path.is_file() else {}


def load_model(model_dir: Path) -> Any:
    import joblib

    return joblib.load(model_dir / MODEL_FILE)
