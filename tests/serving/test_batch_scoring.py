"""Batch scoring: the champion scores every card; a rerun of a run replaces, never duplicates."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pytest

from fraud_mlops.registry.local_registry import LocalModelRegistry
from fraud_mlops.serving.batch import NoChampion, score_latest_features
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
        metadata={"threshold": world.thresholds[version]},
        aliases=["champion"],
    )


def _run(settings: Settings, run_id: str, at: datetime) -> dict:
    summary = score_latest_features(settings, scored_at=at)
    hook = BigQueryDialectDuckDBHook(duckdb_conn_id=settings.warehouse_conn_id)
    hook.run(render_sql("80_card_predictions.sql", settings), parameters={"run_id": run_id})
    return summary


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
    with pytest.raises(NoChampion):
        score_latest_features(settings)


def test_champion_scores_every_card_and_reruns_replace(world: ServingWorld, settings: Settings) -> None:
    _register(world, settings, "1")
    first_at = datetime(2026, 11, 22, 4, 0, tzinfo=UTC)
    summary = _run(settings, "scheduled__2026-11-22T04:00:00+00:00", first_at)

    rows = _predictions(settings)
    by_card = {r[2]: r for r in rows}
    assert summary["cards_scored"] == len(rows) == len(world.cards)
    assert summary["model_version"] == "1"
    for card in world.cards:
        row = by_card[world.pseudonymise(card)]
        expected = world.expected_probability("1", card)
        assert row[3] == expected
        assert row[4] == ("fraud" if expected >= world.thresholds["1"] else "legitimate")
        assert row[5:8] == (world.thresholds["1"], "fraud-detector", "1")
        assert row[8] == world.timestamps[card]
        assert row[9] == first_at
    assert summary["flagged_as_fraud"] == sum(r[4] == "fraud" for r in rows)
    ids = [r[0] for r in rows]
    assert len(set(ids)) == len(ids)

    # the same run again, later, with a new champion: its rows are replaced, not added
    _register(world, settings, "2")
    later = datetime(2026, 11, 22, 5, 0, tzinfo=UTC)
    _run(settings, "scheduled__2026-11-22T04:00:00+00:00", later)
    rerun = _predictions(settings)
    assert len(rerun) == len(world.cards)
    assert sorted(r[0] for r in rerun) == sorted(ids)  # deterministic prediction ids
    assert {r[7] for r in rerun} == {"2"} and {r[9] for r in rerun} == {later}

    # another run adds its own rows beside the first run's
    _run(settings, "scheduled__2026-11-23T04:00:00+00:00", later)
    both = _predictions(settings)
    assert len(both) == 2 * len(world.cards)
    assert len({r[0] for r in both}) == len(both)
