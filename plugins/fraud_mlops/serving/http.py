"""The HTTP face of the prediction service, for functions-framework (Flask request objects).

One :class:`~fraud_mlops.serving.service.PredictionService` per process, built from the
environment on first use (after gunicorn forks its workers, so nothing crosses a fork):

=========================  =====================================================================
``MLOPS_PSEUDONYM_KMS_KEY`` KMS key URI unwrapping the pseudonym keyset (settings.py)
``MLOPS_PSEUDONYM_KEYSET`` the wrapped keyset, base64 (ciphertext; unwrapped once per process)
``MLOPS_FUNCTION_TOKEN``   optional bearer token (local); on gcp, IAM invoker is the auth
``MLOPS_ENDPOINT_ID``      gcp: numeric Vertex endpoint id (required: no lookup by display name)
``MLOPS_ENDPOINT_FILE``    local: endpoint file (default ``<local dir>/endpoints/fraud-endpoint.json``)
=========================  =====================================================================

Each request writes one JSON log line to stdout in Cloud Logging's structured format
(severity, message, ``httpRequest`` with status and latency, trace), with the model version
that answered. Card numbers never reach the log.
"""

from __future__ import annotations

import json
import os
import re
import sys
import threading
import time
import uuid
from typing import Any

from fraud_mlops.serving.prediction_logging import record_answer
from fraud_mlops.serving.service import PredictionService, Reply, error_reply

_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
_UUID = re.compile(r"[0-9a-fA-F]{8}(-?)[0-9a-fA-F]{4}\1[0-9a-fA-F]{4}\1[0-9a-fA-F]{4}\1[0-9a-fA-F]{12}")
_JSON = {"Content-Type": "application/json"}
_lock = threading.Lock()
_FORK_SAFE = -1  # a preloaded local service, valid in every forked worker
#: A service built without pseudonyms (the keyset could not be unwrapped) is built again after
#: this pause: a transient KMS error must not disable an instance until it is recycled, and a
#: refused permission must not cost a KMS call per request.
_RETRY_UNCONFIGURED_SECONDS = 30.0
_service: tuple[int, PredictionService, float] | None = None  # (pid or _FORK_SAFE, service, built at)


def build_service(env: dict[str, str] | None = None) -> PredictionService:
    """Wire the service for the active target from environment variables."""
    from fraud_mlops import targets
    from fraud_mlops.settings import settings_from_env

    env = dict(os.environ if env is None else env)
    settings = settings_from_env(env)
    return PredictionService(
        pseudonymise=_pseudonymiser(settings),
        features=targets.feature_store(settings).reader(),
        model=targets.endpoint_client(
            settings, endpoint_file=env.get("MLOPS_ENDPOINT_FILE"), endpoint_id=settings.endpoint_id or None
        ),
        auth_token=env.get("MLOPS_FUNCTION_TOKEN") or None,
    )


def _pseudonymiser(settings: Any) -> Any:
    """None when the keyset or its KEK is missing or refused (e.g. no KMS permission): requests
    get 503 ``not_configured`` rather than a pseudonym nobody ingested."""
    from tink import TinkError

    from fraud_mlops import targets

    try:
        return targets.pseudonymiser(settings)
    except (ValueError, FileNotFoundError, TinkError) as exc:
        sys.stderr.write(
            json.dumps({"severity": "ERROR", "message": f"pseudonyms not configured: {exc}"}) + "\n"
        )
        return None


def _usable(entry: tuple[int, PredictionService, float]) -> bool:
    """This process's service (or a preloaded one), unless it lacks pseudonyms and may retry."""
    if entry[0] not in (os.getpid(), _FORK_SAFE):
        return False
    unconfigured = entry[1].pseudonymise is None
    return not unconfigured or time.monotonic() - entry[2] < _RETRY_UNCONFIGURED_SECONDS


def service() -> PredictionService:
    global _service
    entry = _service
    if entry is None or not _usable(entry):
        with _lock:
            entry = _service
            if entry is None or not _usable(entry):
                entry = _service = (os.getpid(), build_service(), time.monotonic())
    return entry[1]


