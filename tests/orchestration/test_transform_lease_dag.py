"""Two ingestion DAGs' runs never overlap, nor an erasure and an ingestion run, on real Airflow
(``dag.test()``), the real local warehouse and the GCS emulator: the daily run waits while a
sensor run holds the transform lease, and goes on when that run ends; a run the plan cuts short
gives it back too (lease_probe.py); an erasure waits for an ingestion run in flight before it
deletes (erasure_lease_probe.py)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from tests.airflow_probes import airflow_home, local_target_env, run_probe


def test_a_run_waits_for_the_lease_another_dags_run_holds_then_takes_it_over(tmp_path: Path) -> None:
    env = airflow_home(tmp_path, local_target_env(tmp_path / "local"))
    out = run_probe("tests.orchestration.lease_probe", env, str(tmp_path), timeout=600)

    assert out["state"] == "success", out["states"]
    assert set(out["states"].values()) == {"success"}, out["states"]
    # it found the lease held and waited (rescheduled, holding no slot) until the holder ended
    assert out["events"]["reschedules_while_held"] >= 2
    assert datetime.fromisoformat(out["acquired_at"]) >= datetime.fromisoformat(
        out["events"]["holder_ended_at"]
    )
    assert (
        "waiting: the transform lease is held by fraud_ingest_sensor / manual__2026-12-05T10:00:00+00:00"
        in out["_output"]
    )
    assert "taking over the transform lease from fraud_ingest_sensor" in out["_output"]
    # while it waited, the holder's load table stayed; once it held the lease (the holder's run
    # had ended), it dropped it as a leftover
    assert out["events"]["holders_load_table_while_held"] is True
    assert out["events"]["holders_load_table_after"] is False
    # then transformed and published its file, and its teardown gave the lease back
    assert out["staged_rows"] == 3_000
    assert out["holder_after_first"] is None

    # a run with nothing new: the plan skips the rest, and the teardown still gives the lease back
    rerun = out["rerun_states"]
    assert (rerun["acquire_transform_lease"], rerun["transform.plan_increment"]) == (
        "success",
        "success",
    )
    assert rerun["publish"] == "skipped" and rerun["release_transform_lease"] == "success"
    assert out["holder_after"] is None


def test_an_erasure_waits_for_the_ingestion_run_in_flight_before_it_deletes(tmp_path: Path) -> None:
    """A run in flight could append or publish the card's rows after the erasure's delete: the
    erasure deletes only once that run has given the lease back, and holds it till its sync."""
    env = airflow_home(tmp_path, local_target_env(tmp_path / "local"))
    out = run_probe("tests.orchestration.erasure_lease_probe", env, timeout=600)

    assert out["state"] == "success", out["states"]
    assert set(out["states"].values()) == {"success"}, out["states"]
    events = out["events"]
    assert events["reschedules_while_held"] >= 2
    assert events["card_rows_before"] == events["card_rows_while_held"] > 0  # nothing erased while held
    assert (
        "waiting: the transform lease is held by fraud_ingest_events / asset_triggered__2026-12-06T10:00:00+00:00"
        in out["_output"]
    )
    ended = datetime.fromisoformat(events["holder_ended_at"])
    assert datetime.fromisoformat(out["acquired_at"]) >= ended
    assert datetime.fromisoformat(out["erase_started_at"]) >= ended
    assert out["card_rows_after"] == 0
    assert out["holder_after"] is None  # given back after the sync


def test_tasks_a_partial_clear_reruns_without_the_lease_fail_before_they_read_a_file(tmp_path: Path) -> None:
    """An "only failed" clear leaves the run's ``acquire_transform_lease`` a success, and its
    teardown has given the lease back: the cleared tasks must not list, load or publish files
    beside the run that holds the lease now (an erasure here), nor while nobody holds it."""
    env = airflow_home(tmp_path, local_target_env(tmp_path / "local"))
    out = run_probe("tests.orchestration.partial_clear_probe", env, timeout=600)

    for case in ("held_by_another_run", "free"):
        run = out[case]
        assert run["state"] == "failed", case
        assert run["states"]["acquire_transform_lease"] == "success", case  # as a partial clear leaves it
        assert run["states"]["validate_landed_files"] == "failed", case
        assert run["states"]["publish"] == "upstream_failed", case
        assert run["raw_rows_after"] == out["raw_rows_before"], case  # nothing loaded
        assert run["landed"] == [out["landed_name"]], case  # the file waits where it landed
    held = out["held_by_another_run"]
    assert held["holder_after"] == ["fraud_erase_card", "manual__2026-12-06T10:00:00+00:00"]  # kept
    assert out["free"]["holder_after"] is None  # nor claimed on the way
    output = out["_output"]
    assert (
        "this run does not hold the transform lease (held by fraud_erase_card / "
        "manual__2026-12-06T10:00:00+00:00" in output
    )
    assert (
        "this run does not hold the transform lease (nobody holds it): validate_landed_files ran "
        "without acquire_transform_lease" in output
    )
    assert "Clear this run from acquire_transform_lease (downstream included)" in output


def test_a_run_cleared_after_its_publish_takes_its_snapshot_and_syncs_without_transforming_again(
    tmp_path: Path,
) -> None:
    """Its increment is published (transform_log), so no later plan holds those files: without
    this, a cleared run found nothing new and skipped its snapshot and sync, and the online store
    kept the cards' old features until new files came."""
    env = airflow_home(tmp_path, local_target_env(tmp_path / "local"))
    out = run_probe("tests.orchestration.publish_resume_probe", env, str(tmp_path), timeout=600)

    failed, cleared, later = out["failed"], out["cleared"], out["later"]
    # the first try published and took its snapshot; the sync failed, the lease was given back
    assert failed["state"] == "failed"
    assert failed["states"]["publish"] == failed["states"]["snapshot.publish_snapshot"] == "success"
    assert failed["states"]["feature_sync.sync_online_features"] == "failed"
    assert failed["states"]["release_transform_lease"] == "success"
    assert failed["staged"] == 3_000 and failed["sync_source"] is None
    ((snapshot, run_id),) = failed["lineage"]
    assert run_id == failed["run_id"]

    # cleared: the same run, its tasks tried again; nothing new, so no transform, but its
    # snapshot (the same one, created and recorded once) and a sync of what it published
    assert cleared["run_id"] == failed["run_id"]
    assert out["cleared_tries"]["transform.plan_increment"] == 2
    assert cleared["state"] == "success", cleared["states"]
    skipped = (
        "transform.build_staging",
        "transform.build_training_examples",
        "check_data_quality",
        "publish",
    )
    assert {cleared["states"][task] for task in skipped} == {"skipped"}
    assert cleared["states"]["snapshot.snapshot_training_table"] == "success"
    assert cleared["states"]["feature_sync.sync_online_features"] == "success"
    assert cleared["lineage"] == [[snapshot, run_id]] and cleared["staged"] == 3_000
    assert cleared["sync_source"] == snapshot and cleared["synced_rows"] > 0
    assert "this run published 1 file(s) before (a cleared run)" in out["_output"]

    # a new run with nothing new: no snapshot, no sync
    assert later["state"] == "success", later["states"]
    assert later["states"]["snapshot.snapshot_training_table"] == "skipped"
    assert later["states"]["feature_sync.sync_online_features"] == "skipped"
    assert later["lineage"] == cleared["lineage"]


