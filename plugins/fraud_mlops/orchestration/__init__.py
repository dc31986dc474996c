"""Every Airflow task builder of the project, one module per DAG family.

* :mod:`.defaults` - what every DAG shares: default args, SQL templating and macros, tags.
* :mod:`.ingestion` - landed files → raw → staging → features → checks → snapshot.
* :mod:`.feature_sync` - the online store's sync after each snapshot.
* :mod:`.events` - the event-driven DAG's notification resolver.
* :mod:`.training` - snapshot → compiled pipeline → model lineage.
* :mod:`.scoring` - batch scoring of the latest features.
* :mod:`.run_summary` - what an ingestion run did, in numbers.

Builders create tasks (or task groups) in the current DAG and return them, so each DAG file
wires its own graph in a few lines. They ask :mod:`fraud_mlops.targets` for the warehouse,
feature store and pipeline runner and never test the target themselves.
"""
