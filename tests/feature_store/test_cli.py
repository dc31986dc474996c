"""``python -m devtools.features_cli``: sync, status and lookup on the local store."""

from __future__ import annotations

import pytest

from devtools.features_cli import main
from fraud_mlops.feature_store.local_store import LocalOnlineStore
from fraud_mlops.feature_store.records import OnlineStoreNotReady
from fraud_mlops.features import ENTITY_KEY, EVENT_TIME, FEATURES
from fraud_mlops.settings import Settings

from .helpers import synthetic_rows, write_warehouse


def test_sync_status_and_lookup(
    local_settings: Settings, capsys: pytest.CaptureFixture[str], pseudonymise
) -> None:
    with pytest.raises(OnlineStoreNotReady):
        LocalOnlineStore(local_settings.online_store_path).fetch_one("x")
    assert not local_settings.online_store_path.exists(), "a reader must not create the store"

    card = "4111 1111 1111 1111"
    rows = synthetic_rows(5)
    rows[0][ENTITY_KEY] = pseudonymise(card)
    write_warehouse(local_settings.warehouse_path, local_settings.dataset, rows)

    assert main(["sync", "--snapshot", "training_snapshot_cli"]) == 0
    assert main(["status"]) == 0
    assert main(["lookup", card, "4000 0000 0000 0002"]) == 0
    out = capsys.readouterr().out

    assert "5 cards from duckdb:" in out and "training_snapshot_cli" in out
    assert f"features of {rows[0][EVENT_TIME].isoformat()}" in out
    assert f"    {FEATURES[0].name:<24} {rows[0][FEATURES[0].name]}" in out
    assert "unknown card (not in the online store)" in out
    assert card not in out and card.replace(" ", "") not in out
