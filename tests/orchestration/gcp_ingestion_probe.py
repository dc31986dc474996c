"""Run a real ingestion DAG (``fraud_ingest_sensor``, its deferred sensor's trigger run in line, or
``fraud_ingest_daily``; the second argument) on the gcp target under ``dag.test()``; print what
reached Google, the archive and the Asset, as JSON.

A subprocess of test_gcp_ingestion_dag.py (Airflow's settings and metadata DB are per process).
Cloud Storage is the GCS emulator (in memory, in this process; the provider's GCSHook and the
sensor's trigger reach it through ``STORAGE_EMULATOR_HOST``) with one generated file landed.
BigQuery is its REST API answered in memory under the real client (tests/bigquery_rest.py):
every job succeeds, the load job loads the rows validation counted, the planning and
summary queries get the answers a first file gets, and the transform lease's row is kept as the
claim and release statements leave it. Vertex's feature-store admin client is
patched at its class (a sync is done by the first poke).
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fraud_mlops.settings import REPO_ROOT, get_settings
from fraud_mlops.sql_templates import SQL_FILES, render_sql
from tests.bigquery_rest import FakeBigQueryREST, Result, patched_get_client
from tests.orchestration.probe_support import (
    gcs_emulator,
    test_dag,
    transform_lease_row,
    vertex_feature_store,
)

ROWS = 300
#: With the probe's third argument ``refused``: a second landed file whose load job BigQuery
#: ends with the error result of a source it cannot read (reason ``invalid`` at the file's URI).
REFUSED = "incoming/day0-shop.csv"


def unreadable(uri: str) -> dict[str, str]:
    return {
        "reason": "invalid",
        "location": uri,
        "message": "Error while reading data, error message: CSV table encountered too many errors, "
        "giving up. Rows: 3; errors: 1. Please look into the errors[] collection for more details.",
    }


SYNC_NAME = (
    "projects/fraud-prj/locations/europe-west4/featureOnlineStores/fraud_online_store"
    "/featureViews/card_features/featureViewSyncs/7001"
)


def _field(name: str, kind: str = "INTEGER", mode: str = "NULLABLE") -> dict[str, str]:
    return {"name": name, "type": kind, "mode": mode}


def answers(now: datetime, first_event: datetime, dag_id: str, published_before: int = 0) -> Any:
    """What BigQuery answers each query the DAG's Python tasks read, for a first file of ROWS rows
    (a function of the query's configuration: the lineage row is the snapshot asked for);
    ``published_before``: files this run published before, in one publish (a cleared run)."""
    micros = lambda moment: int(moment.timestamp() * 1_000_000)  # noqa: E731 - TIMESTAMPs as int64 micros
    settings = get_settings()
    counts = ["raw_rows", "rejected_rows", "training_rows", "cards", "files_loaded", "duplicate_landings"]
    by_text: dict[str, Any] = {
        render_sql(SQL_FILES["training_day_totals"], settings): (
            [_field("counted"), _field("rows")],
            [(0, 0)],
        ),
        render_sql(SQL_FILES["increment_files"], settings): (
            [
                _field("first_logged", "TIMESTAMP"),
                _field("files"),
                _field("loaded_by_run"),
                _field("published_by_run"),
                _field("publishes_by_run"),
            ],
            [(micros(now), 1, 1, published_before, min(published_before, 1))],
        ),
        render_sql(SQL_FILES["increment_event_from"], settings): (
            [_field("first_event", "TIMESTAMP")],
            [(micros(first_event),)],
        ),
        render_sql(SQL_FILES["increment_late_rows"], settings): ([_field("later_rows")], [(0,)]),
        render_sql("72_snapshot_lineage_row.sql", settings): (
            [
                _field("snapshot_name", "STRING"),
                _field("source_table", "STRING"),
                _field("row_count"),
                _field("fraud_count"),
                _field("source_files", "STRING", "REPEATED"),
                _field("dag_id", "STRING"),
                _field("run_id", "STRING"),
                _field("created_at", "TIMESTAMP"),
                _field("expires_at", "TIMESTAMP"),
            ],
            [
                (
                    "{snapshot_name}",
                    "fraud-prj.fraud.training_examples",
                    ROWS,
                    3,
                    ["gs://fraud-landing/incoming/day1.csv"],
                    dag_id,
                    "RUN",
                    micros(now),
                    micros(now),
                )
            ],
        ),
        render_sql("70_summary_counts.sql", settings): (
            [_field(name) for name in counts],
            [(ROWS, 0, ROWS, 40, 1, 0)],
        ),
    }

    lease = transform_lease_row(settings, now)

    def answer(query: dict[str, Any]) -> Result | None:
        parameters = {p["name"]: p["parameterValue"]["value"] for p in query.get("queryParameters", [])}
        held = lease(query)
        if held is not None:
            return held
        found = by_text.get(query["query"])
        if found is None:
            return None
        fields, rows = found
        return fields, [
            tuple(v.format(**parameters) if isinstance(v, str) else v for v in row) for row in rows
        ]

    return answer


#: The tables ``tables.list`` finds: a load table and a reject table an earlier run left behind
#: (a load killed mid-job, a run failed before its appends) beside tables the run must keep,
#: one of them named like a load table in the wrong dataset.
LEFTOVERS = ["fraud-prj.fraud_raw.raw_load_0123456789abcdef_01234567", "fraud-prj.fraud.reject_load_0123456789abcdef_01234567"]  # fmt: skip
DATASET_TABLES = {
    "fraud-prj.fraud_raw": ["raw_transactions", "raw_load_0123456789abcdef_01234567", "raw_loads_report"],
    "fraud-prj.fraud": [
        "card_features", "ingestion_log", "raw_load_kept", "reject_load_0123456789abcdef_01234567",
        "rejected_lines", "stg_transactions",
    ],
}  # fmt: skip


def main() -> None:
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    from devtools.generator.files import write_landing_csv
    from devtools.generator.synth import GeneratorConfig, generate

    batch = generate(GeneratorConfig(rows=ROWS, seed=7))
    csv_path = write_landing_csv(batch.landing, Path(sys.argv[1]) / "day1.csv", show_progress=False)
    first_event = min(batch.landing["event_time"].map(lambda t: datetime.fromisoformat(str(t))))
    if first_event.tzinfo is None:
        first_event = first_event.replace(tzinfo=UTC)
    refused = sys.argv[3:] == ["refused"]
    # a run cleared after its publish, whose new try finds this file: its second publish
    published_before = 2 if sys.argv[3:] == ["second-publish"] else 0
    refused_uri = f"gs://fraud-landing/{REFUSED}"
    fake = FakeBigQueryREST(
        results=answers(datetime.now(UTC), first_event, sys.argv[2], published_before),
        loaded_rows=lambda load: unreadable(refused_uri) if load["sourceUris"] == [refused_uri] else ROWS,
        # the run summary counts the tables that refuse unfiltered queries from their metadata
        table_rows={"fraud-prj.fraud.stg_transactions": ROWS, "fraud-prj.fraud.card_features": ROWS}.get,
        tables=DATASET_TABLES.get,
        list_page=2,  # the listing of the dataset holding the leftover takes pages
    )
    with gcs_emulator():
        gcs = storage.Client(project="fraud-prj", credentials=AnonymousCredentials())
        landing = gcs.create_bucket("fraud-landing")
        landing.blob("incoming/day1.csv").upload_from_filename(str(csv_path))
        if refused:  # validation accepts it (the same rows); BigQuery's load will not
            other = generate(GeneratorConfig(rows=50, seed=8)).landing
            landing.blob(REFUSED).upload_from_filename(
                str(write_landing_csv(other, csv_path.with_name("day0.csv"), show_progress=False))
            )
        gcs.create_bucket("fraud-quarantine")
        with patched_get_client(fake), vertex_feature_store(SYNC_NAME) as admin:
            dag_id = sys.argv[2]
            _, run = test_dag(REPO_ROOT / "dags" / f"{dag_id}.py", dag_id)
        tis = {(ti.task_id, ti.map_index): ti for ti in run.get_task_instances()}
        objects = sorted(b.name for b in gcs.list_blobs("fraud-landing"))
        quarantined = {b.name: b.download_as_text() for b in gcs.list_blobs("fraud-quarantine")}

    def pulled(task_id: str, key: str = "return_value") -> Any:
        return tis[(task_id, -1)].xcom_pull(task_ids=task_id, key=key)

    print("PROBE " + json.dumps({
        "states": {f"{t}[{i}]" if i >= 0 else t: str(ti.state) for (t, i), ti in tis.items()},
        "run_id": run.run_id,
        "run_after": run.run_after.isoformat(),
        "bigquery_jobs": fake.jobs,
        "unknown_requests": fake.unknown,
        "landing_objects": objects,
        "quarantined": {n: text if n.endswith(".json") else len(text) for n, text in quarantined.items()},
        "files": pulled("validate_landed_files"),
        "plan": pulled("transform.plan_increment", "increment"),
        "branch": pulled("transform.plan_increment"),
        "snapshot": pulled("snapshot.publish_snapshot"),
        "tables_read": fake.tables_read,
        "tables_deleted": fake.tables_deleted,
        "tables_listed": fake.tables_listed,
        "sync_requests": [c.kwargs for c in admin.sync_feature_view.call_args_list],
        "sync_reads": [c.kwargs for c in admin.get_feature_view_sync.call_args_list],
        "summary": pulled("summarise_run"),
    }, default=str))  # fmt: skip


if __name__ == "__main__":
    main()
