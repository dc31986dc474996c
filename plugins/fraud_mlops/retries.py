"""Retry policies for the Google API calls the adapters make: one definition for all of them.

The aiplatform_v1 methods this project calls have no default retry (their transports wrap them
with ``default_retry=None``): without one, a single ``503 UNAVAILABLE`` fails the call.
"""

from __future__ import annotations

from typing import Any

#: What a prediction request may spend retrying the online store or the endpoint: the caller
#: is a card authorisation waiting for the answer, so retries are short and few.
SERVING_BACKOFF_SECONDS = (0.05, 0.2)


def lookup_retry() -> Any:
    """For the look-ups a task's retry makes (which job did the failed try leave?): the 503 that
    failed the try's poll would otherwise fail the look-up too. Up to 2 minutes."""
    from google.api_core.retry import Retry, if_transient_error

    return Retry(predicate=if_transient_error, initial=1.0, maximum=10.0, timeout=120.0)


def serving_retry(deadline_seconds: float) -> Any:
    """For a prediction's calls: ``503 UNAVAILABLE`` only (a replica restarting, a node drained),
    again after 50 ms, then 100 and 200 ms, until ``deadline_seconds`` have passed since the
    first try; then ``RetryError``. Quota (429) and server errors (500) are not retried: another
    try within the same request would meet the same answer."""
    from google.api_core.exceptions import ServiceUnavailable
    from google.api_core.retry import Retry, if_exception_type

    initial, maximum = SERVING_BACKOFF_SECONDS
    return Retry(
        predicate=if_exception_type(ServiceUnavailable),
        initial=initial,
        maximum=maximum,
        multiplier=2.0,
        timeout=deadline_seconds,
    )
