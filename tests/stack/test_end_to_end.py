"""End to end on the real local stack: a landed file fires the real deferrable GCS sensor under
the real scheduler and triggerer, every task succeeds and the counts add up; a corrupt file is
quarantined beside it; landing the same file again adds no rows."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from devtools.demo.run import SENSOR_DAG, _wait_for_waiting_sensor_run, write_corrupt_file
from devtools.generator.files import write_landing_csv
from devtools.generator.synth import GeneratorConfig, generate
from devtools.landing import land_file

pytestmark = [pytest.mark.stack, pytest.mark.slow]

ROWS = 4_000


def _run_once(stack, files: list[Path], ran: frozenset[str] | None = None) -> tuple[str, dict]:
    """Land ``files`` for the waiting sensor run; it must succeed with every task green, or, given
    ``ran``, those task ids green and every other task skipped."""
    api = stack.api
    run_id = _wait_for_waiting_sensor_run(api, timeout=300)
    for f in files:
        land_file(f, settings=stack.settings)
    run = api.wait_for_run(SENSOR_DAG, run_id, timeout=900)
    states = {(t["task_id"], t["map_index"]): t["state"] for t in api.task_instances(SENSOR_DAG, run_id)}
    assert run["state"] == "success", states
    expected = {key: "success" if ran is None or key[0] in ran else "skipped" for key in states}
    assert states == expected
    if ran is not None:
        assert {task for task, _ in states} >= ran
    return run_id, api.xcom(SENSOR_DAG, run_id, "summarise_run")


@pytest.fixture(scope="module")
def landed(local_stack, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("landing")
    batch = generate(GeneratorConfig(rows=ROWS, fraud_rate=0.02, seed=99, rows_per_card=20))
    good = write_landing_csv(batch.landing, tmp / "day1.csv", show_progress=False)
    corrupt = write_corrupt_file(tmp / "broken_export.csv")
    local_stack.api.wait_for_dags([SENSOR_DAG])
    local_stack.api.set_paused(SENSOR_DAG, False)
    run_id, summary = _run_once(local_stack, [good, corrupt])
    return {"good": good, "run_id": run_id, "summary": summary, "batch": batch}


def test_sensor_run_loads_everything_and_counts_add_up(landed):
    counts = landed["summary"]["counts"]
    assert counts["raw_rows"] == ROWS
    assert counts["staging_rows"] + counts["rejected_rows"] == ROWS
    assert counts["staging_rows"] == ROWS  # the generator writes only valid rows
    assert counts["feature_rows"] == counts["training_rows"] == ROWS
    assert counts["cards"] == landed["batch"].landing["card_number"].nunique()


def test_corrupt_file_quarantined_with_reason_good_file_loaded(local_stack, landed):
    (q,) = landed["summary"]["quarantined_files"]
    assert q["file"].endswith("broken_export.csv") and q["reason"] == "too_many_bad_lines"
    assert q["detail"].startswith("1 of 1 data lines cannot be parsed")
    from airflow.providers.google.cloud.hooks.gcs import GCSHook  # noqa: F401 - same client stack

    from devtools.landing import storage_client

    client = storage_client(local_stack.settings)
    names = sorted(b.name for b in client.list_blobs(local_stack.settings.quarantine_bucket))
    assert [n.rsplit("/", 1)[-1] for n in names] == ["broken_export.csv", "broken_export.csv.reason.json"]
    archived = [b.name for b in client.list_blobs(local_stack.settings.landing_bucket)]
    assert archived and all(n.startswith(local_stack.settings.archive_prefix) for n in archived)


def test_snapshot_and_lineage_recorded(landed):
    snap = landed["summary"]["snapshot"]
    assert snap["snapshot_name"].startswith("training_snapshot_")
    assert snap["row_count"] == ROWS and snap["run_id"] == landed["run_id"]
    assert snap["source_files"] == [f"gs://fraud-landing/incoming/{landed['good'].name}"]


#: What a run with nothing new to transform runs: up to the plan, and the summary. The rest is
#: skipped (no snapshot: no training scheduled on data it has seen).
NOTHING_NEW_RUNS = frozenset({
    "wait_for_landed_files", "setup_tables", "validate_landed_files", "load_raw.load_raw_file",
    "load_raw.append_raw_file", "load_raw.archive_loaded_files",
    "acquire_transform_lease", "transform.plan_increment",
    "release_transform_lease",  # the lease's teardown: given back though the plan skipped the rest
    "summarise_run",
})  # fmt: skip


def test_same_file_landed_again_adds_no_rows(local_stack, landed, tmp_path):
    """The same content under a new name loads as a duplicate: nothing new to transform, so the
    run skips from the transform to the feature sync and still reports what it did."""
    again = tmp_path / "day1_resent.csv"
    again.write_bytes(landed["good"].read_bytes())
    _, summary = _run_once(local_stack, [again], ran=NOTHING_NEW_RUNS)
    before, after = landed["summary"]["counts"], summary["counts"]
    assert (after["raw_rows"], after["staging_rows"]) == (before["raw_rows"], before["staging_rows"])
    assert after["duplicate_landings"] == before["duplicate_landings"] + 1
    assert summary["snapshot"] is None


def test_a_file_with_a_few_broken_lines_loads_its_good_rows(local_stack, landed, tmp_path):
    """Through the real DAG (validate → load → append → staging): each broken line is a rejected
    row with the file and its line number, never the card number, and every good row loads."""
    from tests.ingestion.test_bad_lines_and_gzip import with_broken_lines

    rows = 2_000
    batch = generate(GeneratorConfig(rows=rows, fraud_rate=0.02, seed=5, rows_per_card=20))
    data, broken = with_broken_lines(batch.landing)
    partly_broken = tmp_path / "day2_partly_broken.csv"
    partly_broken.write_bytes(data)
    before = landed["summary"]

    _, summary = _run_once(local_stack, [partly_broken])
    added = {
        k: summary["counts"][k] - before["counts"][k] for k in ("raw_rows", "staging_rows", "rejected_rows")
    }
    assert added == {
        "raw_rows": rows - len(broken),
        "staging_rows": rows - len(broken),
        "rejected_rows": len(broken),
    }
    assert summary["quarantined_files"] == []
    rejected = _rows(
        local_stack.settings,
        "SELECT line_number, reason, card_last4 FROM fraud.rejected_rows WHERE _file_name LIKE ? ORDER BY 1",
        [f"%/{partly_broken.name}"],
    )
    assert [(line, reason) for line, reason, _ in rejected] == sorted(broken.items())
    assert all(last4 is None or len(last4) == 4 for *_, last4 in rejected)  # never a whole card number


@contextlib.contextmanager
def _read_only(settings) -> Iterator[Any]:
    """A read-only connection to the live warehouse (the stack's tasks may hold it a moment)."""
    import time

    import duckdb

    deadline = time.monotonic() + 60
    while True:
        try:
            con = duckdb.connect(str(settings.warehouse_path), read_only=True)
            break
        except duckdb.IOException:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)
    try:
        yield con
    finally:
        con.close()


