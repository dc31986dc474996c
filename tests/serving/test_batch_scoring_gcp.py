"""Batch scoring on gcp: Vertex registry, GCS and BigQuery mocked at their client classes."""

from __future__ import annotations

import io
import json
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from unittest import mock

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from google.cloud import aiplatform_v1, bigquery

from fraud_mlops.features import ENTITY_KEY, FEATURE_NAMES, FEATURES
from fraud_mlops.serving.batch import score_latest_features
from fraud_mlops.settings import Settings, get_settings

from .helpers import ServingWorld

PROJECT, REGION = "fraud-prj", "europe-west4"
MODEL = f"projects/{PROJECT}/locations/{REGION}/models/777"


@pytest.fixture
def gcp(monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    for name, value in {"MLOPS_TARGET": "gcp", "GCP_PROJECT": PROJECT, "GCP_REGION": REGION}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv(
        "AIRFLOW_CONN_GOOGLE_CLOUD_DEFAULT",
        json.dumps({"conn_type": "google_cloud_platform", "extra": {"is_anonymous": True}}),
    )
    get_settings.cache_clear()
    yield get_settings()
    get_settings.cache_clear()


def _latest_features(world: ServingWorld) -> pa.Table:
    """What BigQuery returns for the latest-features query (store layout)."""
    columns: dict[str, Any] = {
        ENTITY_KEY: [world.pseudonymise(c) for c in world.cards],
        "event_time_us": [int(world.timestamps[c].timestamp() * 1_000_000) for c in world.cards],
    }
    for j, f in enumerate(FEATURES):
        values = [world.rows[c][j] for c in world.cards]
        columns[f.name] = [None if v != v else (int(v) if f.bq_type == "INT64" else float(v)) for v in values]
    return pa.table(columns)


def test_gcp_batch_scoring_requests(world: ServingWorld, gcp: Settings) -> None:
    staged: dict[str, Any] = {}

    def download(filename: str, timeout: Any = None) -> None:
        name = filename.rsplit("/", 1)[-1]
        shutil.copy(world.model_dirs["1"] / name, filename)

    def load(buffer: io.BytesIO, table: str, job_config: bigquery.LoadJobConfig) -> mock.Mock:
        staged.update(table=table, config=job_config, rows=pq.read_table(buffer))
        return mock.Mock()

    with (
        mock.patch("google.cloud.aiplatform_v1.ModelServiceClient") as models,
        mock.patch("google.cloud.storage.Client") as storage,
        mock.patch("airflow.providers.google.cloud.hooks.bigquery.Client") as bq,
    ):
        models.return_value.list_models.return_value = [aiplatform_v1.Model(name=MODEL)]
        models.return_value.get_model.return_value = aiplatform_v1.Model(
            name=MODEL, version_id="3", artifact_uri="gs://fraud-models/fraud-detector/3",
            version_aliases=["champion"],
        )  # fmt: skip
        blob = storage.return_value.bucket.return_value.blob
        storage.return_value.bucket.return_value.name = "fraud-models"
        blob.return_value.download_to_filename.side_effect = download
        bq.return_value.query.return_value.to_arrow.return_value = _latest_features(world)
        bq.return_value.load_table_from_file.side_effect = load

        summary = score_latest_features(gcp, scored_at=datetime(2026, 11, 22, 4, tzinfo=UTC))

    models.return_value.list_models.assert_called_once_with(
        request=aiplatform_v1.ListModelsRequest(
            parent=f"projects/{PROJECT}/locations/{REGION}", filter='display_name="fraud-detector"'
        )
    )
    models.return_value.get_model.assert_called_once_with(name=f"{MODEL}@champion")
    storage.return_value.bucket.assert_called_with("fraud-models", user_project=None)
    assert sorted(c.kwargs["blob_name"] for c in blob.call_args_list) == [
        "fraud-detector/3/metadata.json",
        "fraud-detector/3/model.joblib",
    ]
    (sql,) = bq.return_value.query.call_args.args
    assert "SELECT\n  card_pseudonym,\n  UNIX_MICROS(event_time) AS event_time_us," in sql
    assert f"FROM `{PROJECT}.fraud.latest_card_features`" in sql
    assert all(f"CAST({n} AS " in sql for n in FEATURE_NAMES)
    assert bq.call_args.kwargs["project"] == PROJECT and bq.call_args.kwargs["location"] == "EU"

    assert staged["table"] == f"{PROJECT}.fraud.card_predictions_staging"
    assert staged["config"].source_format == bigquery.SourceFormat.PARQUET
    assert staged["config"].write_disposition == bigquery.WriteDisposition.WRITE_TRUNCATE
    rows = staged["rows"].to_pylist()
    assert len(rows) == len(world.cards) == summary["cards_scored"]
    by_key = {r[ENTITY_KEY]: r for r in rows}
    card = world.cards[5]
    row = by_key[world.pseudonymise(card)]
    assert row["score"] == world.expected_probability("1", card)
    assert (row["model_name"], row["model_version"], row["threshold"]) == ("fraud-detector", "3", 0.35)
    assert row["feature_timestamp"] == world.timestamps[card]


def test_gcp_dag_replaces_the_run_with_a_bigquery_job(gcp: Settings) -> None:
    from airflow.dag_processing.dagbag import DagBag

    from fraud_mlops.settings import REPO_ROOT

    bag = DagBag(dag_folder=str(REPO_ROOT / "dags" / "fraud_batch_scoring.py"))
    assert bag.import_errors == {}
    dag = bag.dags["fraud_batch_scoring"]
    task: Any = dag.get_task("replace_run_predictions")
    assert type(task).__name__ == "BigQueryInsertJobOperator"
    query = task.configuration["query"]
    assert query["queryParameters"] == [
        {"name": "run_id", "parameterType": {"type": "STRING"}, "parameterValue": {"value": "{{ run_id }}"}}
    ]
    rendered = dag.get_template_env().from_string(query["query"]).render(**(dag.user_defined_macros or {}))
    assert f"DELETE FROM `{PROJECT}.fraud.card_predictions` WHERE scoring_run_id = @run_id" in rendered
    assert f"FROM `{PROJECT}.fraud.card_predictions_staging`" in rendered
    assert [t.task_id for t in dag.topological_sort()] == ["score_latest_features", "replace_run_predictions"]
