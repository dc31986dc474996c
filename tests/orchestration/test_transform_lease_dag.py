"""Two ingestion DAGs' runs never transform at once, on real Airflow (``dag.test()``), the real
local warehouse and the GCS emulator (lease_probe.py): the daily run waits while a sensor run
holds the transform lease, and goes on when that run ends; a run the plan cuts short gives it
back too."""

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
    # then transformed and published its file, and its teardown gave the lease back
    assert out["staged_rows"] == 3_000
    assert out["holder_after_first"] is None

    # a run with nothing new: the plan skips the rest, and the teardown still gives the lease back
    rerun = out["rerun_states"]
    assert (rerun["transform.acquire_transform_lease"], rerun["transform.plan_increment"]) == (
        "success",
        "success",
    )
    assert rerun["publish"] == "skipped" and rerun["release_transform_lease"] == "success"
    assert out["holder_after"] is None
