"""The end of a deferred task's bounded wait on a Google job, one rule for every such task.

The batch-scoring task (``registry/vertex_batch_job.py``) and the training task
(``pipeline_runs/vertex.py``) each defer on a Vertex job with a timeout. A try whose wait runs
out fails, and its retry waits for the same job again; the last try's timeout leaves no try to
wait for it, so the job is cancelled rather than left running (and billed) with nobody waiting.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def resume_or_cancel(
    resume: Callable[[str, dict[str, Any] | None, Any], Any],
    next_method: str,
    next_kwargs: dict[str, Any] | None,
    context: Any,
    cancel: Callable[[Any], None],
) -> Any:
    """``resume`` (the operator's inherited ``resume_execution``) as Airflow calls it; when it
    raises ``TaskDeferralTimeout`` on the last try, ``cancel(context)`` first, then the timeout
    fails the try as before. The last try is ``try_number > max_tries``: Airflow retries a try
    while ``try_number <= max_tries``. An earlier try's timeout cancels nothing."""
    from airflow.sdk.exceptions import TaskDeferralTimeout

    try:
        return resume(next_method, next_kwargs, context)
    except TaskDeferralTimeout:
        ti = context["ti"]
        if ti.try_number > ti.max_tries:
            cancel(context)
        raise


def cancel_refusals() -> tuple[type[Exception], ...]:
    """What a cancel, or the look-up before it, raises when Vertex refuses or does not answer
    it: logged for a person to cancel by hand, never in place of the timeout's failure."""
    from google.api_core.exceptions import GoogleAPICallError

    from fraud_mlops.retries import unanswered_errors

    return (GoogleAPICallError, *unanswered_errors())
