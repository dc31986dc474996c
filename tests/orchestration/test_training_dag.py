"""The training DAG on the local target, run for real with ``dag.test()`` (slow).

Checks the wiring the unit tests cannot: the chosen snapshot and parameters flow through
XCom into the kfp.local task, and its outcome into the ``model_lineage`` row.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fraud_mlops.registry.local_endpoint import read_endpoint
from fraud_mlops.settings import REPO_ROOT
from tests.airflow_probes import airflow_home, local_target_env, run_probe
from tests.training.examples import make_examples, write_snapshot

pytestmark = pytest.mark.slow

SNAPSHOT = "training_snapshot_20260901T000000_00000001"


def test_snapshot_to_deployed_model_and_lineage_row(tmp_path: Path) -> None:
    local_dir = tmp_path / "local"
    write_snapshot(local_dir / "warehouse" / "snapshots", SNAPSHOT, make_examples(3000, seed=0))
    env = airflow_home(tmp_path, local_target_env(local_dir))
    # A snapshot written by hand has no snapshot_lineage row, so the run names it (as a manual
    # run would); the asset-triggered run reads the name from the event instead.
    outcome = run_probe(
        "tests.orchestration.dag_run_probe",
        env,
        str(REPO_ROOT / "dags" / "fraud_training.py"),
        json.dumps({"snapshot": SNAPSHOT}),
        timeout=900,
    )

    assert outcome["state"] == "success", outcome
    assert outcome["tasks"] == {
        "choose_snapshot": "success",
        "train_evaluate_deploy": "success",
        "record_model_lineage": "success",
    }
    assert outcome["lineage"] == [[SNAPSHOT, "1", "deploy", "fraud_training", True]]
    endpoint = read_endpoint(local_dir / "endpoints" / "fraud-endpoint.json")
    assert [(m.model_version, m.traffic_percent) for m in endpoint.deployed_models] == [("1", 100)]
