"""The compiled pipeline, run for real with kfp.local (one subprocess per component).

One sequence on one registry and endpoint, as a user would live it: a good model deploys;
a challenger worse than the champion is turned down even with the absolute bars at zero; a
model trained on shuffled labels fails the bars; a good second model goes out as a canary and
is promoted.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from fraud_mlops.features import LABEL
from fraud_mlops.pipeline_runs.kfp_local import run_pipeline_locally
from fraud_mlops.registry.base import CHALLENGER, CHAMPION
from fraud_mlops.registry.local_endpoint import read_endpoint
from fraud_mlops.registry.local_registry import LocalModelRegistry
from fraud_mlops.settings import Settings
from fraud_mlops.targets import endpoint_uri, registry_uri
from fraud_mlops.training.pipeline_params import pipeline_parameters
from fraud_mlops.training.steps import promote
from tests.training.examples import make_examples

pytestmark = pytest.mark.slow


def _run(settings: Settings, snapshot: str, **overrides):  # type: ignore[no-untyped-def]
    return run_pipeline_locally(
        pipeline_parameters(settings, snapshot, **overrides), settings.local_dir / "root"
    )


def _traffic(settings: Settings) -> dict[str, int]:
    state = read_endpoint(settings.local_dir / "endpoints" / "fraud-endpoint.json")
    return {m.model_version: m.traffic_percent for m in state.deployed_models}


def test_deploy_reject_worse_reject_bad_then_canary_and_promote(
    local_settings: Settings, snapshot_writer
) -> None:
    registry = LocalModelRegistry(local_settings.registry_dir)

    snapshot_writer("training_snapshot_20260901T000000_00000001", make_examples(3000, seed=0))
    first = _run(local_settings, "training_snapshot_20260901T000000_00000001")
    assert (first.decision, first.model_version, first.champion_version) == ("deploy", "1", ""), first.reason
    assert first.metrics["pr_auc"] > 0.6 and first.pipeline_run.startswith("fraud-training-")
    assert _traffic(local_settings) == {"1": 100} and first.traffic == {"1": 100}
    assert registry.get("fraud-detector", CHAMPION).version == "1"  # type: ignore[union-attr]

    # Trained and thresholded on shuffled labels, tested on true ones: clearly worse than the
    # champion on the same rows. Bars at zero, so only the champion comparison can stop it.
    worse = make_examples(3000, seed=1)
    history = worse.index[: int(len(worse) * 0.85)]
    worse.loc[history, LABEL] = worse.loc[history, LABEL].sample(frac=1.0, random_state=1).to_numpy()
    snapshot_writer("training_snapshot_20260902T000000_00000002", worse)
    second = _run(
        local_settings, "training_snapshot_20260902T000000_00000002", min_pr_auc=0.0, min_roc_auc=0.0
    )
    assert second.decision == "reject" and second.model_version == ""
    assert "< champion 1 pr_auc" in second.reason and "minimum" not in second.reason
    assert second.champion_version == "1"
    assert _traffic(local_settings) == {"1": 100}
    assert [v.version for v in registry.versions("fraud-detector")] == ["1"]

    snapshot_writer(
        "training_snapshot_20260903T000000_00000003", make_examples(3000, seed=2, shuffle_labels=True)
    )
    third = _run(local_settings, "training_snapshot_20260903T000000_00000003")
    assert third.decision == "reject" and "pr_auc" in third.reason and "< minimum 0.5000" in third.reason
    assert [r["snapshot"] for r in registry.rejections("fraud-detector")] == [
        "training_snapshot_20260902T000000_00000002",
        "training_snapshot_20260903T000000_00000003",
    ]
    assert _traffic(local_settings) == {"1": 100}

    snapshot_writer("training_snapshot_20260904T000000_00000004", make_examples(3000, seed=3))
    fourth = _run(local_settings, "training_snapshot_20260904T000000_00000004", champion_tolerance=1.0)
    assert (fourth.decision, fourth.model_version) == ("deploy", "2"), fourth.reason
    assert _traffic(local_settings) == {"2": 10, "1": 90}
    assert registry.get("fraud-detector", CHALLENGER).version == "2"  # type: ignore[union-attr]

    assert promote(registry_uri(local_settings), endpoint_uri(local_settings), "fraud-detector", "2") == {
        "2": 100
    }
    assert _traffic(local_settings) == {"2": 100}
    assert registry.get("fraud-detector", CHAMPION).version == "2"  # type: ignore[union-attr]
    assert registry.get("fraud-detector", CHALLENGER) is None


def test_the_dag_task_runs_under_the_configured_pipeline_root(
    local_settings: Settings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """``MLOPS_PIPELINE_ROOT`` is where kfp.local writes the run's artifacts, as on Vertex."""
    from airflow.sdk import DAG

    from fraud_mlops import targets
    from fraud_mlops.settings import get_settings

    monkeypatch.setenv("MLOPS_PIPELINE_ROOT", str(tmp_path / "elsewhere"))
    get_settings.cache_clear()
    with DAG("runner_test", schedule=None) as dag:
        targets.pipeline_runner(get_settings()).run_operator({"snapshot_name": "s"})
    task: Any = dag.get_task("train_evaluate_deploy")
    assert task.op_kwargs["pipeline_root"] == str(tmp_path / "elsewhere")
