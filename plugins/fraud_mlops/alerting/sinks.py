"""Alert sinks, picked in :func:`fraud_mlops.targets.alert_sink`.

* :class:`JsonLinesAlertSink` (local): one JSON object per line in ``<local dir>/alerts/alerts.jsonl``
  (the demo prints it; a webhook is one ``MLOPS_ALERT_WEBHOOK`` away, :class:`WebhookAlertSink`).
* :class:`CloudLoggingAlertSink` (gcp): one structured entry per alert in the log
  ``fraud-alerts`` through Cloud Logging's ``WriteLogEntries``; ``infra/modules/monitoring`` counts them
  with a log-based metric (label ``kind``) and one alert policy per kind notifies the channel.

Every alert has an ``alert_id``, the same for every send of one event where the sender names the
event (:func:`fraud_mlops.orchestration.alerts.raise_alert`): a task that alerts and then fails
is retried and alerts again (at least once, never lost), and a receiver drops the repeat by it.
The local file keeps one line per id; the webhook sends it as ``Idempotency-Key`` too.
"""

from __future__ import annotations

import fcntl
import json
import os
import urllib.request
import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

ALERT_LOG_ID = "fraud-alerts"

#: kinds of alert; the log-based metric's ``kind`` label takes these values
TASK_FAILURE = "task_failure"
DAG_FAILURE = "dag_failure"
DATA_QUALITY = "data_quality_failure"
DRIFT = "drift"
ROLLBACK = "canary_rollback"
#: every kind; infra/modules/monitoring has one alerting policy per kind (its local.alert_kinds)
ALERT_KINDS = (TASK_FAILURE, DAG_FAILURE, DATA_QUALITY, DRIFT, ROLLBACK)


@dataclass(frozen=True)
class Alert:
    kind: str
    summary: str
    severity: str = "ERROR"
    dag_id: str | None = None
    run_id: str | None = None
    task_id: str | None = None
    details: dict[str, Any] = field(default_factory=dict)
    raised_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
    #: one per event: given by the sender to make a resend recognisable, else unique per alert
    alert_id: str = field(default_factory=lambda: uuid.uuid4().hex)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class AlertSink(Protocol):
    def send(self, alert: Alert) -> None: ...


@dataclass(frozen=True)
class JsonLinesAlertSink:
    path: Path

    def send(self, alert: Alert) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        line = json.dumps(alert.to_dict(), default=str) + "\n"
        with open(self.path, "a+") as handle:  # several tasks may alert at once: one line each
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            handle.seek(0)
            last = ""
            for sent in handle:
                if alert.alert_id in sent and _alert_id(sent) == alert.alert_id:
                    return  # a resend of an alert the file holds (a retried task)
                last = sent
            if last and not last.endswith("\n"):  # a write cut short: the next line starts afresh
                handle.write("\n")
            handle.write(line)


def _alert_id(line: str) -> str | None:
    """The ``alert_id`` of a line of the alerts file; ``None`` for a line that is not an alert (a
    write cut short, an edit by hand), which must not stop later alerts."""
    try:
        sent = json.loads(line)
    except ValueError:
        return None
    return sent.get("alert_id") if isinstance(sent, dict) else None


@dataclass(frozen=True)
class WebhookAlertSink:
    url: str
    timeout: float = 5.0

    def send(self, alert: Alert) -> None:
        body = json.dumps(alert.to_dict(), default=str).encode()
        headers = {"Content-Type": "application/json", "Idempotency-Key": alert.alert_id}
        request = urllib.request.Request(self.url, data=body, headers=headers, method="POST")
        with urllib.request.urlopen(request, timeout=self.timeout):
            pass


@dataclass
class FanOut:
    sinks: list[AlertSink]

    def send(self, alert: Alert) -> None:
        for sink in self.sinks:
            sink.send(alert)


class CloudLoggingAlertSink:
    """``WriteLogEntries`` with one ``LogEntry`` (jsonPayload = the alert, labels = kind)."""

    def __init__(self, project: str, client: Any = None) -> None:
        self.project = project
        self._client = client

    @property
    def client(self) -> Any:
        if self._client is None:
            from google.cloud.logging_v2.services.logging_service_v2 import LoggingServiceV2Client

            self._client = LoggingServiceV2Client()
        return self._client

    def request(self, alert: Alert) -> Any:
        from google.api import monitored_resource_pb2
        from google.cloud.logging_v2.types import LogEntry, WriteLogEntriesRequest
        from google.logging.type import log_severity_pb2
        from google.protobuf import struct_pb2

        payload = struct_pb2.Struct()
        payload.update(json.loads(json.dumps(alert.to_dict(), default=str)))
        return WriteLogEntriesRequest(
            log_name=f"projects/{self.project}/logs/{ALERT_LOG_ID}",
            resource=monitored_resource_pb2.MonitoredResource(
                type="global", labels={"project_id": self.project}
            ),
            labels={"kind": alert.kind, "component": "fraud-mlops"},
            entries=[
                LogEntry(json_payload=payload, severity=log_severity_pb2.LogSeverity.Value(alert.severity))
            ],
        )

    def send(self, alert: Alert) -> None:
        self.client.write_log_entries(request=self.request(alert))


def webhook_from_env() -> WebhookAlertSink | None:
    url = os.environ.get("MLOPS_ALERT_WEBHOOK")
    return WebhookAlertSink(url) if url else None
