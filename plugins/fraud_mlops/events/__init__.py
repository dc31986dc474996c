"""Event-driven ingestion: Cloud Storage notifications through Pub/Sub start Airflow runs.

* :mod:`.notification` - the ``JSON_API_V1`` notification: build it, read it back, decide
  what a run ingests. Pure functions.
* :mod:`.watcher` - the Asset and its ``AssetWatcher`` (``MessageQueueTrigger``,
  ``google+pubsub``) the ``fraud_ingest_events`` DAG is scheduled on.

Publishing to the local Pub/Sub emulator is the harness's (``devtools/pubsub.py``); on gcp the
bucket's notification config publishes. Nothing is imported here: the DAG file imports
:mod:`.watcher` at parse time only.
"""
