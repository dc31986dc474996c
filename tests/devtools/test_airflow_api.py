"""The stack's REST client asks again when a repeatable request times out (a read, pausing a
DAG), and never repeats a trigger."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest

from devtools.stack.airflow_api import AirflowAPI, AirflowAPIError
from tests.http_server import serving


@pytest.fixture
def slow_then_fast() -> Iterator[tuple[str, list[str]]]:
    """The server's first answer comes too late."""
    answered: list[str] = []

    def answer(request: str) -> tuple[int, bytes]:
        answered.append(request)
        if len(answered) == 1:
            time.sleep(1.5)  # past the client's timeout
        return 200, json.dumps({"dag_runs": [{"dag_run_id": "r1"}]}).encode()

    with serving(answer) as server:
        yield server


def test_a_read_that_times_out_is_asked_again(slow_then_fast) -> None:
    url, seen = slow_then_fast
    assert AirflowAPI(url, timeout=0.5).runs("fraud_ingest_daily") == [{"dag_run_id": "r1"}]
    assert seen == ["GET /api/v2/dags/fraud_ingest_daily/dagRuns?order_by=-run_after&limit=50"] * 2


def test_pausing_a_dag_that_times_out_is_asked_again(slow_then_fast) -> None:
    url, seen = slow_then_fast
    AirflowAPI(url, timeout=0.5).set_paused("fraud_monitoring", False)
    assert seen == ["PATCH /api/v2/dags/fraud_monitoring"] * 2


def test_a_trigger_that_times_out_is_not_sent_again(slow_then_fast) -> None:
    url, seen = slow_then_fast
    with pytest.raises(TimeoutError):
        AirflowAPI(url, timeout=0.5).request("POST", "/dags/fraud_ingest_daily/dagRuns", {"conf": {}})
    assert seen == ["POST /api/v2/dags/fraud_ingest_daily/dagRuns"]


#: What Airflow 3.3's api-server answered a demo's unpause whose audit-log write waited out
#: SQLite's 30 s lock (its SQLAlchemyErrorHandler), trimmed of the error id.
BUSY = b'{"detail":{"reason":"Database error","statement":"hidden","orig_error":"hidden","message":"Serious error"}}'


@pytest.fixture
def busy_then_ok(monkeypatch) -> Iterator[tuple[str, list[str], list[bytes]]]:
    """The server answers each request with the next 500 body queued (then 200)."""
    errors: list[bytes] = []
    monkeypatch.setattr(AirflowAPI, "BUSY_PAUSE_SECONDS", 0.0)

    def answer(request: str) -> tuple[int, bytes]:
        return (500, errors.pop(0)) if errors else (200, b"{}")

    with serving(answer) as (url, seen):
        yield url, seen, errors


def test_a_repeatable_request_the_metadata_db_was_too_busy_for_is_asked_again(busy_then_ok) -> None:
    url, seen, errors = busy_then_ok
    errors.append(BUSY)
    AirflowAPI(url).set_paused("fraud_batch_scoring", True)
    assert seen == ["PATCH /api/v2/dags/fraud_batch_scoring"] * 2

    seen.clear()
    errors.extend([BUSY] * AirflowAPI.ATTEMPTS)  # busy every time: the error, after the attempts
    with pytest.raises(AirflowAPIError, match="Database error"):
        AirflowAPI(url).set_paused("fraud_batch_scoring", True)
    assert len(seen) == AirflowAPI.ATTEMPTS


def test_a_trigger_or_another_server_error_is_not_sent_again(busy_then_ok) -> None:
    url, seen, errors = busy_then_ok
    errors.append(BUSY)
    with pytest.raises(AirflowAPIError, match="Database error"):
        AirflowAPI(url).request("POST", "/dags/fraud_ingest_daily/dagRuns", {"conf": {}})
    errors.append(b'{"detail":"An error occurred while trying to deserialize Dag"}')
    with pytest.raises(AirflowAPIError, match="deserialize"):
        AirflowAPI(url).set_paused("fraud_batch_scoring", True)
    assert seen == ["POST /api/v2/dags/fraud_ingest_daily/dagRuns", "PATCH /api/v2/dags/fraud_batch_scoring"]
