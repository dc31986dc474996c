"""The ``feature_sync`` task group: refresh the online store after each snapshot.

The tasks come from the target's feature store (:mod:`fraud_mlops.targets`): on gcp
``sync_feature_view`` → ``wait_for_feature_view_sync`` (reschedule mode) → ``record_feature_sync``;
locally one ``sync_online_features`` task in the warehouse pool. Either way the group's last
task emits the ``fraud_online_features`` Asset and returns the sync record as XCom.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from airflow.sdk import TaskGroup, XComArg

from fraud_mlops import targets
from fraud_mlops.settings import Settings


@dataclass(frozen=True)
class FeatureSync:
    group: TaskGroup
    record: XComArg  # the SyncRecord (dict) the last task returns


def feature_sync(settings: Settings, source_snapshot: Any) -> FeatureSync:
    """Create the group; ``source_snapshot`` (an ``XComArg``) is recorded as the sync's source."""
    with TaskGroup("feature_sync", tooltip="latest_card_features → online store") as group:
        _, last = targets.feature_store(settings).sync_operators(source_snapshot)
    return FeatureSync(group=group, record=last.output)
