"""The training DAG's builders: which snapshot a run trains on."""

from __future__ import annotations

from types import SimpleNamespace

from fraud_mlops.orchestration.training import snapshot_from_events


def test_triggering_snapshot_is_the_newest_event_with_a_name() -> None:
    events = {
        "fraud_training_snapshot": [
            SimpleNamespace(extra={"snapshot": "training_snapshot_a"}, timestamp=1),
            SimpleNamespace(extra={"snapshot": "training_snapshot_c"}, timestamp=3),
            SimpleNamespace(extra={}, timestamp=4),
            SimpleNamespace(extra={"snapshot": "training_snapshot_b"}, timestamp=2),
        ]
    }
    assert snapshot_from_events(events) == "training_snapshot_c"
    assert snapshot_from_events({}) is None and snapshot_from_events(None) is None
