"""The naive baseline of bench_serving.py: the prediction function as a first draft would be.

Same HTTP stack (functions-framework + gunicorn), same answers for a valid known card, but
per request it opens the online store, reads the endpoint file, loads the model from disk
with joblib and calls the estimator's ``predict_proba``. No validation beyond the Luhn check
and no unknown-card or no-model handling: it exists only to be measured against.
"""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path
from typing import Any

import functions_framework
import joblib
import numpy as np

from fraud_mlops import targets
from fraud_mlops.features import FEATURE_NAMES
from fraud_mlops.pseudonym import luhn_valid, normalise_card_number
from fraud_mlops.settings import get_settings

LOCAL_DIR = Path(os.environ["MLOPS_LOCAL_DIR"])
PSEUDONYMISE = targets.pseudonymiser(get_settings())


@functions_framework.http
def predict(request: Any) -> tuple[str, int, dict[str, str]]:
    digits = normalise_card_number(request.get_json()["card_number"])
    if not luhn_valid(digits):
        return json.dumps({"error": "invalid_card_number"}), 400, {}
    conn = sqlite3.connect(LOCAL_DIR / "online_store" / "features.sqlite")
    cursor = conn.execute("SELECT * FROM online_features WHERE card_pseudonym = ?", (PSEUDONYMISE(digits),))
    row = dict(zip([d[0] for d in cursor.description], cursor.fetchone(), strict=True))
    conn.close()
    endpoint = json.loads((LOCAL_DIR / "endpoints" / "fraud-endpoint.json").read_text())
    deployed = endpoint["deployed_models"][0]
    model = joblib.load(Path(deployed["artifact_uri"]) / "model.joblib")
    vector = np.array([[np.nan if row[n] is None else row[n] for n in FEATURE_NAMES]], dtype=float)
    probability = float(model.predict_proba(vector)[0, 1])
    body = {"fraud_probability": probability, "model": {"version": deployed["model_version"]}}
    return json.dumps(body), 200, {"Content-Type": "application/json"}
