"""The stack's REST client asks again when a repeatable request times out (a read, pausing a
DAG), and never repeats a trigger."""

from __future__ import annotations

import http.server
import json
import threading
import time
from collections.abc import Iterator

import pytest

from devtools.stack.airflow_api import AirflowAPI


@pytest.fixture
def slow_then_fast() -> Iterator[tuple[str, list[str]]]:
    """A real HTTP server on 127.0.0.1 (free port) whose first answer comes too late."""
    seen: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def _answer(self) -> None:
            seen.append(f"{self.command} {self.path}")
            if len(seen) == 1:
                time.sleep(1.5)  # past the client's timeout
            body = json.dumps({"dag_runs": [{"dag_run_id": "r1"}]}).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = do_PATCH = _answer

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()


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
