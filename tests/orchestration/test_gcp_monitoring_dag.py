"""The monitoring DAG on the gcp target, run by real Airflow (``dag.test()``), with Google's services
answered at the client boundary (gcp_monitoring_probe.py): BigQuery's REST API under the real
client, Vertex's registry and endpoint clients, Cloud Logging's client.

It shows what the rendering tests and the canary task's own run cannot: the whole DAG's queries in
order, Evidently's checks on what BigQuery answered (read over REST pages: the account may not
open a Storage Read session, and BigQuery refuses it here as it would), the figures loaded into
``monitoring_metrics_staging`` for ``85_monitoring_metrics.sql``, the reports written to
Composer's data folder, and both alerts in Cloud Logging.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from fraud_mlops.features import FEATURE_NAMES
from fraud_mlops.monitoring import reporting
from fraud_mlops.monitoring.drift import monitored_features
from fraud_mlops.monitoring.run import METRICS_STAGING_TABLE, run_folder_name
from fraud_mlops.settings import settings_from_env
from fraud_mlops.sql_templates import render_sql, sql_instant
from tests.airflow_probes import airflow_home, run_probe
from tests.orchestration.gcp_canary_probe import EVIDENCE_BOUNDS
from tests.orchestration.gcp_monitoring_probe import SNAPSHOT, history_sql_prefix, newest_sql_prefix
from tests.orchestration.test_gcp_canary_task import LINKS as CANARY_LINKS

GCP_ENV = {
    "MLOPS_TARGET": "gcp", "GCP_PROJECT": "fraud-prj", "GCP_REGION": "europe-west4", "MLOPS_ENDPOINT_ID": "42",
    "GCS_BUCKET": "europe-west4-fraud-1a2b-bucket",  # Composer sets it to its environment's bucket
}  # fmt: skip


def test_prediction_log_to_drift_reports_metrics_views_and_canary_on_gcp(tmp_path: Path) -> None:
    settings = settings_from_env(GCP_ENV)
    data_dir = tmp_path / "composer-data"
    out = run_probe(
        "tests.orchestration.gcp_monitoring_probe", airflow_home(tmp_path, GCP_ENV), str(data_dir)
    )

    assert out["states"] == dict.fromkeys(
        ["append_prediction_log", "apply_canary_decision", "check_drift", "record_monitoring_metrics",
         "refresh_reporting_views"], "success",
    )  # fmt: skip
    assert out["unknown_requests"] == []
    # the sink's table exists, then prediction_log, whose newest answer sets where the copy starts;
    # then drift_alerts, whose earlier decisions tell whether drift is announced; then the snapshot
    # lineage (skew needs a snapshot: only a missing table means none, any other error raises)
    assert out["tables_read"] == [
        "fraud-prj.fraud_logs.run_googleapis_com_stdout",
        "fraud-prj.fraud.prediction_log",
        "fraud-prj.fraud.drift_alerts",
        "fraud-prj.fraud.snapshot_lineage",
    ]
    assert out["read_sessions"] == 0  # every result read over REST pages
    jobs = out["bigquery_jobs"]
    assert {(j["jobReference"]["projectId"], j["jobReference"].get("location")) for j in jobs} == {
        ("fraud-prj", "EU")
    }

    # the drift branch's jobs in order (the canary task, beside it, sends its evidence query)
    queries = [j["configuration"]["query"]["query"] for j in jobs if "query" in j["configuration"]]
    evidence = render_sql("86_canary_window.sql", settings, champion="1", canary="3", **EVIDENCE_BOUNDS)
    assert queries.count(evidence) == 1
    drift_branch = [q for q in queries if q != evidence]
    # the earlier runs' decisions from 25 hours before the task ran (a day's reminder period and an hour)
    (history,) = [q for q in drift_branch if q.startswith(history_sql_prefix(settings))]
    since = datetime.fromisoformat(history.split("TIMESTAMP('")[1].split("'")[0])
    assert timedelta(hours=25) <= datetime.now(UTC) - since < timedelta(hours=25, minutes=10)
    windows = out["drift"]["windows"]
    served = [
        render_sql("84_monitoring_served.sql", settings, start=windows["current_start"], end=windows["end"],
                   limit=50_000),
        render_sql("84_monitoring_served.sql", settings, start=windows["reference_start"],
                   end=windows["current_start"], limit=50_000),
    ]  # fmt: skip
    # the newest answer logged, looked for in the week before the task ran (and found there)
    (newest,) = [q for q in drift_branch if q.startswith(newest_sql_prefix(settings))]
    recent = datetime.fromisoformat(newest.split("TIMESTAMP('")[1].split("'")[0])
    assert timedelta(days=7) <= datetime.now(UTC) - recent < timedelta(days=7, minutes=10)
    newest_logged, earliest_incoming, last_batch_logged = (
        datetime.fromisoformat(out[k]) for k in ("newest_logged", "earliest_incoming", "last_batch_logged")
    )
    batch_from = sql_instant(last_batch_logged - timedelta(days=1))  # the scoring runs since
    assert drift_branch == [
        newest,
        render_sql("88_prediction_log_sink.sql", settings, log_table="fraud-prj.fraud_logs.run_googleapis_com_stdout",
                   since=sql_instant(newest_logged - timedelta(hours=48))),
        render_sql("99_card_erasures_expiry.sql", settings),  # the records no source needs
        render_sql("98_prediction_log_batch_from.sql", settings),
        render_sql("97_prediction_log_incoming.sql", settings, batch_from=batch_from),
        # repeats looked for from a day before the earliest incoming row
        render_sql("83_prediction_log.sql", settings, logged_from=sql_instant(earliest_incoming - timedelta(days=1)),
                   batch_from=batch_from, incoming_from=sql_instant(earliest_incoming)),
        render_sql("89_prediction_log_rows.sql", settings),
        history,
        *served,
        render_sql("73_newest_snapshot.sql", settings),
        render_sql("75_snapshot_sample.sql", settings, snapshot=SNAPSHOT, limit=20_000),
        render_sql("94_drift_alert_record.sql", settings),
        render_sql("85_monitoring_metrics.sql", settings),
        render_sql("76_table_exists.sql", settings, table="training_examples"),
        render_sql("76_table_exists.sql", settings, table="rejected_rows"),
        render_sql(reporting.REPORTING_SQL, settings, published={"training_examples": True, "rejected_rows": True}),
    ]  # fmt: skip
    assert queries.index(evidence) > queries.index(render_sql("89_prediction_log_rows.sql", settings))

    # Evidently's verdict on what BigQuery answered: the current window's amounts and scores moved
    drift = out["drift"]
    assert drift["drift_detected"] is True
    assert drift["flagged_checks"] == ["skew", "drift", "prediction_drift"]
    assert "amount=" in drift["verdict"] and "score=" in drift["verdict"]

    # the figures, loaded (a truncating Parquet load) for 85_monitoring_metrics.sql to publish
    (load_job,) = [j for j in jobs if "load" in j["configuration"]]
    load = load_job["configuration"]["load"]
    assert load["destinationTable"] == {
        "projectId": "fraud-prj", "datasetId": "fraud", "tableId": METRICS_STAGING_TABLE,
    }  # fmt: skip
    assert (load["sourceFormat"], load["writeDisposition"]) == ("PARQUET", "WRITE_TRUNCATE")
    rows = out["uploads"][load_job["jobReference"]["jobId"]]
    assert {r["run_id"] for r in rows} == {out["run_id"]}
    by_check = {(r["check_name"], r["feature"]): r for r in rows}
    assert {f for c, f in by_check if c == "drift"} == set(monitored_features(FEATURE_NAMES))
    assert by_check[("drift", "amount")]["drifted"] is True and by_check[("drift", "amount")]["value"] > 0.5
    assert by_check[("prediction_drift", "score")]["drifted"] is True
    assert {r["reference_rows"] for r in rows} == {r["current_rows"] for r in rows} == {1_200}

    # the reports, in Composer's data folder (the environment bucket's data/, FUSE-mounted)
    run_dir = data_dir / "monitoring" / run_folder_name(out["run_id"])
    assert drift["result_file"] == str(run_dir / "result.json")
    assert json.loads((run_dir / "result.json").read_text())["drift_detected"] is True
    for check, report in drift["reports"].items():
        assert report == str(run_dir / f"{check}.html") and Path(report).stat().st_size > 10_000

    # the reports folder, one click from the task page: the mount's folder is the bucket's data/
    assert out["links"]["check_drift"] == {
        "Monitoring reports": (
            "https://console.cloud.google.com/storage/browser/europe-west4-fraud-1a2b-bucket/data/monitoring/"
            f"{run_folder_name(out['run_id'])}/;tab=objects?project=fraud-prj"
        )
    }
    assert out["links"]["apply_canary_decision"] == CANARY_LINKS

    # announced: the earlier run's decision, an hour ago, had the drift check alone flagged; and
    # recorded, at this run's own clock, for the next run
    reason = "drift changed: drift → drift, prediction_drift, skew"
    assert drift["alert"] == {"raised": True, "reason": reason}
    record_sql = render_sql("94_drift_alert_record.sql", settings)
    (record,) = [
        j["configuration"]["query"]
        for j in jobs
        if j["configuration"].get("query", {}).get("query") == record_sql
    ]
    parameters = {p["name"]: p["parameterValue"]["value"] for p in record["queryParameters"]}
    decided_at = datetime.fromisoformat(parameters.pop("decided_at"))
    assert timedelta(0) < datetime.now(UTC) - decided_at < timedelta(minutes=10)
    assert parameters == {
        "run_id": out["run_id"], "flagged": "drift,prediction_drift,skew", "raised": "true", "reason": reason,
        "unjudged": "",  # every check had its rows
    }  # fmt: skip

    # the canary rolled back, and both alerts went to Cloud Logging
    assert out["canary"]["verdict"] == "ROLLBACK"
    assert sorted(out["alert_kinds"]) == ["canary_rollback", "drift"]
    # each names its event, the same on a retry of the task (a receiver drops the repeat)
    assert out["alert_ids"] == {
        "drift": f"gcp:fraud-prj:drift:fraud_monitoring:{out['run_id']}:drift,prediction_drift,skew",
        "canary_rollback": "gcp:fraud-prj:canary_rollback:fraud-detector:v3",
    }
