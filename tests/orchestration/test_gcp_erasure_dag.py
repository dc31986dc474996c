"""The right-to-erasure DAG on the gcp target, run by real Airflow (``dag.test()``): Cloud Storage
is the GCS emulator, BigQuery its REST API answered under the real client, Vertex's feature-store
admin client patched at its class (gcp_erasure_probe.py).

The card's rows leave the archived file, the erase job sends the card only as a query
parameter, the online store is synced, and the card number is in no log line and no rendered
template field (both are kept by Airflow and shown in its UI).
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

from fraud_mlops.settings import settings_from_env
from fraud_mlops.sql_templates import SQL_FILES, render_sql
from tests.airflow_probes import airflow_home, run_probe

CARD = "4111 1111 1111 1111"
DIGITS = CARD.replace(" ", "")
OTHERS = ["5555555555554444", "4000056655665556"]
GCP_ENV = {
    "MLOPS_TARGET": "gcp", "GCP_PROJECT": "fraud-prj", "GCP_REGION": "europe-west4",
    "MLOPS_PSEUDONYM_KMS_KEY": "gcp-kms://projects/fraud-prj/locations/europe/keyRings/fraud-pseudonym/cryptoKeys/card-pseudonym",
    "MLOPS_PSEUDONYM_KEYSET": base64.b64encode(bytes(range(7, 127))).decode(),  # stands for the wrapped keyset
}  # fmt: skip
FEATURE_VIEW = "projects/fraud-prj/locations/europe-west4/featureOnlineStores/fraud_online_store/featureViews/card_features"


def test_a_card_leaves_the_warehouse_the_archive_and_the_online_store(tmp_path: Path) -> None:
    out = run_probe(
        "tests.orchestration.gcp_erasure_probe", airflow_home(tmp_path, GCP_ENV), CARD, ",".join(OTHERS)
    )

    assert set(out["states"].values()) == {"success"} and len(out["states"]) == 10
    assert out["unreadable"] == {}
    settings = settings_from_env(GCP_ENV)
    names = {
        render_sql(SQL_FILES[name], settings): name
        for name in ("setup", "lease_holder", "lease_acquire", "lease_release", "erase_card")
    }
    steps = [names.get(j["configuration"]["query"]["query"], "?") for j in out["bigquery_jobs"]]
    # the tables (the lease's row), the lease claimed (free, claimed, held), the erasure, and the
    # lease given back after the sync; each task under the lease reads its holder first (the
    # erasure of the rows, of the landed files, and the sync's three tasks)
    assert steps == [
        "setup", "lease_holder", "lease_acquire", "lease_holder",
        "lease_holder", "erase_card", "lease_holder", "lease_holder", "lease_holder", "lease_holder",
        "lease_holder", "lease_holder", "lease_release",  # the teardown: still held? then leftovers dropped, and given back
    ]  # fmt: skip
    claim = out["bigquery_jobs"][steps.index("lease_acquire")]["configuration"]["query"]
    assert {p["name"]: p["parameterValue"]["value"] for p in claim["queryParameters"]}[
        "dag_id"
    ] == "fraud_erase_card"
    job = out["bigquery_jobs"][steps.index("erase_card")]
    query = job["configuration"]["query"]
    assert job["configuration"]["labels"] == {
        "app": "fraud-mlops",
        "airflow-dag": "fraud_erase_card",
        "airflow-task": "erase_card_rows",
    }  # found in BigQuery's job history as the operator's jobs are
    assert query["queryParameters"] == [
        {"name": "card_number", "parameterType": {"type": "STRING"}, "parameterValue": {"value": DIGITS}}
    ]
    assert out["unknown_requests"] == []
    # the lease held, a load table a failed run left (its file's card numbers in clear, maybe
    # this card's) is dropped: raw retention would never reach it, nor the erasure's SQL
    assert out["tables_listed"] == ["fraud-prj.fraud_raw", "fraud-prj.fraud"] * 2  # claimed; before release
    assert out["tables_deleted"] == ["fraud-prj.fraud_raw.raw_load_0123456789abcdef_01234567"]
    assert {
        (j["jobReference"]["projectId"], j["jobReference"].get("location")) for j in out["bigquery_jobs"]
    } == {("fraud-prj", "EU")}  # the project and location the settings name
    assert out["archived_cards"] == OTHERS and out["removed"] == {
        "gs://fraud-landing/processed/transactions_day1.csv": 2
    }
    # the rewritten file keeps the original's expiry clock (days_since_custom_time in infra/)
    clock = out["expiry_clock"]
    assert clock["custom_time"] == clock["archived_at"] < clock["rewritten_at"]
    assert out["sync_requests"] == [{"feature_view": FEATURE_VIEW}]
    assert out["sync_record"]["source_snapshot"] == "erasure"
    assert out["sync_record"]["row_count"] == 11995
    assert {read["name"] for read in out["sync_reads"]} == {f"{FEATURE_VIEW}/featureViewSyncs/5017"}

    # Everything the run logged (the probe's own report aside), and what Airflow keeps of each
    # task's templates, holds the card's last four digits at most.
    logged = [line for line in out["_output"].splitlines() if not line.startswith("PROBE ")]
    assert logged and not [line for line in logged if DIGITS in line or CARD in line]
    assert any("…1111" in line for line in logged)
    # a sync does not take an erased card out of a Bigtable online store (Google's delete-featureview
    # page): the run says so, as a warning, instead of claiming the card is gone from serving
    (warning,) = [line for line in logged if "online store:" in line]
    assert "WARNING" in warning.upper() and "recreate the feature view" in warning
    assert DIGITS not in json.dumps(out["rendered_fields"]) and CARD not in json.dumps(out["rendered_fields"])


def test_a_landed_file_no_erasure_can_read_fails_the_run_after_the_rest_is_erased(tmp_path: Path) -> None:
    """A quarantined gzip that does not decompress may hold the card: every other file is
    rewritten and the online store synced, then the run's last step fails, naming the file (a
    green run would say the erasure was complete), and the lease goes back."""
    out = run_probe(
        "tests.orchestration.gcp_erasure_probe",
        airflow_home(tmp_path, GCP_ENV),
        CARD,
        ",".join(OTHERS),
        "broken_gzip",
    )

    failed = {task_id for task_id, state in out["states"].items() if state != "success"}
    assert failed == {"confirm_files_erased"} and out["states"]["confirm_files_erased"] == "failed"
    assert out["archived_cards"] == OTHERS  # the readable file is rewritten all the same
    assert out["sync_requests"] == [{"feature_view": FEATURE_VIEW}]  # and the store synced
    assert list(out["unreadable"]) == ["gs://fraud-quarantine/2026-12-07/transactions_day2.csv.gz"]
    assert out["unreadable"]["gs://fraud-quarantine/2026-12-07/transactions_day2.csv.gz"].startswith(
        "gzip that does not decompress (EOFError"
    )
