"""Retry policies for the Google API calls the adapters make: one definition for all of them.

The aiplatform_v1 methods this project calls have no default retry (their transports wrap them
with ``default_retry=None``): without one, a single ``503 UNAVAILABLE`` fails the call.
"""

from __future__ import annotations

from typing import Any

#: Backoff of a prediction's retries: the first within 100 ms, then up to 200, 400, 500 ms
#: (api-core draws each delay at random below its bound).
SERVING_BACKOFF_SECONDS = (0.1, 0.5)


def lookup_retry() -> Any:
    """For reads the Vertex AI clients make without a default retry: the look-ups a task's retry
    makes (which job did the failed try leave? the 503 that failed the try's poll would fail the
    look-up too), every Model Registry and endpoint read (``registry/vertex.py``), and the writes
    that set a state a repeat leaves as it was (an alias onto a version, the endpoint's traffic
    split, a job's cancellation). A ``503``, ``500`` or
    ``429`` is tried again for up to 2 minutes, then ``RetryError``; a ``504`` is not (api-core's
    ``if_transient_error``)."""
    from google.api_core.retry import Retry, if_transient_error

    return Retry(predicate=if_transient_error, initial=1.0, maximum=10.0, timeout=120.0)


def serving_retry(call_timeout: float) -> Any:
    """For a prediction's calls, which carry ``timeout=call_timeout``: ``503 UNAVAILABLE`` only
    (a replica restarting, a node drained), tried again while less than ``call_timeout - 1`` s
    have passed; then ``RetryError``. Why one second less: a GAPIC call given a number as timeout
    gives each attempt what is left of it, but a whole ``call_timeout`` again once less than a
    second is left (api-core's ``TimeToDeadlineTimeout``); stopping the retries a second early
    keeps the whole call within ``call_timeout``. Quota (429) and server errors (500) are not
    retried: another try within the same request would meet the same answer."""
    from google.api_core.exceptions import ServiceUnavailable
    from google.api_core.retry import Retry, if_exception_type

    initial, maximum = SERVING_BACKOFF_SECONDS
    return Retry(
        predicate=if_exception_type(ServiceUnavailable),
        initial=initial,
        maximum=maximum,
        multiplier=2.0,
        timeout=max(call_timeout - 1.0, 0.0),
    )


def unanswered_errors() -> tuple[type[Exception], ...]:
    """What a call with :func:`serving_retry` or :func:`lookup_retry` raises when its service
    did not answer in time (the retries' end, ``RetryError``; a ``504``, an attempt's deadline
    passing; an unretried 503), or refused it for quota (429 ``RESOURCE_EXHAUSTED``: a busy store node or
    endpoint, a per-minute quota): a later try may get past either. The prediction function
    answers them 503 with ``Retry-After``, not a 500; the training wait asks again at its next
    poll."""
    from google.api_core import exceptions

    return (
        exceptions.ServiceUnavailable,
        exceptions.DeadlineExceeded,
        exceptions.RetryError,
        exceptions.TooManyRequests,
    )
