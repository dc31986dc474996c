"""The sensor-driven and the daily ingestion DAGs on the gcp target, run by real Airflow
(``dag.test()``, the deferred sensor's trigger in line), from a file landed in Cloud Storage to
the feature-view sync (gcp_ingestion_probe.py): Cloud Storage is the GCS emulator, BigQuery its
REST API answered in memory under the real client, Vertex's feature-store admin client patched
at its class.

The local stack test runs the same DAGs on the local target; here every BigQuery job the gcp
target sends is checked, in order, against the shared SQL and the plan's partition bounds, and
the file is validated, loaded, appended and archived with the identity Cloud Storage gave it.
"""

from __future__ import annotations

import base64
import json
import re
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from fraud_mlops.settings import settings_from_env
from fraud_mlops.sql_templates import SQL_FILES, render_sql, snapshot_name
from fraud_mlops.warehouse.bigquery_jobs import append_raw_parameters, append_raw_sql, load_job_configuration
from tests.airflow_probes import airflow_home, run_probe
from tests.orchestration.gcp_ingestion_probe import LEFTOVERS, SYNC_NAME
from tests.sql_chain import FakeDagRun

GCP_ENV = {
    "MLOPS_TARGET": "gcp", "GCP_PROJECT": "fraud-prj", "GCP_REGION": "europe-west4",
    "MLOPS_PSEUDONYM_KMS_KEY": "gcp-kms://projects/fraud-prj/locations/europe/keyRings/fraud-pseudonym/cryptoKeys/card-pseudonym",
    "MLOPS_PSEUDONYM_KEYSET": base64.b64encode(bytes(range(7, 127))).decode(),  # stands for the wrapped keyset
}  # fmt: skip


def _parameters(query: dict[str, Any]) -> dict[str, str]:
    return {p["name"]: p["parameterValue"]["value"] for p in query.get("queryParameters", [])}


def _run_of(out: dict[str, Any], dag_id: str) -> FakeDagRun:
    dag_run = FakeDagRun(out["run_id"], dag_id)
    dag_run.run_after = datetime.fromisoformat(out["run_after"])
    return dag_run


def _named_jobs(out: dict[str, Any], snapshot: str) -> tuple[list[str], list[dict[str, Any]]]:
    """The probe run's BigQuery jobs (their configurations) and, for each, the step whose SQL it
    ran, matched on its exact text (``load`` for a load job, ``?`` for SQL of none of these):
    the snapshot job's SQL is 60 rendered for ``snapshot``."""
    settings = settings_from_env(GCP_ENV)
    files_read = {name: SQL_FILES[name] for name in (
        "setup", "lease_holder", "lease_acquire", "lease_release",
        "training_day_totals", "increment_files", "increment_event_from", "increment_late_rows",
        "staging", "card_features", "training_examples", "quality_checks", "publish",
    )} | {"snapshot_lineage_row": "72_snapshot_lineage_row.sql", "summary_rejects": "71_summary_rejects.sql",
          "summary_counts": "70_summary_counts.sql"}  # fmt: skip
    sql_names = {render_sql(sql_file, settings): name for name, sql_file in files_read.items()}
    sql_names |= {append_raw_sql(file, settings): "append_raw" for file in out["files"]}
    sql_names[render_sql(SQL_FILES["snapshot"], settings, snapshot=snapshot)] = "snapshot"
    jobs = [job["configuration"] for job in out["bigquery_jobs"]]
    return [sql_names.get(job["query"]["query"], "?") if "query" in job else "load" for job in jobs], jobs