def _rows(settings, sql: str, parameters: list) -> list[tuple]:
    with _read_only(settings) as con:
        return con.execute(sql, parameters).fetchall()


def _published_state(settings) -> dict:
    """Every published table's rows, the snapshot list and the online store's serving version."""
    from fraud_mlops.feature_store.local_store import LocalOnlineStore
    from fraud_mlops.sql_templates import PUBLISHED_TABLES

    with _read_only(settings) as con:
        tables = {
            t: con.execute(f"SELECT * FROM fraud.{t} ORDER BY ALL").fetchall() for t in PUBLISHED_TABLES
        }
        lineage = con.execute("SELECT snapshot_name FROM fraud.snapshot_lineage ORDER BY 1").fetchall()
    store = LocalOnlineStore(settings.online_store_path)
    return {
        "tables": tables,
        "snapshots": sorted(p.name for p in settings.snapshot_dir.iterdir()),
        "lineage": lineage,
        "online_store": (store.current_sync(), len(store.history())),
    }


def test_no_key_material_in_the_logs_of_the_run(local_stack, landed):
    """Every log the local stack wrote (Airflow task logs, process logs) holds no key material."""
    from fraud_mlops.pseudonym import local_kms_aead, local_wrapped_keyset
    from tests.key_leaks import find_leaks, fingerprints, key_material, keyset_fingerprints

    local_dir = local_stack.settings.local_dir
    keyset = local_wrapped_keyset(local_dir)
    kek = local_kms_aead(keyset.kms_key_uri, local_dir)
    forms = keyset_fingerprints(keyset.wrapped, kek)
    kek_file = local_dir / "kms" / "pseudonym-kek.json"
    from tink import json_proto_keyset_format, proto_keyset_format, secret_key_access

    kek_serialized = proto_keyset_format.serialize(
        json_proto_keyset_format.parse(kek_file.read_text(), secret_key_access.TOKEN), secret_key_access.TOKEN
    )
    forms += fingerprints(key_material(kek_serialized))  # the local "KMS" key too
    logs = {
        str(p.relative_to(local_dir)): p.read_text(errors="replace")
        for p in local_dir.rglob("*.log")
        if p.is_file()
    }
    task_logs = [name for name in logs if "build_staging" in name]
    assert task_logs, sorted(logs)[:20]  # the run's task logs are among them
    assert find_leaks(logs, forms) == []


