"""A file validation accepts and the load refuses is quarantined with the load's reason, and
the other files of the run load, transform and publish (real Airflow, ``dag.test()``, the local
warehouse and the GCS emulator: refused_load_probe.py). Before, the load task failed on every
retry and every later run, and the other files' appends waited behind it."""

from __future__ import annotations

import json
from pathlib import Path

from tests.airflow_probes import airflow_home, local_target_env, run_probe
from tests.orchestration.refused_load_probe import LEFTOVER


def test_a_file_the_load_refuses_is_quarantined_and_the_other_files_load(tmp_path: Path) -> None:
    env = airflow_home(tmp_path, local_target_env(tmp_path / "local"))
    out = run_probe("tests.orchestration.refused_load_probe", env, str(tmp_path), timeout=600)

    states = out["states"]
    assert out["state"] == "success", states
    assert states["load_raw.load_raw_file[incoming/shop.csv]"] == "success"  # refused, not failed
    assert states["load_raw.load_raw_file[incoming/day1.csv]"] == "success"
    appends = {k: v for k, v in states.items() if k.startswith("load_raw.append_raw_file")}
    assert sorted(appends.values()) == ["skipped", "success"], appends  # the refused file's is skipped
    assert states["publish[-1]"] == "success"

    # only the good file's rows, all of them, reached raw and staging
    assert out["raw_rows"] == out["staged_rows"] == 3_000
    # the good file archived, the refused one in quarantine with its reason, nothing left landed
    assert len(out["landed"]) == 1 and out["landed"][0].startswith("processed/")
    (moved,) = [name for name in out["quarantined"] if name.endswith("/shop.csv")]
    assert out["quarantined"][moved] == out["refused_file_bytes"]  # the whole file, as landed
    reason = json.loads(out["quarantined"][moved + ".reason.json"])
    assert reason["reason"] == "load_refused"
    assert reason["source"] == "gs://fraud-landing/incoming/shop.csv"
    assert reason["detail"].startswith("DuckDB's strict CSV reader refused the file that validation read")
    assert "CSV parsing dialect" in reason["detail"] and "Possible fixes" not in reason["detail"]
    (listed,) = out["summary_quarantined"]
    assert listed["file"] == "incoming/shop.csv" and listed["reason"] == "load_refused"
    assert listed["moved_to"].endswith(moved)
    # no card number of the refused file in clear: not in its reason, nor in the task logs
    logs = "\n".join(line for line in out["_output"].splitlines() if not line.startswith("PROBE "))
    assert "QUARANTINED gs://fraud-landing/incoming/shop.csv: its load refused it: load_refused" in logs
    for card in out["refused_file_cards"]:
        assert card not in out["quarantined"][moved + ".reason.json"]
        assert card not in logs

    # A load killed mid-job in an earlier run left its load table (a file's rows, card numbers
    # in clear; raw retention would never reach it, nor an erasure). Once this run held the
    # transform lease (no load in flight) it dropped it, and said so; and none of the run's own
    # per-file tables is left: the good file's append dropped its own, the refusal the other's.
    assert out["per_file_tables_left"] == []
    assert f"dropped fraud_raw.{LEFTOVER}: a per-file table an earlier run left behind" in logs