@pytest.mark.parametrize(("dag_id", "tasks"), [("fraud_ingest_sensor", 20), ("fraud_ingest_daily", 19)])
def test_a_landed_file_to_raw_staging_features_snapshot_and_feature_sync(
    tmp_path: Path, dag_id: str, tasks: int
) -> None:
    """The sensor DAG (its wait for files first) and the daily one: the same path after it."""
    settings = settings_from_env(GCP_ENV)
    out = run_probe(
        "tests.orchestration.gcp_ingestion_probe", airflow_home(tmp_path, GCP_ENV), str(tmp_path), dag_id
    )

    assert set(out["states"].values()) == {"success"}, out["states"]
    assert len(out["states"]) == tasks  # every task, the one mapped file's load and append included
    assert out["unknown_requests"] == []

    (file,) = out["files"]
    assert file["name"] == "incoming/day1.csv" and file["rows"] == 300 and file["bad_lines"] == 0
    assert file["generation"].isdigit()  # Cloud Storage's generation, not "None"
    assert re.fullmatch(r"[0-9a-f]{32}", file["md5"])
    (archived,) = out["landing_objects"]
    # out of the watched prefix, in the folder of the generation loaded
    assert re.fullmatch(rf"processed/\d{{4}}-\d{{2}}-\d{{2}}/{file['generation']}/day1\.csv", archived)

    dag_run = _run_of(out, dag_id)
    steps, jobs = _named_jobs(out, snapshot_name(dag_run))
    # every job in the project and location the settings name
    assert {
        (j["jobReference"]["projectId"], j["jobReference"].get("location")) for j in out["bigquery_jobs"]
    } == {("fraud-prj", "EU")}
    # the lease is claimed before the file's load and given back after the feature sync; the
    # teardown (it reads the holder: only a holder drops leftovers) runs beside the run summary:
    # either may go first
    released = steps.index("lease_release")
    assert released > steps.index("snapshot_lineage_row") and steps[released - 1] == "lease_holder"

    def guarded(*task_jobs: str) -> list[str]:
        """A task under the lease: it reads the lease's holder first (its pre_execute)."""
        return ["lease_holder", *task_jobs]

    assert steps[: released - 1] + steps[released + 1 :] == [
        "setup",
        "lease_holder", "lease_acquire", "lease_holder",  # acquire_transform_lease: free, claimed, held
        *guarded(),  # validate_landed_files
        *guarded("load"), *guarded("append_raw"), *guarded(),  # load_raw, archive_loaded_files
        *guarded("training_day_totals", "increment_files", "increment_event_from", "increment_late_rows"),
        *guarded("staging"), *guarded("card_features"), *guarded("training_examples"),
        *guarded("quality_checks"), *guarded("publish"), *guarded("snapshot"),
        *guarded("snapshot_lineage_row"),  # publish_snapshot
        *guarded(), *guarded(), *guarded(),  # feature_sync: sync, wait, record (no BigQuery job)
        "summary_rejects", "summary_counts", "snapshot_lineage_row",  # summarise_run
    ]  # fmt: skip

    assert jobs[steps.index("load")]["load"] == load_job_configuration(file, settings)["load"]
    assert _parameters(jobs[steps.index("append_raw")]["query"]) == append_raw_parameters(file)
    plan = out["plan"]
    assert plan["files"] == "1" and plan["older_until"] == "0001-01-01"  # a first file: no older staging
    by_step = dict(zip(steps, jobs, strict=False))
    bounds = {name: plan[name] for name in ("loaded_from", "event_from", "older_until")}
    run = {"run_id": out["run_id"]}
    assert (
        _parameters(by_step["staging"]["query"])
        == {k: bounds[k] for k in ("loaded_from", "event_from")} | run
    )
    assert _parameters(by_step["card_features"]["query"]) == bounds
    # the plan asks what this run published before (nothing: a first try), and follows the
    # transform, then the snapshot
    assert _parameters(by_step["increment_files"]["query"]) == run
    assert (plan["loaded_by_run"], plan["published_by_run"]) == ("1", "0")
    assert out["branch"] == ["transform.build_staging", "snapshot.snapshot_training_table"]
    assert _parameters(by_step["quality_checks"]["query"]) == {
        k: bounds[k] for k in ("loaded_from", "event_from")
    }
    assert _parameters(by_step["snapshot"]["query"]) == {"dag_id": dag_id} | run
    # the lease is claimed for this run (nobody held it: no stale holder named) and given back
    assert (
        _parameters(by_step["lease_acquire"]["query"])
        == {"dag_id": dag_id, "stale_dag_id": "", "stale_run_id": ""} | run
    )
    assert _parameters(by_step["lease_release"]["query"]) == {"dag_id": dag_id} | run
    assert {job["query"]["useLegacySql"] for job in jobs if "query" in job} == {False}

    # the snapshot the SQL created is the one publish_snapshot announces and the summary reports
    lineage_reads = [
        _parameters(job["query"])
        for step, job in zip(steps, jobs, strict=True)
        if step == "snapshot_lineage_row"
    ]
    assert lineage_reads == [{"snapshot_name": snapshot_name(dag_run)}] * 2
    assert out["snapshot"]["snapshot_name"] == snapshot_name(dag_run)
    assert out["snapshot"]["row_count"] == 300
    assert out["sync_requests"] == [
        {"feature_view": "projects/fraud-prj/locations/europe-west4/featureOnlineStores/fraud_online_store"
                         "/featureViews/card_features"}
    ]  # fmt: skip
    # the sensor and the record read the sync the operator started
    assert {read["name"] for read in out["sync_reads"]} == {SYNC_NAME}
    assert out["summary"]["feature_sync"]["sync_id"] == SYNC_NAME.rsplit("/", 1)[1]
    # partitioned tables are counted from their metadata (tables.get), not by a query
    assert out["tables_read"] == ["fraud-prj.fraud.stg_transactions", "fraud-prj.fraud.card_features"]
    assert out["summary"]["counts"]["staging_rows"] == 300
    # the lease claimed, the per-file tables an earlier run left are listed (every page) and
    # dropped, and only they; the teardown looks again (before it gives the lease back) and finds
    # none: this run's own load table was dropped by its append's SQL
    raw, main = "fraud-prj.fraud_raw", "fraud-prj.fraud"
    assert out["tables_listed"] == [raw, raw, main, main, main, raw, main, main, main]
    assert out["tables_deleted"] == LEFTOVERS


