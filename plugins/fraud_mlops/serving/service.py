"""The prediction use case, free of any web framework: bytes in, status and JSON out.

Steps: authorise (local bearer token, optional) → validate → pseudonymise the card number
with the same keyed function as the SQL → fetch the card's features and state online → for a
request with a transaction, compute its features from the state by the training SQL's rules
(request-time features) → call the model through the endpoint → answer with the score, the
decision at the model's own threshold, and which model answered.

Defined answers, never a bare 500 for bad input:

=====  ==========================  ============================================================
code   error                       when
=====  ==========================  ============================================================
400    invalid_card_number, ...    the body or a field is invalid (see :mod:`.request`)
401    unauthorized                a local bearer token is configured and not presented
404    unknown_card                the card has no features online: ingestion never saw it
413    body_too_large              the body exceeds 16 KiB
500    model_error                 the model failed (the log names the deployed model when the
                                   endpoint says which one the split chose)
503    no_model_deployed           the endpoint serves no model
503    feature_store_not_ready     the online store has never been synced (or holds no card state)
503    not_configured              the pseudonym keyset or its KMS key is missing
=====  ==========================  ============================================================

Unknown cards get 404 rather than a cold-start score: the model was trained on features that
exist for every card the pipeline has seen, and answering an unseen card with defaults would
look like a real score while meaning nothing (see docs/serving.md).
"""

from __future__ import annotations

import hmac
import logging
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from fraud_mlops.feature_store.base import OnlineFeatureReader
from fraud_mlops.feature_store.records import FeatureRow, OnlineStoreNotReady, OnlineStoreUnavailable
from fraud_mlops.features import FEATURE_NAMES, V_COMPONENTS, request_time_features
from fraud_mlops.registry.endpoint_client import (
    EndpointUnavailable,
    ModelClient,
    ModelFailed,
    NoModelDeployed,
)
from fraud_mlops.serving.request import RequestError, Transaction, parse_request

log = logging.getLogger(__name__)


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


def unavailable_reply(dependency: str, exc: Exception, request_id: str) -> Reply:
    """503 with ``Retry-After``: a dependency did not answer in time (retries included) or was
    busy (quota), which a caller's retry may get past; a 500 is left for bugs. The log entry
    names the cause."""
    reply = error_reply(
        503,
        "dependency_unavailable",
        f"{dependency} did not answer in time or is busy; retry shortly",
        request_id,
        **{"Retry-After": "1"},
    )
    cause = exc.__cause__ or exc  # the client's own error, not the adapter's wrapper
    reply.log_fields["cause"] = f"{type(cause).__name__}: {cause}"[:300]
    return reply


@dataclass
class PredictionService:
    #: card number → pseudonym (:class:`fraud_mlops.pseudonym.Pseudonymiser`); None: not configured
    pseudonymise: Callable[[str], str] | None
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
        if self.pseudonymise is None:
            return error_reply(
                503, "not_configured", "the pseudonymisation key is not configured", request_id
            )

        pseudonym = self.pseudonymise(request.card_digits)
        try:
            row = self.features.fetch_one(pseudonym)
        except OnlineStoreNotReady:
            return error_reply(
                503, "feature_store_not_ready", "the online store has not been synced", request_id
            )
        except OnlineStoreUnavailable as exc:
            return unavailable_reply("the online store", exc, request_id)
        if row is None:
            return error_reply(
                404, "unknown_card", "no features for this card: it was never ingested", request_id
            )

        if request.transaction is None:
            vector, from_request = row.vector(), []
        elif row.state is None:
            return error_reply(
                503, "feature_store_not_ready", "the online store holds no card state: re-sync it", request_id
            )
        else:
            vector, from_request = transaction_vector(row, request.transaction), sorted(FEATURE_NAMES)
        try:
            answer = self.model.predict(vector)
        except NoModelDeployed:
            return error_reply(503, "no_model_deployed", "no model is deployed on the endpoint", request_id)
        except EndpointUnavailable as exc:
            return unavailable_reply("the model endpoint", exc, request_id)
        except ModelFailed as exc:
            reply = error_reply(500, "model_error", "the model failed to answer; see the logs", request_id)
            named = {
                "model_name": exc.model_name,
                "model_version": exc.model_version,
                "deployed_model_id": exc.deployed_model_id,
            }
            reply.log_fields.update({k: v for k, v in named.items() if v is not None}, cause=str(exc)[:300])
            return reply

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
                "timestamp": None
                if row.feature_timestamp is None
                else row.feature_timestamp.isoformat().replace("+00:00", "Z"),
                "sync_id": row.sync_id,
                "from_request": from_request,
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


def transaction_vector(row: FeatureRow, transaction: Transaction) -> list[float]:
    """The model input for a new transaction: its own fields, and its card features computed
    from the card's state by the training SQL's rules (features.request_time_features)."""
    assert row.state is not None
    moment = transaction.time
    time = int(moment.timestamp())
    values: dict[str, float | int | None] = {
        "amount": transaction.amount,
        "hour_of_day": moment.hour,
        "day_of_week": moment.isoweekday() % 7 + 1,  # BigQuery DAYOFWEEK: Sunday = 1
        **{v: transaction.components.get(v) for v in V_COMPONENTS},
        **request_time_features(row.state, time, transaction.amount, transaction.merchant),
    }
    return [math.nan if values[name] is None else float(values[name]) for name in FEATURE_NAMES]  # type: ignore[arg-type]


def _bearer_matches(authorization: str | None, token: str) -> bool:
    if not authorization or not authorization.startswith("Bearer "):
        return False
    return hmac.compare_digest(authorization[len("Bearer ") :].strip().encode(), token.encode())
