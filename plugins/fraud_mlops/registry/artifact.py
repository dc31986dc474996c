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

MODEL_FILE = "model.joblib"  # the file name Vertex's prebuilt sklearn container loads
METADATA_FILE = "metadata.json"


def save_model(estimator: Any, model_dir: Path, metadata: dict[str, Any]) -> Path:
    """Write ``model.joblib`` and ``metadata.json`` into ``model_dir`` (Vertex's artifact layout)."""
    import joblib

    model_dir.mkdir(parents=True, exist_ok=True)
    joblib.dump(estimator, model_dir / MODEL_FILE)
    write_metadata(model_dir, metadata)
    return model_dir


def write_metadata(model_dir: Path, metadata: dict[str, Any]) -> None:
    (model_dir / METADATA_FILE).write_text(json.dumps(metadata, indent=2, sort_keys=True, default=str) + "\n")


def read_metadata(model_dir: Path) -> dict[str, Any]:
    path = model_dir / METADATA_FILE
    return json.loads(path.read_text()) if path.is_file() else {}


def load_model(model_dir: Path) -> Any:
    import joblib

    return joblib.load(model_dir / MODEL_FILE)