def test_a_run_failing_a_check_changes_nothing_published(local_stack, landed, tmp_path):
    """Write-audit-publish on the real stack: data failing a check is never published, the
    snapshot list and the online store stay as they were, and the check is not retried. The
    check's failure and the run's raise their alerts (the run's from the DAG processor, which
    runs DAG callbacks), and the transform lease's teardown gives the lease back."""
    before = _published_state(local_stack.settings)
    assert before["snapshots"] and before["online_store"][0] is not None
    batch = generate(GeneratorConfig(rows=3_000, fraud_rate=0.02, seed=7, rows_per_card=20))
    all_fraud = batch.landing.assign(**{"class": 1})  # the fraud rate leaves dq_label_rate's bounds
    bad = write_landing_csv(all_fraud, tmp_path / "all_fraud.csv", show_progress=False)

    api = local_stack.api
    run_id = _wait_for_waiting_sensor_run(api, timeout=300)
    land_file(bad, settings=local_stack.settings)
    run = api.wait_for_run(SENSOR_DAG, run_id, timeout=900)
    tis = {t["task_id"]: t for t in api.task_instances(SENSOR_DAG, run_id) if t["map_index"] in (-1, None)}
    try:
        assert run["state"] == "failed"
        assert tis["check_data_quality"]["state"] == "failed"
        assert tis["check_data_quality"]["try_number"] == 1  # deterministic: not retried
        assert tis["publish"]["state"] == "upstream_failed"
        assert tis["release_transform_lease"]["state"] == "success"
        assert _published_state(local_stack.settings) == before
        assert _lease_holder(local_stack.settings) is None
        assert {"data_quality_failure", "dag_failure"} <= _alert_kinds(local_stack.settings, run_id)
    finally:
        _remove_rows_of(local_stack.settings, "all_fraud.csv")  # later stack tests start clean


