"""Run the real ``fraud_monitoring`` DAG on the gcp target under ``dag.test()``; print what was sent
to Google, the tasks' results and where the reports went, as JSON.

A subprocess of test_gcp_monitoring_dag.py (Airflow's settings and metadata DB are per process).
BigQuery is its REST API answered in memory under the real client (tests/bigquery_rest.py):
the prediction log serves 1,200 answers in each window, and its newest online answer, two hours
old, is found in the recent days, the current window's amounts far above
the reference's; the newest snapshot's sample looks like the reference; drift_alerts holds an
earlier run's decision, an hour ago, when the drift check alone flagged. A Storage Read session
is refused as Google refuses it to an account without ``bigquery.readsessions.create`` (403):
orchestration has none in infra/. Vertex's registry and endpoint clients and the canary evidence
are gcp_canary_probe.py's (a canary to roll back); Cloud Logging's client takes the alerts.
Composer's FUSE-mounted data folder is the directory given as the first argument (its bucket,
``GCS_BUCKET``, is the test's).
"""

from __future__ import annotations

import io
import json
import random
import sys
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any
from unittest import mock

from fraud_mlops.features import FEATURE_NAMES
from fraud_mlops.monitoring.windows import MAX_ROWS, TRAINING_SAMPLE
from fraud_mlops.settings import REPO_ROOT, Settings, get_settings
from fraud_mlops.sql_templates import render_sql, sql_instant
from tests.bigquery_rest import FakeBigQueryREST, Result, patched_get_client
from tests.orchestration.gcp_canary_probe import (
    EVIDENCE,
    EVIDENCE_COLUMNS,
    vertex_endpoint_client,
    vertex_model_client,
)
from tests.orchestration.probe_support import links, test_dag

ROWS = 1_200  # per window: above the checks' 1,000-row minimum
SNAPSHOT = "training_snapshot_20261204t000000"
SINK_TABLE_ID = "fraud-prj.fraud_logs.run_googleapis_com_stdout"
PREDICTION_LOG_ID = "fraud-prj.fraud.prediction_log"
DECISIONS_ID = "fraud-prj.fraud.drift_alerts"
LINEAGE_ID = "fraud-prj.fraud.snapshot_lineage"  # an ingestion made it (and SNAPSHOT)
#: An earlier monitoring run's drift-alert decision (95_drift_history.sql's row)
EARLIER_RUN = "scheduled__earlier"
#: The newest online answer already in prediction_log (93_prediction_log_newest.sql's answer):
#: the copy from the sink starts 48 hours before it.
NEWEST_LOGGED = (datetime.now(UTC) - timedelta(hours=2)).replace(minute=0, second=0, microsecond=0)
#: The earliest row the append brings (97_prediction_log_incoming.sql's answer): its MERGE looks
#: for repeats from a day before it.
EARLIEST_INCOMING = NEWEST_LOGGED - timedelta(hours=47)
#: The last append that logged a scoring run (98_prediction_log_batch_from.sql's answer): the
#: append reads card_predictions from a day before it.
LAST_BATCH_LOGGED = NEWEST_LOGGED - timedelta(hours=20)
#: The current window starts here (the run's ``current_start``); it ends when the task runs.
CURRENT_START = (datetime.now(UTC) - timedelta(hours=1)).replace(microsecond=0)
REFERENCE_HOURS = 168


def _features(rng: random.Random, amount_scale: float) -> dict[str, float]:
    values = {name: rng.gauss(0.0, 1.0) for name in FEATURE_NAMES}
    values["amount"] = abs(rng.gauss(60.0, 20.0)) * amount_scale
    return values


def _served(rng: random.Random, start: datetime, amount_scale: float, score: float) -> Result:
    fields = [
        {"name": "logged_at", "type": "TIMESTAMP"},
        {"name": "model_version", "type": "STRING"},
        {"name": "score", "type": "FLOAT"},
        {"name": "features", "type": "STRING"},
    ]
    micros = int(start.timestamp() * 1_000_000)
    rows = [
        (micros + n * 1_000_000, "1", min(1.0, abs(rng.gauss(score, 0.02))),
         json.dumps(_features(rng, amount_scale)))
        for n in range(ROWS)
    ]  # fmt: skip
    return fields, rows


