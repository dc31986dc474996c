"""End to end on the real local stack: a landed file fires the real deferrable GCS sensor under
the real scheduler and triggerer, every task succeeds and the counts add up; a corrupt file is
quarantined beside it; landing the same file again adds no rows."""

from __future__ import annotations

from pathlib import Path

import pytest

from devtools.demo.run import SENSOR_DAG, _wait_for_waiting_sensor_run, write_corrupt_file
from devtools.generator.files import write_landing_csv
from devtools.generator.synth import GeneratorConfig, generate
from devtools.landing import land_file

pytestmark = [pytest.mark.stack, pytest.mark.slow]

ROWS = 4_000


def _run_once(stack, files: list[Path]) -> tuple[str, dict]:
    api = stack.api
    run_id = _wait_for_waiting_sensor_run(api, timeout=300)
    for f in files:
        land_file(f, settings=stack.settings)
    run = api.wait_for_run(SENSOR_DAG, run_id, timeout=900)
    states = {(t["task_id"], t["map_index"]): t["state"] for t in api.task_instances(SENSOR_DAG, run_id)}
    assert run["state"] == "success", states
    assert set(states.values()) == {"success"}, states
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


def test_same_file_landed_again_adds_no_rows(local_stack, landed, tmp_path):
    again = tmp_path / "day1_resent.csv"
    again.write_bytes(landed["good"].read_bytes())
    _, summary = _run_once(local_stack, [again])
    before, after = landed["summary"]["counts"], summary["counts"]
    assert (after["raw_rows"], after["staging_rows"]) == (before["raw_rows"], before["staging_rows"])
    assert after["duplicate_landings"] == before["duplicate_landings"] + 1
