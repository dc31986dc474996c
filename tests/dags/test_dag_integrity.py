"""DAG integrity (Astro / Composer CI style), for both targets, in clean interpreters."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from fraud_mlops.settings import REPO_ROOT

DAGS = REPO_ROOT / "dags"
EXPECTED_INGESTION = {"fraud_ingest_sensor", "fraud_ingest_daily"}
#: Tasks whose failure is deterministic (a data-quality check): never retried.
DETERMINISTIC = {"check_data_quality", "check_erasure_request", "confirm_files_erased"}


def probe(target: str, tmp_path: Path) -> dict:
    env = {
        **os.environ,
        "MLOPS_TARGET": target,
        "MLOPS_LOCAL_DIR": str(tmp_path / "local"),
        "GCP_PROJECT": "fraud-project" if target == "gcp" else "local-project",
        "AIRFLOW_HOME": str(tmp_path / "airflow"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "True",
        "PYTHONPATH": os.pathsep.join([str(REPO_ROOT / "plugins"), str(REPO_ROOT)]),
    }
    proc = subprocess.run(
        [sys.executable, "-m", "tests.dags.dagbag_probe", str(DAGS)],
        env=env, cwd=REPO_ROOT, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    lines = [line for line in proc.stdout.splitlines() if line.startswith("PROBE ")]
    assert proc.returncode == 0 and lines, proc.stderr[-3000:]
    return dict(json.loads(lines[-1][len("PROBE ") :]))


@pytest.fixture(scope="module", params=["local", "gcp"])
def bag(request, tmp_path_factory) -> dict:
    result = probe(request.param, tmp_path_factory.mktemp(request.param))
    result["target"] = request.param
    return result


def test_no_import_errors(bag):
    assert bag["import_errors"] == {}
    assert set(bag["dags"]) >= EXPECTED_INGESTION


def test_dag_id_matches_file_name(bag):
    for dag_id, dag in bag["dags"].items():
        assert Path(dag["fileloc"]).stem == dag_id


def test_tags_owner_retries_and_docs(bag):
    for dag_id, dag in bag["dags"].items():
        assert "fraud" in dag["tags"] and bag["target"] in dag["tags"], dag_id
        assert dag["doc_md"], f"{dag_id} has no doc_md for the UI"
        for task_id, task in dag["tasks"].items():
            assert task["owner"] == "fraud-mlops", (dag_id, task_id)
            if task_id in DETERMINISTIC:
                assert task["retries"] == 0, (dag_id, task_id)  # the same data fails the same way
            else:
                assert task["retries"] >= 2, (dag_id, task_id)


def test_no_heavy_imports_at_parse_time(bag):
    assert bag["heavy_modules"] == []


def test_ingestion_checks_candidates_before_publishing(bag):
    for dag_id in ("fraud_ingest_sensor", "fraud_ingest_daily", "fraud_ingest_events"):
        tasks = bag["dags"][dag_id]["tasks"]
        assert {"check_data_quality", "publish", "snapshot.snapshot_training_table"} <= set(tasks), dag_id
        assert tasks["check_data_quality"]["downstream"] == ["publish"], dag_id
        assert tasks["publish"]["downstream"] == ["snapshot.snapshot_training_table"]


def _lease_scope(tasks: dict) -> set[str]:
    """The tasks downstream of the lease's setup and upstream of its teardown (Airflow's scope
    of a setup/teardown pair: they run while the run holds the lease)."""
    acquire, release = tasks["acquire_transform_lease"], tasks["release_transform_lease"]
    assert (acquire["setup"], acquire["teardown"]) == (True, False)
    assert (release["setup"], release["teardown"]) == (False, True) and release["downstream"] == []
    after, todo = set(), list(acquire["downstream"])
    while todo:
        task_id = todo.pop()
        if task_id not in after:
            after.add(task_id)
            todo += tasks[task_id]["downstream"]
    return {task_id for task_id in after if "release_transform_lease" in _reachable(tasks, task_id)}


def _reachable(tasks: dict, start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        for task_id in tasks[todo.pop()]["downstream"]:
            if task_id not in seen:
                seen.add(task_id)
                todo.append(task_id)
    return seen


def test_ingestion_runs_hold_the_transform_lease_from_file_listing_to_sync(bag):
    """One run at a time, whichever ingestion DAG it belongs to, and none during an erasure: every
    task that reads a landed file or writes the warehouse or the online store holds the lease
    (an erasure's delete between a file's load and its append, or a run's staging read and its
    publish, or its sync's read and write, would let the card's rows back)."""
    for dag_id in ("fraud_ingest_sensor", "fraud_ingest_daily", "fraud_ingest_events"):
        tasks = bag["dags"][dag_id]["tasks"]
        scope = _lease_scope(tasks)
        held = {t for t in tasks if t.split(".")[0] in {"load_raw", "transform", "snapshot", "feature_sync"}}
        assert held | {"validate_landed_files", "check_data_quality", "publish"} <= scope, dag_id
        assert scope == set(tasks) - {
            "acquire_transform_lease", "release_transform_lease", "setup_tables", "summarise_run",
            "wait_for_landed_files", "resolve_landed_objects",
        }, dag_id  # fmt: skip
        assert "acquire_transform_lease" in _reachable(tasks, "setup_tables"), dag_id  # the lease's row first


def test_an_erasure_holds_the_transform_lease_from_its_delete_to_its_sync(bag):
    tasks = bag["dags"]["fraud_erase_card"]["tasks"]
    sync = {t for t in tasks if t.startswith("feature_sync.")}
    assert sync and _lease_scope(tasks) == {
        "erase_card_rows", "erase_from_landed_files", "confirm_card_not_served", "confirm_files_erased"
    } | sync  # fmt: skip
    assert "acquire_transform_lease" in _reachable(tasks, "setup_tables")


def test_every_task_in_a_lease_scope_checks_its_run_holds_the_lease(bag):
    """A partial clear ("only failed") reruns tasks without their setup: each task in the
    lease's scope, and no other, finds out first (orchestration/lease.py)."""
    lease_dags = {"fraud_ingest_sensor", "fraud_ingest_daily", "fraud_ingest_events", "fraud_erase_card"}
    assert lease_dags <= set(bag["dags"])
    for dag_id, dag in bag["dags"].items():
        tasks = dag["tasks"]
        assert {t["pre_execute"] for t in tasks.values()} == {"require_transform_lease"}, dag_id
        guarded = {task_id for task_id, t in tasks.items() if t["in_lease_scope"]}
        assert guarded == (_lease_scope(tasks) if dag_id in lease_dags else set()), dag_id


def test_targets_choose_their_operators(bag):
    tasks = bag["dags"]["fraud_ingest_sensor"]["tasks"]
    assert tasks["wait_for_landed_files"]["type"] == "GCSObjectsWithPrefixExistenceSensor"
    staging = tasks["transform.build_staging"]["type"]
    if bag["target"] == "gcp":
        assert staging == "BigQueryInsertJobOperator"
        # a task running the load job through BigQueryHook.insert_job, reading back what it skipped
        assert tasks["load_raw.load_raw_file"]["type"] == "_PythonDecoratedOperator"
        assert tasks["load_raw.append_raw_file"]["type"] == "BigQueryInsertJobOperator"
    else:
        assert staging == "BigQuerySQLOnDuckDBOperator"