def test_a_cleared_run_publishing_a_second_time_creates_and_announces_its_second_snapshot(
    tmp_path: Path,
) -> None:
    """BigQuery answers that this run published two files before, in one publish (it was cleared
    after it): the snapshot job creates the snapshot `_2`, and publish_snapshot and the summary
    read that one's lineage."""
    dag_id = "fraud_ingest_daily"
    out = run_probe(
        "tests.orchestration.gcp_ingestion_probe", airflow_home(tmp_path, GCP_ENV), str(tmp_path), dag_id,
        "second-publish",
    )  # fmt: skip
    assert set(out["states"].values()) == {"success"}, out["states"]
    assert (out["plan"]["published_by_run"], out["plan"]["publishes_by_run"]) == ("2", "1")
    assert out["plan"]["snapshot_publish"] == 2
    second = snapshot_name(_run_of(out, dag_id), 2)
    steps, jobs = _named_jobs(out, second)
    # one snapshot job, and its SQL is exactly 60 rendered for `_2`
    assert "?" not in steps and steps.count("snapshot") == 1
    lineage_reads = [
        _parameters(job["query"])
        for step, job in zip(steps, jobs, strict=True)
        if step == "snapshot_lineage_row"
    ]
    assert lineage_reads == [{"snapshot_name": second}] * 2  # publish_snapshot's and the summary's
    assert out["snapshot"]["snapshot_name"] == out["summary"]["snapshot"]["snapshot_name"] == second


def test_a_file_bigquerys_load_cannot_read_is_quarantined_and_the_other_file_goes_on(tmp_path: Path) -> None:
    """Two landed files; BigQuery's load job ends the first with the error result of a source it
    cannot read. That file goes to quarantine with the load's reason, its append is skipped, and
    the other file is appended, transformed, published and synced: the run succeeds."""
    out = run_probe(
        "tests.orchestration.gcp_ingestion_probe",
        airflow_home(tmp_path, GCP_ENV),
        str(tmp_path),
        "fraud_ingest_sensor",
        "refused",
    )
    states = out["states"]
    assert states["load_raw.load_raw_file[0]"] == states["load_raw.load_raw_file[1]"] == "success"
    assert (states["load_raw.append_raw_file[0]"], states["load_raw.append_raw_file[1]"]) == (
        "skipped",
        "success",
    )
    assert {s for t, s in states.items() if "append_raw_file" not in t} == {"success"}, states
    assert out["unknown_requests"] == []

    jobs = [job["configuration"] for job in out["bigquery_jobs"]]
    loads = sorted(job["load"]["sourceUris"] for job in jobs if "load" in job)
    assert loads == [["gs://fraud-landing/incoming/day0-shop.csv"], ["gs://fraud-landing/incoming/day1.csv"]]
    settings = settings_from_env(GCP_ENV)
    by_name = {f["name"]: f for f in out["files"]}  # both passed validation
    queries = [job["query"]["query"] for job in jobs if "query" in job]
    assert queries.count(append_raw_sql(by_name["incoming/day1.csv"], settings)) == 1
    assert append_raw_sql(by_name["incoming/day0-shop.csv"], settings) not in queries
    # the refused file's load table dropped (tables.delete; the failed job never made it: 404,
    # which the client takes as done); no reject table, it had no bad line
    assert out["tables_deleted"] == [
        *LEFTOVERS,
        f"fraud-prj.fraud_raw.{by_name['incoming/day0-shop.csv']['load_table']}",
    ]

    assert out["landing_objects"] == [o for o in out["landing_objects"] if o.startswith("processed/")]
    assert len(out["landing_objects"]) == 1 and out["landing_objects"][0].endswith("/day1.csv")
    (moved,) = [name for name in out["quarantined"] if name.endswith("/day0-shop.csv")]
    reason = json.loads(out["quarantined"][moved + ".reason.json"])
    assert reason["reason"] == "load_refused"
    assert reason["source"] == "gs://fraud-landing/incoming/day0-shop.csv"
    assert reason["detail"].startswith("Error while reading data, error message: CSV table encountered")
    (listed,) = out["summary"]["quarantined_files"]
    assert (listed["file"], listed["reason"]) == ("incoming/day0-shop.csv", "load_refused")
    assert out["snapshot"]["row_count"] == 300  # the other file's rows went all the way
