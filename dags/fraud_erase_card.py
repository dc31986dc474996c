"""
### Erase one card (right to erasure)

Trigger with the param `card_number`. Removes the card from the raw table, the rejected rows,
every published table (staging, features, training examples, latest features) and the landed
files holding it in clear (not yet ingested, archived, quarantined), then syncs the online store.
A landed file no erasure can read (a broken gzip: it may hold the card) fails the run's last
step, `confirm_files_erased`, which names it: delete it, then clear `erase_from_landed_files`
with its downstream tasks ("only failed" unticked), which lists the landed files again.
Locally the sync writes a version without the card and keeps no earlier one, so the store no
longer knows it; `confirm_card_not_served` looks the card up to make sure. On gcp a Bigtable
online store keeps the card's last synced record until the feature view is recreated (Google's
documented behaviour): that check fails the run; recreate the view (docs/least_privilege.md
says how), sync, then clear `confirm_card_not_served`.
Training snapshots are immutable and keep the card's *pseudonymised* rows until they expire
(docs/least_privilege.md). It holds the transform lease from the delete to the sync, as every
ingestion run does from its file listing to its sync: it waits at `acquire_transform_lease`
for a run in flight to end, and no run starts reading files until it is done, so none can load
or publish the card's rows again (docs/least_privilege.md). Locally: `make erase-card CARD=…`.
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import DAG, Param, chain

from fraud_mlops.feature_store.records import ERASURE_SOURCE
from fraud_mlops.orchestration import erasure, ingestion
from fraud_mlops.orchestration.defaults import dag_defaults
from fraud_mlops.orchestration.feature_sync import feature_sync
from fraud_mlops.orchestration.lease import acquire_transform_lease, release_transform_lease
from fraud_mlops.settings import get_settings

settings = get_settings()

with DAG(
    dag_id="fraud_erase_card",
    description="Right to erasure: one card out of raw, archive, staging, features and the online store",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    params={"card_number": Param(type="string", minLength=12, description="The card number to erase")},
    doc_md=__doc__,
    **dag_defaults(settings, "erasure"),
):
    synced = feature_sync(settings, ERASURE_SOURCE)
    lease = acquire_transform_lease(settings)
    chain(
        erasure.check_erasure_request(settings),
        ingestion.setup_tables(settings),  # the lease's row, on a warehouse no run has set up yet
        lease,
        erasure.erase_card_rows(settings),
        erasure.erase_from_landed_files(settings),
        synced.group,
        [erasure.confirm_card_not_served(settings), erasure.confirm_files_erased(settings)],
        release_transform_lease(settings, lease),
    )
