"""Alerts: a failing task of a real Airflow run writes one; the Cloud Logging request is exact."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from google.cloud.logging_v2.types import WriteLogEntriesRequest
from google.logging.type.log_severity_pb2 import LogSeverity

from fraud_mlops import targets
from fraud_mlops.alerting.sinks import (
    Alert,
    CloudLoggingAlertSink,
    FanOut,
    JsonLinesAlertSink,
    WebhookAlertSink,
)
from fraud_mlops.orchestration.alerts import FraudAlertNotifier, raise_alert
from fraud_mlops.settings import Settings
from tests.airflow_probes import airflow_home, run_probe

HERE = Path(__file__).resolve().parent


def _alerts(settings: Settings) -> list[dict[str, Any]]:
    path = settings.local_dir / "alerts" / "alerts.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.is_file() else []


@pytest.mark.slow
def test_a_failing_task_in_a_real_airflow_run_writes_an_alert(tmp_path: Path) -> None:
    local_dir = tmp_path / "local"
    dags = tmp_path / "dags"
    dags.mkdir()
    (dags / "failing_dag.py").write_text((HERE / "failing_dag.py").read_text())
    env = airflow_home(
        tmp_path, {"MLOPS_TARGET": "local", "MLOPS_LOCAL_DIR": str(local_dir)}, dags_folder=dags
    )
    outcome = run_probe(
        "tests.monitoring.dag_test_probe", env, str(dags / "failing_dag.py"), "fraud_alert_probe"
    )
    assert outcome["state"] == "failed"

    path = local_dir / "alerts" / "alerts.jsonl"
    alerts = [json.loads(line) for line in path.read_text().splitlines()]
    task_alerts = [a for a in alerts if a["task_id"] == "check_data_quality"]
    assert len(task_alerts) == 1, alerts
    alert = task_alerts[0]
    assert alert["kind"] == "data_quality_failure"  # the quality task's failure is told apart
    assert alert["dag_id"] == "fraud_alert_probe" and alert["run_id"] == outcome["run_id"]
    assert "fraud rate 0.0 below 0.0005" in alert["details"]["exception"]
    assert alert["severity"] == "ERROR"


def test_notifier_and_raise_alert_write_to_the_local_file(local_settings: Settings) -> None:
    ti = mock.Mock(task_id="load_raw_file", try_number=3)
    dag = mock.Mock(dag_id="fraud_ingest_daily")
    run = mock.Mock(run_id="scheduled__1", dag_id="fraud_ingest_daily")
    FraudAlertNotifier()({"ti": ti, "dag": dag, "dag_run": run, "exception": OSError("disk full")})
    assert raise_alert(
        "drift", "DRIFT DETECTED — drift: amount", {"dag_run": run}, {"flagged": ["drift"]}, "check_drift"
    )

    first, second = _alerts(local_settings)
    assert (first["kind"], first["task_id"], first["run_id"]) == (
        "task_failure",
        "load_raw_file",
        "scheduled__1",
    )
    assert first["summary"] == "task failure in fraud_ingest_daily.load_raw_file: OSError: disk full"
    assert first["details"] == {"exception": "OSError: disk full", "try_number": 3}
    assert (second["kind"], second["task_id"], second["details"]) == (
        "drift",
        "check_drift",
        {"flagged": ["drift"]},
    )


def test_a_resent_alert_is_written_once_and_an_alert_of_its_own_again(local_settings: Settings) -> None:
    """A task that alerted and then failed is retried and alerts again: the id of the event
    (the drift decision of one run) is the same, and the local file keeps one line for it."""
    run = mock.Mock(run_id="scheduled__1", dag_id="fraud_monitoring")
    for _ in range(2):
        assert raise_alert("drift", "DRIFT", {"dag_run": run}, alert_id="drift:fraud_monitoring:scheduled__1")
    assert raise_alert("drift", "DRIFT", {"dag_run": run}, alert_id="drift:fraud_monitoring:scheduled__2")
    assert raise_alert("task_failure", "failed", {"dag_run": run})  # no id given: its own
    assert raise_alert("task_failure", "failed", {"dag_run": run})
    alerts = _alerts(local_settings)
    here = f"local:{local_settings.project}"  # another deployment's receiver keeps both
    assert [a["alert_id"] for a in alerts[:2]] == [
        f"{here}:drift:fraud_monitoring:scheduled__1",
        f"{here}:drift:fraud_monitoring:scheduled__2",
    ]
    assert len(alerts) == 4 and alerts[2]["alert_id"] != alerts[3]["alert_id"]


def test_a_line_that_is_not_an_alert_stops_no_later_alert(local_settings: Settings) -> None:
    """A write cut short (a killed task, a full disk) or an edit by hand: the file goes on, the
    next alert on a line of its own, and a resend is still recognised."""
    path = local_settings.local_dir / "alerts" / "alerts.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    # the last: this very alert's first send, cut short (no reader can use it: it is sent again)
    alert_id = f"local:{local_settings.project}:drift:fraud_monitoring:scheduled__1"
    cut_short = f'{{"alert_id": "{alert_id}", "summ'
    path.write_text(f'null\n[1, 2]\n{{"kind": "drift", "alert_id": "x"}}\n{cut_short}')
    run = mock.Mock(run_id="scheduled__1", dag_id="fraud_monitoring")
    for _ in range(2):
        assert raise_alert("drift", "DRIFT", {"dag_run": run}, alert_id="drift:fraud_monitoring:scheduled__1")
    lines = path.read_text().splitlines()
    assert lines[:4] == ["null", "[1, 2]", '{"kind": "drift", "alert_id": "x"}', cut_short]
    (sent,) = [json.loads(line) for line in lines[4:]]
    assert sent["alert_id"].endswith(":drift:fraud_monitoring:scheduled__1")


def test_the_webhook_sends_the_alerts_id_as_its_idempotency_key() -> None:
    """A real HTTP server on 127.0.0.1 receives the POST."""
    import http.server
    import json
    import threading

    received: list[tuple[str | None, dict]] = []

    class Receiver(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            received.append((self.headers.get("Idempotency-Key"), body))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        WebhookAlertSink(f"http://127.0.0.1:{server.server_port}/alerts").send(
            Alert(kind="drift", summary="DRIFT", alert_id="drift:fraud_monitoring:scheduled__1")
        )
    finally:
        server.shutdown()
    ((key, body),) = received
    assert key == body["alert_id"] == "drift:fraud_monitoring:scheduled__1"
    assert body["kind"] == "drift"


def test_a_broken_sink_never_raises(local_settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    class Broken:
        def send(self, alert: Alert) -> None:
            raise OSError("sink down")

    monkeypatch.setattr(targets, "alert_sink", lambda settings: Broken())
    assert raise_alert("canary_rollback", "rolled back v2") is False  # logged, not raised


def test_local_sink_adds_the_webhook_when_configured(
    local_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert isinstance(targets.alert_sink(local_settings), JsonLinesAlertSink)
    monkeypatch.setenv("MLOPS_ALERT_WEBHOOK", "http://127.0.0.1:9/alerts")
    sink = targets.alert_sink(local_settings)
    assert isinstance(sink, FanOut) and isinstance(sink.sinks[1], WebhookAlertSink)


def test_gcp_alert_is_one_structured_cloud_logging_entry(gcp_settings: Settings) -> None:
    sink = targets.alert_sink(gcp_settings)
    assert isinstance(sink, CloudLoggingAlertSink)
    client = mock.Mock()
    sink = CloudLoggingAlertSink(gcp_settings.project, client=client)
    alert = Alert(kind="canary_rollback", summary="v2 rolled back", dag_id="fraud_monitoring", run_id="r1",
                  task_id="apply_canary_decision", details={"reasons": ["p99 latency 400 ms above the SLO"]},
                  raised_at="2026-12-02T03:00:00+00:00")  # fmt: skip
    sink.send(alert)

    (call,) = client.write_log_entries.call_args_list
    request = call.kwargs["request"]
    assert isinstance(request, WriteLogEntriesRequest)
    assert request.log_name == f"projects/{gcp_settings.project}/logs/fraud-alerts"
    assert request.resource.type == "global"
    assert dict(request.labels) == {"kind": "canary_rollback", "component": "fraud-mlops"}
    (entry,) = request.entries
    assert entry.severity == LogSeverity.Value("ERROR")
    payload = dict(entry.json_payload)
    assert payload["kind"] == "canary_rollback" and payload["summary"] == "v2 rolled back"
    assert list(payload["details"]["reasons"]) == ["p99 latency 400 ms above the SLO"]
    assert payload["alert_id"] == alert.alert_id and len(alert.alert_id) == 32  # its own (uuid4)
