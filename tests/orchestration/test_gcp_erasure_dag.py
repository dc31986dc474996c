"""The right-to-erasure DAG on the gcp target, run by real Airflow (``dag.test()``): Cloud Storage
is the GCS emulator, BigQuery its REST API answered under the real client, Vertex's feature-store
admin client patched at its class (gcp_erasure_probe.py).

The card's rows leave the archived file, the erase job sends the card only as a query
parameter, the online store is synced, and the card number is in no log line and no rendered
template field (both are kept by Airflow and shown in its UI). The online store keeps the card's
record, as a Bigtable online store does until its feature view is recreated: the run's
``confirm_card_not_served`` looks the card up as the function would and fails the run. A run that fails on a landed file
no erasure can read ends green once the file is deleted and the erasure of the landed files is
cleared with its downstream tasks, as the UI clears (gcp_erasure_recovery_probe.py).
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

from google.cloud import aiplatform_v1 as v1

from fraud_mlops.settings import settings_from_env
from fraud_mlops.sql_templates import SQL_FILES, render_sql
from tests.airflow_probes import airflow_home, run_probe
from tests.orchestration.gcp_erasure_probe import BROKEN
from tests.orchestration.probe_support import ERASED_PSEUDONYM

CARD = "4111 1111 1111 1111"
DIGITS = CARD.replace(" ", "")
OTHERS = ["5555555555554444", "4000056655665556"]
GCP_ENV = {
    "MLOPS_TARGET": "gcp", "GCP_PROJECT": "fraud-prj", "GCP_REGION": "europe-west4",
    "MLOPS_PSEUDONYM_KMS_KEY": "gcp-kms://projects/fraud-prj/locations/europe/keyRings/fraud-pseudonym/cryptoKeys/card-pseudonym",
    "MLOPS_PSEUDONYM_KEYSET": base64.b64encode(bytes(range(7, 127))).decode(),  # stands for the wrapped keyset
}  # fmt: skip
FEATURE_VIEW = "projects/fraud-prj/locations/europe-west4/featureOnlineStores/fraud_online_store/featureViews/card_features"


def job_steps(jobs: list[dict], settings: Any) -> list[str]:
    """The BigQuery jobs a probe saw, each named by the SQL file it ran ("?" for another)."""
    names = {
        render_sql(SQL_FILES[name], settings): name
        for name in (
            "setup",
            "lease_holder",
            "lease_acquire",
            "lease_release",
            "erase_card",
            "card_pseudonym",
        )
    }
    return [names.get(job["configuration"]["query"]["query"], "?") for job in jobs]


def test_a_card_leaves_the_warehouse_and_the_archive_and_the_run_fails_while_the_online_store_keeps_it(
    tmp_path: Path,
) -> None:
    out = run_probe(
        "tests.orchestration.gcp_erasure_probe",
        airflow_home(tmp_path, GCP_ENV),
        CARD,
        ",".join(OTHERS),
        "retained",
    )

    failed = {task for task, state in out["states"].items() if state != "success"}
    assert failed == {"confirm_card_not_served"} and len(out["states"]) == 11
    assert out["unreadable"] == {}
    settings = settings_from_env(GCP_ENV)
    steps = job_steps(out["bigquery_jobs"], settings)
    # the tables (the lease's row), the lease claimed (free, claimed, held), the erasure, and the
    # lease given back after the sync; each task under the lease reads its holder first (the
    # erasure of the rows, of the landed files, the sync's three tasks and the two checks)
    assert steps[:10] == [
        "setup", "lease_holder", "lease_acquire", "lease_holder",
        "lease_holder", "erase_card", "lease_holder", "lease_holder", "lease_holder", "lease_holder",
    ]  # fmt: skip
    # the two checks, side by side after the sync (in either order): confirm_card_not_served has
    # BigQuery compute the card's pseudonym, confirm_files_erased reads nothing more
    assert sorted(steps[10:13]) == ["card_pseudonym", "lease_holder", "lease_holder"]
    assert steps[13:] == ["lease_holder", "lease_release"]  # the teardown: still held? then given back
    # the pseudonym's job: the card only as its query parameter, as the erasure's own
    lookup_job = out["bigquery_jobs"][steps.index("card_pseudonym")]["configuration"]["query"]
    assert lookup_job["queryParameters"] == [
        {"name": "card_number", "parameterType": {"type": "STRING"}, "parameterValue": {"value": DIGITS}}
    ]
    # then the card looked up as the prediction function would (FetchFeatureValues, KEY_VALUE)
    assert out["lookups"] == [
        json.loads(
            v1.FetchFeatureValuesRequest.to_json(
                v1.FetchFeatureValuesRequest(
                    feature_view=FEATURE_VIEW,
                    data_key=v1.FeatureViewDataKey(key=ERASED_PSEUDONYM),
                    data_format=v1.FeatureViewDataFormat.KEY_VALUE,
                )
            )
        )
    ]
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
    # page): the erasure says so, as a warning, and the check fails the run, naming what to do
    (warning,) = [line for line in logged if "online store:" in line]
    assert "WARNING" in warning.upper() and "recreate the feature view" in warning
    assert any(
        "the erasure is not complete: the online store still answers for card …1111" in line
        and "clear confirm_card_not_served" in line
        for line in logged
    )
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


def test_a_run_failed_on_an_unreadable_file_ends_green_once_the_file_is_deleted_and_the_erasure_cleared(
    tmp_path: Path,
) -> None:
    """The recovery the DAG's doc and docs/least_privilege.md give, through real Airflow: the run
    fails at ``confirm_files_erased`` on a broken gzip; a person deletes it, then clears
    ``erase_from_landed_files`` with its downstream tasks, "only failed" unticked, as the UI's
    clear dialog does (gcp_erasure_recovery_probe.py); the same run lists the landed files again,
    finds nothing unreadable, and ends green."""
    out = run_probe(
        "tests.orchestration.gcp_erasure_recovery_probe",
        airflow_home(tmp_path, GCP_ENV),
        CARD,
        ",".join(OTHERS),
    )
    failed, after_clear, recovered = out["failed"], out["after_clear"], out["recovered"]
    settings = settings_from_env(GCP_ENV)

    # the first pass fails as test_a_landed_file_no_erasure_can_read… shows, the lease given back
    assert failed["state"] == "failed" and failed["runs"] == 1
    assert {task for task, state in failed["states"].items() if state != "success"} == {
        "confirm_files_erased"
    }
    assert list(failed["unreadable"]) == [f"gs://fraud-quarantine/{BROKEN}"]
    # (dag.test() itself left the run "running": Airflow 3.3.2 raises from the failed run's DAG
    # callbacks before it commits, probe_support.test_dag; the probe's settle() lets the
    # scheduler's update_state end it. Should this fail after an upgrade, settle() can go.)
    assert out["left_by_dag_test"] == "running"

    # What Airflow's clear took: the task, everything downstream of it (the sync's three tasks,
    # the check, the lease's teardown), and the lease's setup, upstream of it, which no "only
    # failed" clear would take: SerializedDAG.partial_subset adds the setups and teardowns of the
    # task and of each of its downstream tasks (get_upstreams_only_setups_and_teardowns). Nothing
    # before the lease, nor the rows' erasure, is cleared. The clear keeps the old XCom: only the
    # task's next try replaces it.
    sync = {"feature_sync.sync_feature_view", "feature_sync.wait_for_feature_view_sync",
            "feature_sync.record_feature_sync"}  # fmt: skip
    cleared = {"acquire_transform_lease", "erase_from_landed_files", *sync, "confirm_card_not_served",
               "confirm_files_erased", "release_transform_lease"}  # fmt: skip
    assert set(out["cleared"]) == cleared
    assert after_clear["state"] == "queued"
    assert {task for task, state in after_clear["states"].items() if state == "None"} == cleared
    assert after_clear["unreadable"] == failed["unreadable"]

    # The same run (no new one) went on to success: exactly the cleared tasks ran again, once
    # each, the others kept their first try
    assert recovered["state"] == "success" and recovered["runs"] == 1
    assert set(recovered["states"].values()) == {"success"}
    ran_again = {task for task, tries in recovered["tries"].items() if tries != failed["tries"][task]}
    assert ran_again == cleared
    assert {recovered["tries"][task] for task in ran_again} == {
        failed["tries"]["erase_from_landed_files"] + 1
    }
    # erase_from_landed_files listed every file again: nothing unreadable, nothing left to remove
    assert recovered["unreadable"] == {} and recovered["removed"] == {}
    assert out["quarantined"] == []
    # on BigQuery, the second pass claimed the lease again (each task under it read its holder
    # first) and gave it back; no setup, and no second delete of the card's rows
    steps = job_steps(out["bigquery_jobs"], settings)
    second = steps[failed["bigquery_jobs"] :]
    assert second[:7] == [
        "lease_holder", "lease_acquire", "lease_holder",  # acquire_transform_lease
        "lease_holder",  # erase_from_landed_files
        "lease_holder", "lease_holder", "lease_holder",  # the sync's three tasks
    ]  # fmt: skip
    # the two checks, in either order: the card looked up again (its pseudonym from BigQuery), the files
    assert sorted(second[7:10]) == ["card_pseudonym", "lease_holder", "lease_holder"]
    assert second[10:] == ["lease_holder", "lease_release"]  # the teardown
    assert recovered["sync_requests"] == failed["sync_requests"] + 1  # the store synced again

    # the readable archive holds the other cards and no line of this one
    archived = out["archived_lines"]
    assert len(archived) == 1 + len(OTHERS) and all(card in "".join(archived) for card in OTHERS)
    assert not [line for line in archived if DIGITS in line or CARD in line]
    # and no log line of either pass, nor the API's, holds the card number
    logged = [line for line in out["_output"].splitlines() if not line.startswith("PROBE ")]
    assert logged and not [line for line in logged if DIGITS in line or CARD in line]
