"""Online feature store: the card's latest features, synced from the warehouse, looked up by key.

The feature definition stays in :mod:`fraud_mlops.features`; this package only moves those
features from the latest-features view to an online store and reads them back:

* :mod:`.records` - what a sync and a lookup return (sync record, feature row, lookup result).
* :mod:`.local_store` - the embedded store of the local target (SQLite, WAL, atomic swaps).
* :mod:`.source` - reads the warehouse's latest-features view (DuckDB, read-only, briefly).
* :mod:`.sync` - the local sync (idempotent) and the sync record of a Vertex sync.
* :mod:`.vertex` - Vertex AI Feature Online Store names and its ``FetchFeatureValues`` reader.
* :mod:`.lookup` - one entry point for lookups on either target.
* :mod:`.tasks` - the Airflow tasks the ingestion DAG wires after the snapshot.

Nothing heavy is imported here: DAG files import :mod:`.tasks` at parse time.
"""