def _sample(rng: random.Random) -> Result:
    fields = [{"name": name, "type": "FLOAT"} for name in FEATURE_NAMES]
    return fields, [tuple(_features(rng, 1.0)[name] for name in FEATURE_NAMES) for _ in range(ROWS)]


def _canary_evidence() -> Result:
    first = int((datetime.now(UTC) - timedelta(hours=2)).timestamp() * 1_000_000)
    *versions, pairs = EVIDENCE["rollback"]
    rows = [(*version, first, first, *pairs) for version in versions]
    return [{"name": n, "type": t} for n, t in EVIDENCE_COLUMNS], rows


def _history() -> Result:
    at = int((datetime.now(UTC) - timedelta(hours=1)).timestamp() * 1_000_000)
    fields = [
        {"name": "run_id", "type": "STRING"},
        {"name": "decided_at", "type": "TIMESTAMP"},
        {"name": "flagged", "type": "STRING"},
        {"name": "raised", "type": "BOOLEAN"},
    ]
    return fields, [(EARLIER_RUN, at, "drift", True)]


def sql_prefix(sql_file: str, settings: Settings, value: str, **known: Any) -> str:
    """``sql_file``'s text up to where ``value`` is rendered: an instant the task takes from its
    own clock when it runs (the drift history's `since`, the current window's end, the recent
    days the newest answer is looked for in)."""
    return render_sql(sql_file, settings, **known, **{value: "\0"}).split("\0")[0]


def history_sql_prefix(settings: Settings) -> str:
    """95_drift_history.sql's text up to its `since` (25 hours before the task ran)."""
    return sql_prefix("95_drift_history.sql", settings, "since")


def newest_sql_prefix(settings: Settings) -> str:
    """93_prediction_log_newest.sql's text up to its `since` (the recent days before the task ran)."""
    return sql_prefix("93_prediction_log_newest.sql", settings, "since")


def answers() -> Any:
    """BigQuery's answer to each query the DAG sends, by its text (None: no rows)."""
    settings = get_settings()
    rng = random.Random(7)
    reference_start = CURRENT_START - timedelta(hours=REFERENCE_HOURS)
    served_sql = partial(render_sql, "84_monitoring_served.sql", settings, limit=MAX_ROWS)
    # the current window ends when the task runs: its text is known up to its end
    current_sql = sql_prefix(
        "84_monitoring_served.sql", settings, "end", limit=MAX_ROWS, start=sql_instant(CURRENT_START)
    )
    reference = _served(rng, reference_start, amount_scale=1.0, score=0.05)
    current = _served(rng, CURRENT_START, amount_scale=8.0, score=0.6)
    fixed = {
        served_sql(start=sql_instant(reference_start), end=sql_instant(CURRENT_START)): reference,
        render_sql("89_prediction_log_rows.sql", settings): ([{"name": "logged", "type": "INTEGER"}], [(2 * ROWS,)]),
        render_sql("98_prediction_log_batch_from.sql", settings): (
            [{"name": "last_logged", "type": "TIMESTAMP"}], [(int(LAST_BATCH_LOGGED.timestamp() * 1_000_000),)]),
        render_sql("97_prediction_log_incoming.sql", settings, batch_from=sql_instant(LAST_BATCH_LOGGED - timedelta(days=1))): (
            [{"name": "earliest", "type": "TIMESTAMP"}], [(int(EARLIEST_INCOMING.timestamp() * 1_000_000),)]),
        render_sql("73_newest_snapshot.sql", settings): ([{"name": "snapshot_name", "type": "STRING"}], [(SNAPSHOT,)]),
        render_sql("75_snapshot_sample.sql", settings, snapshot=SNAPSHOT, limit=TRAINING_SAMPLE): _sample(rng),
    }  # fmt: skip
    evidence = _canary_evidence()
    history, history_sql = _history(), history_sql_prefix(settings)
    newest = ([{"name": "newest", "type": "TIMESTAMP"}], [(int(NEWEST_LOGGED.timestamp() * 1_000_000),)])
    newest_sql = newest_sql_prefix(settings)

    def results(query: dict[str, Any]) -> Result | None:
        text = query["query"]
        if text in fixed:
            return fixed[text]
        if text.startswith(current_sql):
            return current
        if text.startswith(history_sql):
            return history
        if text.startswith(newest_sql):  # within the recent days
            return newest
        if "shadow_pairs" in text:
            return evidence
        return None

    return results


