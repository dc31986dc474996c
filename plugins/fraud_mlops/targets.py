"""The one place that maps the active target to its adapters.

Business code and DAG builders ask here for *the* warehouse, feature store, model registry and
endpoint, and pipeline runner, and never test the target themselves: every ``local``/``gcp``
decision of the project is made in this module or inside :mod:`fraud_mlops.settings`.

========================  ==================================  =====================================
seam                      gcp                                 local (default)
========================  ==================================  =====================================
warehouse                 BigQuery (provider hook/operators)  DuckDB speaking BigQuery SQL
feature store             Vertex AI Feature Store             SQLite online store (atomic swaps)
model registry, endpoint  Vertex Model Registry / Endpoint    files under the local data folder
pipeline runs             Vertex AI Pipelines (deferrable)    the same YAML on ``kfp.local``
batch prediction          Vertex AI batch prediction job      the model server's code in a task
storage                   Cloud Storage — the same ``GCSHook`` on both (the GCS emulator locally)
key service (pseudonyms)  Cloud KMS unwraps the Tink keyset   a KEK keyset file under ``<local dir>/kms``
console links             Vertex AI console buttons on tasks  none (plain ``@task``)
========================  ==================================  =====================================

Adapters are imported inside the functions: DAG files call these at parse time, and only the
active target's modules may be loaded then.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fraud_mlops.settings import Settings

if TYPE_CHECKING:
    from fraud_mlops.alerting.sinks import AlertSink
    from fraud_mlops.feature_store.base import FeatureStore
    from fraud_mlops.pipeline_runs.base import PipelineRunner
    from fraud_mlops.prediction_log.store import CloudPredictionLog, LocalPredictionLog
    from fraud_mlops.pseudonym import Pseudonymiser
    from fraud_mlops.registry.batch_prediction import LocalBatchPrediction, VertexBatchPrediction
    from fraud_mlops.registry.console_links import ConsoleLinks
    from fraud_mlops.registry.endpoint_client import ModelClient
    from fraud_mlops.warehouse.base import Warehouse


def warehouse(settings: Settings) -> Warehouse:
    if settings.is_local:
        from fraud_mlops.warehouse.duckdb import DuckDBWarehouse

        return DuckDBWarehouse(settings)
    from fraud_mlops.warehouse.bigquery import BigQueryWarehouse

    return BigQueryWarehouse(settings)


def feature_store(settings: Settings) -> FeatureStore:
    if settings.is_local:
        from fraud_mlops.feature_store.local import LocalFeatureStore

        return LocalFeatureStore(settings)
    from fraud_mlops.feature_store.vertex import VertexFeatureStore

    return VertexFeatureStore(settings)


def pipeline_runner(settings: Settings) -> PipelineRunner:
    if settings.is_local:
        from fraud_mlops.pipeline_runs.kfp_local import LocalPipelineRunner

        return LocalPipelineRunner(settings)
    from fraud_mlops.pipeline_runs.vertex import VertexPipelineRunner

    return VertexPipelineRunner(settings)


def registry_uri(settings: Settings) -> str:
    """The model registry as a pipeline parameter (:func:`fraud_mlops.registry.backends.open_registry`)."""
    if settings.is_local:
        return str(settings.registry_dir)
    from fraud_mlops.registry.backends import vertex_registry_uri

    return vertex_registry_uri(settings.project, settings.region, settings.model_store)


def endpoint_uri(settings: Settings) -> str:
    """The endpoint as a pipeline parameter (:func:`fraud_mlops.registry.backends.open_endpoint`)."""
    from fraud_mlops.registry.names import ENDPOINT_NAME

    if settings.is_local:
        from fraud_mlops.registry.local_endpoint import endpoint_path

        return str(endpoint_path(settings.local_dir, ENDPOINT_NAME))
    from fraud_mlops.registry.backends import vertex_endpoint_uri

    # MLOPS_ENDPOINT_ID (infra/ sets it): the endpoint the prediction function calls, by id
    return vertex_endpoint_uri(settings.project, settings.region, ENDPOINT_NAME, settings.endpoint_id)


def endpoint_client(
    settings: Settings, endpoint_file: str | None = None, endpoint_id: str | None = None
) -> ModelClient:
    """What the prediction function calls: the local endpoint file or the Vertex endpoint.

    ``endpoint_file`` (local) and ``endpoint_id`` (gcp, numeric) override the defaults: the
    endpoint named :data:`~fraud_mlops.registry.names.ENDPOINT_NAME`.
    """
    if settings.is_local:
        from pathlib import Path

        from fraud_mlops.registry.endpoint_client import LocalEndpointClient

        return LocalEndpointClient(Path(endpoint_file or endpoint_uri(settings)))
    from fraud_mlops.registry.endpoint_client import VertexEndpointClient

    return VertexEndpointClient.for_endpoint(settings.project, settings.region, endpoint_id)


def endpoint_scores_shadow_pairs(settings: Settings) -> bool:
    """Whether a canary scores a sample of the champion's requests beside it (shadow pairs).

    The local endpoint holds every deployed model in process (``registry/shadow.py``). Vertex's
    ``predict`` cannot address one deployed model, so on gcp no shadow pair is ever logged, and a
    canary policy that waited for them would hold every canary forever.
    """
    return settings.is_local


def serving_is_fork_safe(settings: Settings) -> bool:
    """Whether the prediction function may build its service before gunicorn forks its workers.

    Locally every part is (files, SQLite connections per process, the model in process). On gcp
    the keyset's unwrap (Cloud KMS) and the Vertex clients open gRPC channels, which must be
    created after the fork.
    """
    return settings.is_local


def pseudonymiser(settings: Settings) -> Pseudonymiser:
    """The card pseudonym function of the prediction function and the local tools.

    Unwraps the configured keyset (:func:`fraud_mlops.pseudonym.wrapped_keyset`) with one
    key-service call: Cloud KMS ``Decrypt`` on gcp, the local stand-in locally.
    """
    from fraud_mlops.pseudonym import local_kms_aead, unwrap, wrapped_keyset

    keyset = wrapped_keyset(settings)
    if settings.is_local:
        return unwrap(keyset, local_kms_aead(keyset.kms_key_uri, settings.local_dir))
    from fraud_mlops.kms import gcp_kms_aead

    return unwrap(keyset, gcp_kms_aead(keyset.kms_key_uri))


def batch_prediction(settings: Settings) -> LocalBatchPrediction | VertexBatchPrediction:
    """Batch scoring's model step: a Vertex AI batch prediction job, or the same server code locally."""
    if settings.is_local:
        from fraud_mlops.registry.batch_prediction import LocalBatchPrediction

        return LocalBatchPrediction(
            settings.registry_dir, warehouse(settings), settings.dataset_ref, settings.warehouse_pool
        )
    from fraud_mlops.registry.batch_prediction import VertexBatchPrediction

    return VertexBatchPrediction(settings)


