"""Online feature store: the card's latest features, synced from the warehouse, looked up by key.

The feature definition stays in :mod:`fraud_mlops.features`; this package only moves those
features from the latest-features view to an online store and reads them back:

* :mod:`.base` - the seam: an online reader and the sync tasks (``targets.feature_store``).
* :mod:`.records` - what a sync and a lookup return (sync record, feature row, lookup result).
* :mod:`.local` - the local target's feature store: the SQLite store and its one sync task.
* :mod:`.local_store` - the embedded store itself (SQLite, WAL, atomic swaps).
* :mod:`.source` - the latest-features view's rows in the store layout (``74_online_store_rows.sql``).
* :mod:`.sync` - the local sync (idempotent) and the sync record of a Vertex sync.
* :mod:`.vertex` - Vertex AI Feature Online Store: names, ``FetchFeatureValues`` reader, sync tasks.

Nothing heavy is imported here: DAG builders reach :mod:`.local` or :mod:`.vertex` at parse time.
"""