def main() -> None:
    from google.api_core import exceptions
    from google.cloud import bigquery_storage

    data_dir = sys.argv[1]
    # the function has answered before: the log sink's table exists (Cloud Logging made it), and
    # so do prediction_log and drift_alerts (an earlier run's), and the snapshots' lineage
    fake = FakeBigQueryREST(
        answers(),
        loaded_rows=lambda load: 0,
        table_rows={SINK_TABLE_ID: 2 * ROWS, PREDICTION_LOG_ID: 2 * ROWS, DECISIONS_ID: 1, LINEAGE_ID: 1}.get,
    )
    refused = exceptions.PermissionDenied(
        "Permission bigquery.readsessions.create denied on resource project fraud-prj"
    )
    run_conf = {"current_start": sql_instant(CURRENT_START), "reference_hours": REFERENCE_HOURS}
    with (
        patched_get_client(fake),
        mock.patch.object(
            bigquery_storage.BigQueryReadClient, "create_read_session", side_effect=refused
        ) as read_session,
        mock.patch("fraud_mlops.targets.COMPOSER_DATA_DIR", data_dir),
        mock.patch("google.cloud.aiplatform_v1.ModelServiceClient", autospec=True) as model_cls,
        mock.patch("google.cloud.aiplatform_v1.EndpointServiceClient", autospec=True) as endpoint_cls,
        mock.patch(
            "google.cloud.logging_v2.services.logging_service_v2.LoggingServiceV2Client", autospec=True
        ) as logging_cls,
    ):
        vertex_model_client(model_cls), vertex_endpoint_client(endpoint_cls)
        dag, run = test_dag(REPO_ROOT / "dags" / "fraud_monitoring.py", "fraud_monitoring", run_conf)
    import pyarrow.parquet as pq

    tis = {ti.task_id: ti for ti in run.get_task_instances()}
    alerts = logging_cls.return_value.write_log_entries.call_args_list
    print("PROBE " + json.dumps({
        "states": {task_id: str(ti.state) for task_id, ti in tis.items()},
        "run_id": run.run_id,
        "newest_logged": sql_instant(NEWEST_LOGGED),
        "earliest_incoming": sql_instant(EARLIEST_INCOMING),
        "last_batch_logged": sql_instant(LAST_BATCH_LOGGED),
        "bigquery_jobs": fake.jobs,
        "uploads": {job_id: pq.read_table(io.BytesIO(data)).to_pylist() for job_id, data in fake.uploads.items()},
        "unknown_requests": fake.unknown,
        "tables_read": fake.tables_read,
        "read_sessions": len(read_session.call_args_list),
        "drift": tis["check_drift"].xcom_pull(task_ids="check_drift"),
        "canary": tis["apply_canary_decision"].xcom_pull(task_ids="apply_canary_decision"),
        "alert_kinds": [c.kwargs["request"].labels["kind"] for c in alerts],
        "alert_ids": {
            c.kwargs["request"].labels["kind"]: c.kwargs["request"].entries[0].json_payload["alert_id"] for c in alerts
        },
        "links": {task_id: links(dag, tis[task_id]) for task_id in ("check_drift", "apply_canary_decision")},
    }, default=str))  # fmt: skip


if __name__ == "__main__":
    main()