def prediction_log(settings: Settings) -> LocalPredictionLog | CloudPredictionLog:
    """Where serving logs each prediction: spool files locally, Cloud Logging → BigQuery on gcp."""
    if settings.is_local:
        from fraud_mlops.prediction_log.store import LocalPredictionLog

        return LocalPredictionLog(settings.local_dir / "prediction_log")
    from fraud_mlops.prediction_log.store import CloudPredictionLog

    return CloudPredictionLog(f"{settings.project}.{settings.dataset}_logs", settings)


#: Composer mounts its bucket's data/ folder here on every Airflow worker (Cloud Storage FUSE).
COMPOSER_DATA_DIR = "/home/airflow/gcs/data"


def monitoring_reports_uri(settings: Settings) -> str:
    """Where each monitoring run's HTML reports and result.json go (a folder, or a gs:// prefix).

    On Composer: the environment bucket's ``data/monitoring/``, written through the worker's FUSE
    mount, which the environment's service account may already write (no extra grant).
    """
    if settings.is_local:
        return str(settings.local_dir / "monitoring")
    return f"{COMPOSER_DATA_DIR}/monitoring"


def console_links(settings: Settings) -> ConsoleLinks:
    """Console links for Python tasks that change Vertex resources or write reports (none locally)."""
    if settings.is_local:
        from fraud_mlops.registry.console_links import NoConsoleLinks

        return NoConsoleLinks()
    from fraud_mlops.registry.console_links import VertexConsoleLinks

    return VertexConsoleLinks(
        settings.project,
        settings.region,
        settings.endpoint_id,
        data_bucket=settings.composer_bucket,
        data_dir=COMPOSER_DATA_DIR,
    )


def alert_sink(settings: Settings) -> AlertSink:
    """Alerts: a JSON-lines file locally (plus ``MLOPS_ALERT_WEBHOOK`` if set), Cloud Logging on gcp."""
    from fraud_mlops.alerting.sinks import (
        CloudLoggingAlertSink,
        FanOut,
        JsonLinesAlertSink,
        webhook_from_env,
    )

    webhook = webhook_from_env()
    if settings.is_local:
        primary: AlertSink = JsonLinesAlertSink(settings.local_dir / "alerts" / "alerts.jsonl")
    else:
        primary = CloudLoggingAlertSink(settings.project)
    return FanOut([primary, webhook]) if webhook else primary
