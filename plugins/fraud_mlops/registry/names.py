"""The model's and the endpoint's names, the same on both targets.

Vertex AI calls them display names; the local registry and endpoint use them as folder and
file names. ``infra/`` creates the endpoint under :data:`ENDPOINT_NAME`
(tests/infra/test_iac_matches_code.py keeps the two equal), and the training pipeline's
``model_name`` parameter defaults to :data:`MODEL_NAME`.
"""

from __future__ import annotations

MODEL_NAME = "fraud-detector"
ENDPOINT_NAME = "fraud-endpoint"