def _lease_holder(settings, timeout: float = 120) -> Any:
    """Who holds the transform lease, read once the stack's writer lets go of the file."""
    import time

    import duckdb

    from fraud_mlops.ingestion.transform_lease import holder
    from fraud_mlops.warehouse.duckdb import DuckDBWarehouse

    deadline = time.monotonic() + timeout
    while True:
        try:
            return holder(DuckDBWarehouse(settings, settings.warehouse_path), settings)
        except duckdb.IOException:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def _alert_kinds(settings, run_id: str, timeout: float = 120) -> set[str]:
    """The kinds of the alerts raised for ``run_id``, once the run's own (``dag_failure``) is in:
    the DAG processor runs DAG callbacks after the scheduler ends the run."""
    import json
    import time

    path = settings.local_dir / "alerts" / "alerts.jsonl"
    deadline = time.monotonic() + timeout
    while True:
        lines = path.read_text().splitlines() if path.is_file() else []
        kinds = {a["kind"] for a in map(json.loads, lines) if a.get("run_id") == run_id}
        if "dag_failure" in kinds or time.monotonic() > deadline:
            return kinds
        time.sleep(1)


def _remove_rows_of(settings, file_name: str) -> None:
    """Take the failing file's rows back out of raw (the runs after this test would fail too)."""
    import time

    import duckdb

    deadline = time.monotonic() + 120
    while True:
        try:
            con = duckdb.connect(str(settings.warehouse_path))
            break
        except duckdb.IOException:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)
    try:
        con.execute(
            f"DELETE FROM {settings.raw_dataset}.raw_transactions WHERE _file_name LIKE ?", [f"%/{file_name}"]
        )
        con.execute("DELETE FROM fraud.ingestion_log WHERE file_name LIKE ?", [f"%/{file_name}"])
    finally:
        con.close()


def test_a_file_the_load_refuses_is_quarantined_and_the_run_goes_on(local_stack, landed, tmp_path):
    """Under the real scheduler and executor: the refused file's load task quarantines it, its
    append (mapped over the loads' results) is skipped, and the other file of the same run is
    appended, published and synced; the run succeeds and its summary lists the quarantine."""
    from devtools.landing import storage_client
    from tests.orchestration.refused_load_probe import refused_by_the_load

    rows = 1_500
    batch = generate(GeneratorConfig(rows=rows, fraud_rate=0.02, seed=11, rows_per_card=20))
    good = write_landing_csv(batch.landing, tmp_path / "day4.csv", show_progress=False)
    other = generate(GeneratorConfig(rows=40, seed=12)).landing
    refused, _ = refused_by_the_load(
        write_landing_csv(other, tmp_path / "day4_shop.csv", show_progress=False)
    )

    api = local_stack.api
    before = _rows(local_stack.settings, "SELECT COUNT(*) FROM fraud_raw.raw_transactions", [])[0][0]
    run_id = _wait_for_waiting_sensor_run(api, timeout=300)
    for f in (good, refused):
        land_file(f, settings=local_stack.settings)
    run = api.wait_for_run(SENSOR_DAG, run_id, timeout=900)
    states = {(t["task_id"], t["map_index"]): t["state"] for t in api.task_instances(SENSOR_DAG, run_id)}
    assert run["state"] == "success", states
    appends = sorted(s for (task, _), s in states.items() if task == "load_raw.append_raw_file")
    assert appends == ["skipped", "success"], states
    assert {s for (task, _), s in states.items() if task != "load_raw.append_raw_file"} == {"success"}, states

    summary = api.xcom(SENSOR_DAG, run_id, "summarise_run")
    (listed,) = summary["quarantined_files"]
    assert listed["file"].endswith("day4_shop.csv") and listed["reason"] == "load_refused"
    after = _rows(local_stack.settings, "SELECT COUNT(*) FROM fraud_raw.raw_transactions", [])[0][0]
    assert after - before == rows  # the other file, whole
    client = storage_client(local_stack.settings)
    quarantined = [b.name for b in client.list_blobs(local_stack.settings.quarantine_bucket)]
    assert any(n.endswith("/day4_shop.csv") for n in quarantined)
    assert any(n.endswith("/day4_shop.csv.reason.json") for n in quarantined)