def test_a_run_cleared_after_its_publish_that_finds_a_new_file_publishes_it_and_takes_another_snapshot(
    tmp_path: Path,
) -> None:
    """Its first snapshot, created once, does not hold the new file's rows: before, the run kept
    that snapshot (one per run), its sync named it, and training saw the new rows only with the
    next run's snapshot."""
    env = airflow_home(tmp_path, local_target_env(tmp_path / "local"))
    out = run_probe("tests.orchestration.publish_resume_probe", env, str(tmp_path), "new-file", timeout=600)

    failed, cleared, later = out["failed"], out["cleared"], out["later"]
    assert failed["state"] == "failed" and failed["staged"] == 3_000
    ((first, run_id),) = failed["lineage"]

    # the same run transforms and publishes the new file, and takes the snapshot of that publish
    assert cleared["run_id"] == run_id
    assert cleared["state"] == "success", cleared["states"]
    assert cleared["states"]["transform.build_staging"] == cleared["states"]["publish"] == "success"
    assert cleared["staged"] == 6_000
    assert cleared["lineage"] == [[first, run_id], [f"{first}_2", run_id]]
    assert cleared["sync_source"] == f"{first}_2"
    assert f"; snapshot {first}_2" in out["_output"]

    # a new run with nothing new takes none
    assert later["states"]["snapshot.snapshot_training_table"] == "skipped"
    assert later["lineage"] == cleared["lineage"]
