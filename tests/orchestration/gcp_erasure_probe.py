"""Run the real ``fraud_erase_card`` DAG on the gcp target under ``dag.test()``; print what reached
Google and the archive, as JSON.

A subprocess of test_gcp_erasure_dag.py (Airflow's settings and metadata DB are per process).
Cloud Storage is the GCS emulator (gcp-storage-emulator, in memory, in this process; the
provider's GCSHook reaches it through ``STORAGE_EMULATOR_HOST``), holding one archived landing
file with two rows of the card among others, and an empty quarantine (or, with a third argument
``broken_gzip``, one quarantined gzip that does not decompress). BigQuery is its REST API answered in memory under
the real client (tests/bigquery_rest.py), keeping the transform lease's row. Vertex's feature-store admin client is patched at its
class: a sync it starts has finished by the first poke.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import sys
from datetime import UTC, datetime

from fraud_mlops.landing_schema import LANDING_COLUMNS
from fraud_mlops.settings import REPO_ROOT, get_settings
from tests.bigquery_rest import FakeBigQueryREST, patched_get_client
from tests.orchestration.probe_support import (
    card_pseudonym_answer,
    gcs_emulator,
    test_dag,
    transform_lease_row,
    vertex_feature_store,
    vertex_online_store,
)

ARCHIVED = "processed/transactions_day1.csv"
FEATURE_VIEW = "projects/fraud-prj/locations/europe-west4/featureOnlineStores/fraud_online_store/featureViews/card_features"
SYNC_NAME = f"{FEATURE_VIEW}/featureViewSyncs/5017"
BROKEN = "2026-12-07/transactions_day2.csv.gz"


def landing_csv(cards: list[str]) -> bytes:
    """A landing file with one row per card (the other columns' values do not matter here)."""
    out = io.StringIO(newline="")
    writer = csv.DictWriter(out, LANDING_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for i, card in enumerate(cards):
        row = dict.fromkeys(LANDING_COLUMNS, "0")
        row.update(transaction_id=f"t{i}", card_number=card, merchant="Corner Shop")
        writer.writerow(row)
    return out.getvalue().encode()


def main() -> None:
    from airflow.models.renderedtifields import RenderedTaskInstanceFields
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    card, others = sys.argv[1], sys.argv[2].split(",")
    fake = FakeBigQueryREST(
        results=card_pseudonym_answer(get_settings(), transform_lease_row(get_settings(), datetime.now(UTC))),
        # a failed run's load table (every row of its file, card numbers in clear) and its neighbours
        tables={"fraud-prj.fraud_raw": ["raw_load_0123456789abcdef_01234567", "raw_transactions"]}.get,
    )
    with gcs_emulator():
        client = storage.Client(project="fraud-prj", credentials=AnonymousCredentials())
        bucket = client.create_bucket("fraud-landing")
        bucket.blob(ARCHIVED).upload_from_string(landing_csv([others[0], card, others[1], card]))
        quarantine = client.create_bucket("fraud-quarantine")  # empty: nothing quarantined holds the card
        if "broken_gzip" in sys.argv[3:]:  # ingestion quarantined it (bad_compression); cut short
            quarantine.blob(BROKEN).upload_from_string(gzip.compress(landing_csv([card]))[:-8])
        archived_at = bucket.get_blob(ARCHIVED).time_created
        with (
            patched_get_client(fake),
            vertex_feature_store(SYNC_NAME) as admin,
            vertex_online_store(retained="retained" in sys.argv[3:]) as serving,
        ):
            _, run = test_dag(
                REPO_ROOT / "dags" / "fraud_erase_card.py", "fraud_erase_card", {"card_number": card}
            )
        tis = {ti.task_id: ti for ti in run.get_task_instances()}
        rendered = {
            task_id: RenderedTaskInstanceFields.get_templated_fields(ti) for task_id, ti in tis.items()
        }
        archived = bucket.blob(ARCHIVED).download_as_bytes().decode()
        rewritten = bucket.get_blob(ARCHIVED)
    print("PROBE " + json.dumps({
        "states": {task_id: str(ti.state) for task_id, ti in tis.items()},
        "rendered_fields": rendered,
        "bigquery_jobs": fake.jobs,
        "unknown_requests": fake.unknown,
        "tables_listed": fake.tables_listed,
        "tables_deleted": fake.tables_deleted,
        "archived_cards": [row["card_number"] for row in csv.DictReader(io.StringIO(archived))],
        "removed": tis["erase_from_landed_files"].xcom_pull(task_ids="erase_from_landed_files"),
        "unreadable": tis["erase_from_landed_files"].xcom_pull(task_ids="erase_from_landed_files", key="unreadable"),
        "expiry_clock": {"archived_at": archived_at, "rewritten_at": rewritten.time_created,
                         "custom_time": rewritten.custom_time},
        "sync_requests": [c.kwargs for c in admin.sync_feature_view.call_args_list],
        "sync_reads": [c.kwargs for c in admin.get_feature_view_sync.call_args_list],
        "sync_record": tis["feature_sync.record_feature_sync"].xcom_pull(task_ids="feature_sync.record_feature_sync"),
        "lookups": [json.loads(type(c.kwargs["request"]).to_json(c.kwargs["request"]))
                    for c in serving.fetch_feature_values.call_args_list],
    }, default=str))  # fmt: skip


if __name__ == "__main__":
    main()
