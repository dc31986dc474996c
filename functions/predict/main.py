"""Card-fraud prediction function (functions-framework; Cloud Run functions, 2nd gen).

Runs unchanged under ``functions-framework --target predict --source functions/predict/main.py``
locally (with ``plugins/`` on ``PYTHONPATH``) and on Google Cloud, where the deploy bundle
(``scripts/bundle_function.py``) places a copy of the ``fraud_mlops`` package beside this file.
All the logic lives in :mod:`fraud_mlops.serving`; docs/serving.md describes the API.
"""

from __future__ import annotations

from typing import Any

import functions_framework

from fraud_mlops.serving.http import handle, preload

preload()  # local target: load the deployed models once, before gunicorn forks its workers


@functions_framework.http
def predict(request: Any) -> tuple[str, int, dict[str, str]]:
    """POST a JSON body with ``card_number``; see docs/serving.md."""
    return handle(request)
