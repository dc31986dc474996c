"""The serving side of the prediction log: one call per answered request, nothing blocking.

``http.handle`` calls :func:`record_answer` once it has the reply. The record (and, for a sample
of the champion's answers while a canary serves, the canary's shadow score of the same vector) is
built here and handed to the process's :class:`~fraud_mlops.prediction_log.writer.BackgroundWriter`.
On gcp the answer's own record is written in the request instead (``in_request``: Cloud Run
gives an instance CPU only while it handles a request); only a shadow score, a sample that is
evidence for the canary and costs a Vertex call, is left to the writer.

``MLOPS_PREDICTION_LOG=off`` switches logging off (bench comparisons); ``MLOPS_SHADOW_RATE``
(default 0.25) is the share of champion answers the canary also scores.
"""

from __future__ import annotations

import os
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from fraud_mlops.prediction_log import records
from fraud_mlops.prediction_log.writer import BackgroundWriter

_lock = threading.Lock()
_writer: BackgroundWriter | None = None
_in_request = False  # the target's log writes an answer's record before the request returns
_shadow: dict[int, Any] = {}  # id(model client) → scorer or None
_disabled = False


def writer(env: dict[str, str] | None = None) -> BackgroundWriter | None:
    """The process's writer for the active target (None when logging is off)."""
    global _writer, _disabled, _in_request
    if _writer is None and not _disabled:
        with _lock:
            if _writer is None and not _disabled:
                env = dict(os.environ if env is None else env)
                if env.get("MLOPS_PREDICTION_LOG", "on").lower() in ("off", "0", "false"):
                    _disabled = True
                    return None
                from fraud_mlops import targets
                from fraud_mlops.settings import settings_from_env

                log = targets.prediction_log(settings_from_env(env))
                _in_request = log.in_request
                _writer = BackgroundWriter(log.sink())
    return _writer


def reset() -> None:
    """Forget the process's writer (tests switch environments)."""
    global _writer, _disabled, _in_request
    if _writer is not None:
        _writer.close()
    _writer, _disabled, _in_request = None, False, False
    _shadow.clear()


def record_answer(reply: Any, request_id: str, latency_seconds: float, model_client: Any = None) -> None:
    """Log one reply (any status) in the prediction log.

    Locally the request thread only takes the time and puts a closure on the queue: building the
    row, encoding the feature vector and any shadow score run in the writer's thread. On gcp the
    row is built and written here (tens of microseconds), and only a shadow score is queued.
    """
    log = writer()
    if log is None:
        return
    answered_at = time.time()
    if not _in_request:
        log.submit(lambda: _rows(reply, request_id, latency_seconds, answered_at, model_client))
        return
    row = _online_row(reply, request_id, latency_seconds, answered_at)
    log.sink([row])
    if _may_shadow(reply, row, model_client):
        log.submit(lambda: _shadow_of(model_client, row, reply.served["vector"], answered_at))


def _rows(
    reply: Any, request_id: str, latency_seconds: float, answered_at: float, model_client: Any
) -> list[dict[str, Any]]:
    row = _online_row(reply, request_id, latency_seconds, answered_at)
    if _may_shadow(reply, row, model_client):
        return [row, *_shadow_of(model_client, row, reply.served["vector"], answered_at)]
    return [row]


def _may_shadow(reply: Any, row: dict[str, Any], model_client: Any) -> bool:
    """An answer a model gave, with its feature vector, from a process that can ask the canary."""
    served = getattr(reply, "served", None) or {}
    return bool(row["model_version"]) and served.get("vector") is not None and model_client is not None


def _shadow_of(
    model_client: Any, row: dict[str, Any], vector: Any, answered_at: float
) -> list[dict[str, Any]]:
    scorer = _scorer(model_client)
    now = datetime.fromtimestamp(answered_at, UTC)
    return _shadow_rows(scorer, row, vector, now) if scorer is not None else []


def _online_row(reply: Any, request_id: str, latency_seconds: float, answered_at: float) -> dict[str, Any]:
    served = getattr(reply, "served", None) or {}
    body = reply.body
    now = datetime.fromtimestamp(answered_at, UTC)
    model = body.get("model") if reply.status == 200 else _failed_model(reply.log_fields)
    row = records.record(
        request_id=request_id,
        source=records.ONLINE,
        status=reply.status,
        logged_at=now - timedelta(seconds=latency_seconds),
        card_pseudonym=served.get("card_pseudonym"),
        vector=served.get("vector"),
        score=body.get("fraud_probability") if reply.status == 200 else None,
        threshold=body.get("threshold") if reply.status == 200 else None,
        model=model,
        latency_ms=round(latency_seconds * 1000, 3),
        error=body.get("error"),
    )
    return row


def _failed_model(log_fields: dict[str, Any]) -> dict[str, Any] | None:
    """The deployed model a failed model call names (service.py's ``model_error``), if any: the
    row is charged to it, so the canary's error-rate rules count it."""
    if log_fields.get("model_version") is None:
        return None
    return {
        "name": log_fields.get("model_name"),
        "version": log_fields["model_version"],
        "deployed_model_id": log_fields.get("deployed_model_id"),
    }


def _scorer(model_client: Any) -> Any:
    key = id(model_client)
    if key not in _shadow:
        from fraud_mlops.registry.shadow import shadow_scorer

        _shadow[key] = shadow_scorer(model_client, float(os.environ.get("MLOPS_SHADOW_RATE", "0.25")))
    return _shadow[key]


def _shadow_rows(scorer: Any, online: dict[str, Any], vector: Any, now: datetime) -> list[dict[str, Any]]:
    rows = []
    for answer in scorer(online["model_version"], vector):
        rows.append(
            records.record(
                request_id=online["request_id"],
                source=records.SHADOW,
                status=200,
                logged_at=now,
                card_pseudonym=online["card_pseudonym"],
                vector=vector,
                score=answer.probability,
                threshold=answer.threshold,
                model={"name": answer.model_name, "version": answer.model_version,
                       "deployed_model_id": answer.deployed_model_id},
            )
        )  # fmt: skip
    return rows
