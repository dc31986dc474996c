"""The prediction log: every answer the model gave, where it goes, and how it reaches the warehouse.

An adapter package (the log's destination is an external system: spool files + the DuckDB
warehouse locally, Cloud Logging → a log sink → BigQuery on gcp), chosen in
:func:`fraud_mlops.targets.prediction_log`. Serving only enqueues records
(:mod:`fraud_mlops.serving.prediction_logging`); a background thread writes them in batches, so a request never waits on it.
"""
