"""The prediction use case, free of any web framework: bytes in, status and JSON out.

Steps: authorise (local bearer token, optional) → validate → pseudonymise the card number
with the same keyed function as the SQL → fetch the card's features online → apply the
request's transaction fields → call the model through the endpoint → answer with the score,
the decision at the model's own threshold, and which model answered.

Defined answers, never a bare 500 for bad input:

=====  ==========================  ============================================================
code   error                       when
=====  ==========================  ============================================================
400    invalid_card_number, ...    the body or a field is invalid (see :mod:`.request`)
401    unauthorized                a local bearer token is configured and not presented
404    unknown_card                the card has no features online: ingestion never saw it
413    body_too_large              the body exceeds 16 KiB
503    no_model_deployed           the endpoint serves no model
503    feature_store_not_ready     the online store has never been synced
503    not_configured              the pseudonymisation key is missing
=====  ==========================  ============================================================

Unknown cards get 404 rather than a cold-start score: the model was trained on features that
exist for every card the pipeline has seen, and answering an unseen card with defaults would
look like a real score while meaning nothing (see docs/serving.md).
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from fraud_mlops.feature_store.base import OnlineFeatureReader
from fraud_mlops.feature_store.records import OnlineStoreNotReady
from fraud_mlops.features import FEATURE_NAMES
from fraud_mlops.pseudonym import pseudonymise
from fraud_mlops.registry.endpoint_client import ModelClient, NoModelDeployed
from fraud_mlops.serving.request import RequestError, parse_request

log = logging.getLogger(__name__)

_POSITION = {name: i for i, name in enumerate(FEATURE_NAMES)}


@dataclass(frozen=True)
class Reply:
    """What to send back, plus the fields the structured log adds (never a card number)."""

    status: int
    body: dict[str, Any]
    log_fields: dict[str, Any] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)
    served: Mapping[str, Any] = field(default_factory=dict)  # prediction log: pseudonym, vector


def error_reply(status: int, code: str, message: str, request_id: str, **headers: str) -> Reply:
    return Reply(
        status=status,
        body={"error": code, "message": message, "request_id": request_id},
        log_fields={"error": code},
        headers=headers,
    )


@dataclass
class PredictionService:
    key: bytes | None
    features: OnlineFeatureReader
    model: ModelClient
    auth_token: str | None = None

    def handle(
        self,
        body: bytes,
        request_id: str,
        content_length: int | None = None,
        authorization: str | None = None,
    ) -> Reply:
        if self.auth_token is not None and not _bearer_matches(authorization, self.auth_token):
            return error_reply(
                401,
                "unauthorized",
                "a valid bearer token is required",
                request_id,
                **{"WWW-Authenticate": "Bearer"},
            )
        try:
            request = parse_request(body, content_length)
        except RequestError as exc:
            return error_reply(exc.status, exc.code, exc.message, request_id)
        if not self.key:
            return error_reply(
                503, "not_configured", "the pseudonymisation key is not configured", request_id
            )

        pseudonym = pseudonymise(request.card_digits, self.key)
        try:
            row = self.features.fetch_one(pseudonym)
        except OnlineStoreNotReady:
            return error_reply(
                503, "feature_store_not_ready", "the online store has not been synced", request_id
            )
        if row is None:
            return error_reply(
                404, "unknown_card", "no features for this card: it was never ingested", request_id
            )

        vector = row.vector()
        for name, value in request.overrides.items():
            vector[_POSITION[name]] = float(value)
        try:
            answer = self.model.predict(vector)
        except NoModelDeployed:
            return error_reply(503, "no_model_deployed", "no model is deployed on the endpoint", request_id)

        model = {
            "name": answer.model_name,
            "version": answer.model_version,
            "deployed_model_id": answer.deployed_model_id,
        }
        body_out = {
            "request_id": request_id,
            "fraud_probability": round(answer.probability, 6),
            "decision": "fraud" if answer.is_fraud else "legitimate",
            "threshold": answer.threshold,
            "model": model,
            "features": {
                "timestamp": row.feature_timestamp.isoformat().replace("+00:00", "Z"),
                "sync_id": row.sync_id,
                "from_request": sorted(request.overrides),
            },
        }
        return Reply(
            status=200,
            body=body_out,
            log_fields={
                "model_version": answer.model_version,
                "deployed_model_id": answer.deployed_model_id,
                "decision": body_out["decision"],
            },
            served={"card_pseudonym": pseudonym, "vector": vector},
        )


def _bearer_matches(authorization: str | None, token: str) -> bool:
    if not authorization or not authorization.startswith("Bearer "):
        return False
    return hmac.compare_digest(authorization[len("Bearer ") :].strip().encode(), token.encode())