def preload() -> None:
    """Local target: build the service and load the deployed models before gunicorn forks.

    Loading scikit-learn and compiling a model takes seconds on a busy laptop; done once in
    the master, every worker inherits it (copy-on-write) and the first request is as fast as
    the rest. Safe to share: the online store opens its SQLite connections per process and
    thread, and the endpoint client reseeds its traffic-split RNG per process. Not on gcp:
    gRPC channels must be created after the fork, so the Vertex clients stay lazy there.
    """
    global _service
    from fraud_mlops import targets
    from fraud_mlops.registry.endpoint_client import LocalEndpointClient
    from fraud_mlops.settings import settings_from_env

    try:
        if not targets.serving_is_fork_safe(settings_from_env(dict(os.environ))):
            return  # no Cloud KMS or Vertex call (gRPC) in the master process
        built = build_service()
        if isinstance(built.model, LocalEndpointClient):
            built.model.current()
            _service = (_FORK_SAFE, built, time.monotonic())
    except Exception as exc:  # serve anyway: the first request retries and reports the error
        sys.stderr.write(json.dumps({"severity": "WARNING", "message": f"preload failed: {exc!r}"}) + "\n")


def _usable_request_id(header_id: str) -> bool:
    """Whether the caller's ``X-Request-Id`` may name the request: it goes into every log line,
    the response and the prediction log, so it must not be able to hold a card number. A uuid
    (8-4-4-4-12 hex digits, or the 32 without dashes, the function's own form) may, unless its
    digits run 12 or more in a row once the dashes are out; so may any other plain id with fewer
    than 12 digits in all, the
    fewest a card number has. Anything else (``req-20261207-093638-0001``, an order number) is
    answered and logged under a fresh id, which costs the caller its correlation id, never a
    card in the logs. Rules that looked for a card among the digits (Luhn-checked runs, split by
    any separator) were each beaten by a form the id's characters allow: a card with a digit
    beside it, or letters between its groups."""
    if not _REQUEST_ID.fullmatch(header_id):
        return False
    if _UUID.fullmatch(header_id):  # with or without its dashes (the function's own ids: uuid4().hex)
        return not re.search(r"[0-9]{12}", header_id.replace("-", ""))
    return sum(c.isdigit() for c in header_id) < 12


def reset_service() -> None:
    """Forget the process's service (tests swap environments)."""
    global _service
    _service = None


def handle(request: Any) -> tuple[str, int, dict[str, str]]:
    """functions-framework entry: a Flask request in, ``(body, status, headers)`` out."""
    started = time.perf_counter()
    header_id = request.headers.get("X-Request-Id", "")
    request_id = header_id if _usable_request_id(header_id) else uuid.uuid4().hex
    if request.method != "POST":
        reply = error_reply(405, "method_not_allowed", "use POST with a JSON body", request_id, Allow="POST")
    else:
        try:
            reply = service().handle(
                _body(request),
                request_id=request_id,
                content_length=request.content_length,
                authorization=request.headers.get("Authorization"),
            )
        except Exception as exc:  # an outage (store, endpoint), never bad input: see service.py
            reply = error_reply(500, "internal_error", "the prediction failed; see the logs", request_id)
            reply.log_fields["exception"] = type(exc).__name__
    latency = time.perf_counter() - started
    _log(request, reply, request_id, latency)
    record_answer(reply, request_id, latency, _service[1].model if _service is not None else None)
    return json.dumps(reply.body), reply.status, {**_JSON, "X-Request-Id": request_id, **reply.headers}


def _body(request: Any) -> bytes:
    """At most one byte past the limit: a huge body is refused without being parsed. It is still
    read, after the answer is made: functions-framework's ``after_request`` hook
    (``read_request``) reads the rest of every request before responding, so a client is not
    cut off mid-send; what bounds it is the platform's request size limit (Cloud Run: 32 MiB)."""
    from fraud_mlops.serving.request import MAX_BODY_BYTES

    if (request.content_length or 0) > MAX_BODY_BYTES:
        return b""  # parse_request refuses it by content_length
    # The server's own input stream (gunicorn bounds it by Content-Length or chunked framing):
    # werkzeug's wrappers around it cost more than the rest of the request parsing here.
    return request.environ["wsgi.input"].read(MAX_BODY_BYTES + 1)  # type: ignore[no-any-return]


def _log(request: Any, reply: Reply, request_id: str, latency: float) -> None:
    entry: dict[str, Any] = {
        "severity": "INFO" if reply.status < 500 else "ERROR",
        "message": f"prediction {reply.status}",
        "component": "fraud-predict",
        "request_id": request_id,
        "status": reply.status,
        "latency_ms": round(latency * 1000, 3),
        "httpRequest": {
            "requestMethod": request.method,
            "status": reply.status,
            "latency": f"{latency:.6f}s",
        },
        **reply.log_fields,
    }
    trace = request.headers.get("X-Cloud-Trace-Context", "")
    project = os.environ.get("GCP_PROJECT")
    if trace and project:
        entry["logging.googleapis.com/trace"] = f"projects/{project}/traces/{trace.split('/')[0]}"
    sys.stdout.write(json.dumps(entry) + "\n")
    sys.stdout.flush()
