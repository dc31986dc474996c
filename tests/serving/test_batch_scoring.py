"""Batch scoring (local): the champion's model server scores every card; a rerun replaces, never duplicates.

The same steps as the DAG: SQL 81 (input table) → batch prediction (the model server's code,
:class:`LocalBatchPrediction`) → SQL 80 (this run's rows) → SQL 82 (summary), on a real DuckDB
warehouse speaking the project's BigQuery SQL.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest
from airflow.sdk.exceptions import AirflowFailException

from fraud_mlops import targets
from fraud_mlops.registry.artifact import read_metadata
from fraud_mlops.registry.batch_prediction import LocalBatchPrediction, NoChampion
from fraud_mlops.registry.local_registry import LocalModelRegistry
from fraud_mlops.settings import Settings, get_settings
from fraud_mlops.sql_templates import render_sql
from fraud_mlops.warehouse.hook import BigQueryDialectDuckDBHook

from .helpers import ServingWorld, write_latest_features_warehouse


@pytest.fixture
def settings(world: ServingWorld, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    monkeypatch.setenv("MLOPS_TARGET", "local")
    monkeypatch.setenv("MLOPS_LOCAL_DIR", str(tmp_path / "local"))
    get_settings.cache_clear()
    s = get_settings()
    monkeypatch.setenv(
        "AIRFLOW_CONN_FRAUD_WAREHOUSE", json.dumps({"conn_type": "duckdb", "host": str(s.warehouse_path)})
    )
    write_latest_features_warehouse(world, s.warehouse_path)
    yield s
    get_settings.cache_clear()


def _register(world: ServingWorld, settings: Settings, version: str) -> None:
    LocalModelRegistry(settings.registry_dir).register(
        "fraud-detector",
        world.model_dirs[version],
        str(world.model_dirs[version]),
        labels={},
        metadata={**read_metadata(world.model_dirs[version]), "threshold": world.thresholds[version]},
        aliases=["champion"],
    )


#: The scoring runs' run_after: before they score (a run's rows are scored after it).
RUN_AFTER = datetime.now(UTC) - timedelta(minutes=5)


def _run(settings: Settings, run_id: str) -> tuple[dict, dict]:
    hook = BigQueryDialectDuckDBHook(duckdb_conn_id=settings.warehouse_conn_id)
    hook.run(render_sql("81_batch_prediction_input.sql", settings))
    batch = targets.batch_prediction(settings)
    assert isinstance(batch, LocalBatchPrediction)
    predicted = batch.run()
    run_after = RUN_AFTER.isoformat()  # the same for a run's reruns, as Airflow keeps it
    hook.run(
        render_sql("80_card_predictions.sql", settings),
        parameters={"run_id": run_id, "model_version": predicted["model_version_id"], "run_after": run_after},
    )
    (summary,) = targets.warehouse(settings).records(
        render_sql("82_batch_scoring_summary.sql", settings), {"run_id": run_id, "run_after": run_after}
    )
    return predicted, dict(zip(("rows", "flagged", "quantiles", "versions", "cards"), summary, strict=True))


def _predictions(settings: Settings) -> list[tuple]:
    conn = duckdb.connect(str(settings.warehouse_path), read_only=True)
    try:
        conn.execute("SET TimeZone='UTC'")
        return conn.execute(
            "SELECT prediction_id, scoring_run_id, card_pseudonym, score, decision, threshold, model_name, "
            "model_version, feature_timestamp, scored_at FROM fraud.card_predictions ORDER BY 2, 3"
        ).fetchall()
    finally:
        conn.close()


def test_without_a_champion_nothing_is_scored(world: ServingWorld, settings: Settings) -> None:
    BigQueryDialectDuckDBHook(duckdb_conn_id=settings.warehouse_conn_id).run(
        render_sql("81_batch_prediction_input.sql", settings)
    )
    with pytest.raises(AirflowFailException) as failed:  # no retries: the registry answers the same
        targets.batch_prediction(settings).run()  # type: ignore[union-attr]
    assert isinstance(failed.value.__cause__, NoChampion)


def test_champion_scores_every_card_and_reruns_replace(world: ServingWorld, settings: Settings) -> None:
    _register(world, settings, "1")
    before = datetime.now(UTC)
    predicted, summary = _run(settings, "scheduled__2026-11-22T04:00:00+00:00")

    rows = _predictions(settings)
    by_card = {r[2]: r for r in rows}
    assert predicted == {"rows": len(world.cards), "model_name": "fraud-detector", "model_version_id": "1"}
    assert summary["rows"] == len(rows) == len(world.cards) == summary["cards"]  # every card scored
    assert summary["versions"] == "1"
    for card in world.cards:
        row = by_card[world.pseudonymise(card)]
        expected = world.expected_probability("1", card)
        assert row[3] == pytest.approx(expected, abs=1e-12)  # batched predict_proba vs one row
        assert row[4] == ("fraud" if row[3] >= world.thresholds["1"] else "legitimate")
        assert row[5:8] == (world.thresholds["1"], "fraud-detector", "1")
        assert row[8] == world.timestamps[card]
        assert row[9] >= before.replace(microsecond=0) - timedelta(seconds=1)
    assert summary["flagged"] == sum(r[4] == "fraud" for r in rows)
    scores = sorted(r[3] for r in rows)
    assert summary["quantiles"][0] == pytest.approx(scores[0]) and summary["quantiles"][-1] == pytest.approx(
        scores[-1]
    )
    ids = [r[0] for r in rows]
    assert len(set(ids)) == len(ids)

    # the same run again, later, with a new champion: its rows are replaced, not added
    _register(world, settings, "2")
    _run(settings, "scheduled__2026-11-22T04:00:00+00:00")
    rerun = _predictions(settings)
    assert len(rerun) == len(world.cards)
    assert sorted(r[0] for r in rerun) == sorted(ids)  # deterministic prediction ids
    assert {r[7] for r in rerun} == {"2"}

    # another run adds its own rows beside the first run's
    _run(settings, "scheduled__2026-11-23T04:00:00+00:00")
    both = _predictions(settings)
    assert len(both) == 2 * len(world.cards)
    assert len({r[0] for r in both}) == len(both)


def test_a_champion_trained_with_other_library_versions_is_refused(
    world: ServingWorld, settings: Settings, tmp_path: Path
) -> None:
    import shutil

    from fraud_mlops.registry.artifact import write_metadata
    from fraud_mlops.registry.serving_image import IncompatibleModel

    stale = tmp_path / "stale"
    shutil.copytree(world.model_dirs["1"], stale)
    meta = read_metadata(stale)
    write_metadata(stale, {**meta, "training_versions": {**meta["training_versions"], "numpy": "1.26.4"}})
    LocalModelRegistry(settings.registry_dir).register(
        "fraud-detector", stale, str(stale), labels={}, metadata=read_metadata(stale), aliases=["champion"]
    )
    BigQueryDialectDuckDBHook(duckdb_conn_id=settings.warehouse_conn_id).run(
        render_sql("81_batch_prediction_input.sql", settings)
    )
    with pytest.raises(AirflowFailException, match=r"numpy trained 1\.26\.4") as failed:
        targets.batch_prediction(settings).run()  # type: ignore[union-attr]
    assert isinstance(failed.value.__cause__, IncompatibleModel)
