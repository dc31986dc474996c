"""What the ``*_probe.py`` modules share, inside their subprocess (tests/airflow_probes.py starts them).

``test_dag`` runs one DAG file's DAG under ``dag.test()``, ``links`` reads a finished task's
console links as Airflow's API server does, ``vertex_feature_store`` patches Vertex's
feature-store admin client at its class with a sync that is done by the first poke, and
``vertex_online_store`` its online-serving clients, keeping an erased card's record or not.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from unittest import mock


def test_dag(
    dag_file: Path, dag_id: str, run_conf: dict[str, Any] | None = None, retried: tuple[str, ...] = ()
) -> tuple[Any, Any]:
    """``(dag, run)`` of one ``dag.test()`` run; retries off, so a failure shows at once, except
    for the ``retried`` tasks: one retry each, at once."""
    from datetime import timedelta

    from airflow.dag_processing.dagbag import DagBag
    from airflow.sdk.exceptions import ParamValidationError

    bag = DagBag(dag_folder=str(dag_file))
    assert not bag.import_errors, bag.import_errors
    dag = bag.get_dag(dag_id)
    for task in dag.tasks:
        task.retries = 1 if task.task_id in retried else 0
        task.retry_delay = timedelta(0)
    try:
        return dag, dag.test(run_conf=run_conf)
    except ParamValidationError:
        # Airflow 3.3.2's dag.test() runs a failed run's DAG callbacks itself, with the
        # serialized DAG: its tasks' SerializedParams are no sdk Params, so ParamsDict validates
        # them as values and a required Param without a default (fraud_erase_card's
        # card_number) fails, after the run is marked failed. A deployment's DAG processor runs
        # them with the parsed DAG (dag_processing/processor.py, _execute_dag_callbacks). The
        # task instances' states are kept; the run's "failed" was not committed.
        from airflow.models.dagrun import DagRun

        (run,) = DagRun.find(dag_id=dag_id)
        return dag, run


test_dag.__test__ = False  # type: ignore[attr-defined]  # not a pytest test


def links(dag: Any, ti: Any) -> dict[str, str]:
    """A finished task's extra links by name, read from the serialized DAG for its task instance
    (the API server's ``task.get_extra_links(ti, name)``, routes/public/extra_links.py)."""
    from airflow.serialization.serialized_objects import DagSerialization

    task = DagSerialization.from_dict(DagSerialization.to_dict(dag)).get_task(ti.task_id)
    return {name: task.get_extra_links(ti, name) for name in sorted(task.extra_links)}


def finished_sync(name: str) -> Any:
    """Vertex's answer for the feature-view sync ``name``, finished: the real message type."""
    from google.cloud import aiplatform_v1beta1 as v1beta1
    from google.protobuf.timestamp_pb2 import Timestamp
    from google.rpc.status_pb2 import Status
    from google.type.interval_pb2 import Interval

    return v1beta1.FeatureViewSync(
        name=name,
        run_time=Interval(
            start_time=Timestamp(seconds=1_796_000_000), end_time=Timestamp(seconds=1_796_000_090)
        ),
        final_status=Status(code=0),
        sync_summary=v1beta1.FeatureViewSync.SyncSummary(row_synced=11995, total_slot=3),
    )


@contextmanager
def vertex_feature_store(sync_name: str) -> Iterator[mock.MagicMock]:
    """The admin client class patched: a sync started is ``sync_name``, finished at once."""
    from google.cloud import aiplatform_v1beta1 as v1beta1

    with mock.patch("google.cloud.aiplatform_v1beta1.FeatureOnlineStoreAdminServiceClient") as admin:
        admin.return_value.sync_feature_view.return_value = v1beta1.SyncFeatureViewResponse(
            feature_view_sync=sync_name
        )
        admin.return_value.get_feature_view_sync.return_value = finished_sync(sync_name)
        yield admin.return_value


@contextmanager
def gcs_emulator() -> Iterator[str]:
    """gcp-storage-emulator in memory in this process; ``STORAGE_EMULATOR_HOST`` points at it, so
    the provider's GCSHook and google-cloud-storage use it. Stopped whatever happens."""
    import os

    from gcp_storage_emulator.server import create_server

    from devtools.stack.config import HOST, free_port

    port = free_port()
    server = create_server(HOST, port, in_memory=True)
    server.start()
    try:
        os.environ["STORAGE_EMULATOR_HOST"] = f"http://{HOST}:{port}"
        yield os.environ["STORAGE_EMULATOR_HOST"]
    finally:
        server.stop()


def landing_buckets(settings: Any) -> Any:
    """The landing and quarantine buckets, made on the emulator ``gcs_emulator`` runs; returns
    the landing bucket."""
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    gcs = storage.Client(project="fraud-prj", credentials=AnonymousCredentials())
    gcs.create_bucket(settings.quarantine_bucket)
    return gcs.create_bucket(settings.landing_bucket)


def a_days_file(directory: Path, rows: int = 3_000, seed: int = 3, name: str = "day1.csv") -> Path:
    """A landing CSV of ``rows`` generated rows (3,000 by default: the quality checks want 1,000
    training rows and some fraud); another ``seed`` gives other transactions."""
    from devtools.generator.files import write_landing_csv
    from devtools.generator.synth import GeneratorConfig, generate

    landing = generate(GeneratorConfig(rows=rows, fraud_rate=0.01, seed=seed)).landing
    return write_landing_csv(landing, directory / name, show_progress=False)


def transform_lease_row(settings: Any, now: Any) -> Any:
    """The transform lease's one row (seeded by 00_setup.sql) as BigQuery keeps it between jobs:
    an answer function for FakeBigQueryREST that applies the claim (13) and release (14) as their
    ``UPDATE``s would and answers the holder query (12); ``None`` for every other query."""
    from fraud_mlops.sql_templates import SQL_FILES, render_sql

    sql = {
        name: render_sql(SQL_FILES[name], settings)
        for name in ("lease_holder", "lease_acquire", "lease_release")
    }
    lease: list[tuple[str, str] | None] = [None]
    fields = [
        {"name": name, "type": kind, "mode": "NULLABLE"}
        for name, kind in (
            ("holder_dag_id", "STRING"),
            ("holder_run_id", "STRING"),
            ("claimed_at", "TIMESTAMP"),
        )
    ]

    def answer(query: dict[str, Any]) -> Any:
        parameters = {p["name"]: p["parameterValue"]["value"] for p in query.get("queryParameters", [])}
        run = (parameters.get("dag_id"), parameters.get("run_id"))
        stale = (parameters.get("stale_dag_id"), parameters.get("stale_run_id"))
        if query["query"] == sql["lease_acquire"] and lease[0] in (None, run, stale):
            lease[0] = run  # type: ignore[assignment]
        if query["query"] == sql["lease_release"] and lease[0] == run:
            lease[0] = None
        if query["query"] != sql["lease_holder"]:
            return None
        held = lease[0]
        return fields, [(held[0], held[1], int(now.timestamp() * 1_000_000)) if held else (None, None, None)]

    return answer


def reschedules() -> int:
    """Task reschedules recorded in Airflow's metadata DB (a sensor in reschedule mode that
    found its condition false)."""
    from airflow.models.taskreschedule import TaskReschedule
    from airflow.utils.session import create_session
    from sqlalchemy import func, select

    with create_session() as session:
        return int(session.scalar(select(func.count()).select_from(TaskReschedule)) or 0)


def hold_lease_as_running_run(warehouse: Any, settings: Any, dag_id: str, run_id: str) -> None:
    """The transform lease held by ``dag_id``/``run_id``, a DAG run Airflow's metadata DB has in
    state ``running``: another DAG's run in flight, as a claiming sensor sees it."""
    from datetime import UTC, datetime

    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session
    from airflow.utils.state import DagRunState
    from airflow.utils.types import DagRunTriggeredByType, DagRunType

    from fraud_mlops.ingestion.transform_lease import Holder, claim

    assert claim(warehouse, settings, Holder(dag_id, run_id), lambda h: True) is None
    with create_session() as session:
        session.add(
            DagRun(
                dag_id=dag_id, run_id=run_id, run_type=DagRunType.MANUAL, state=DagRunState.RUNNING,
                run_after=datetime.now(UTC), triggered_by=DagRunTriggeredByType.TEST,
            )
        )  # fmt: skip


def lease_test_dag(dag_id: str) -> Any:
    """``dag_id`` from its file, as the lease probes run it: retries off, so a failure shows at
    once, and the lease's claim poked every second."""
    from airflow.dag_processing.dagbag import DagBag

    from fraud_mlops.settings import REPO_ROOT

    bag = DagBag(dag_folder=str(REPO_ROOT / "dags" / f"{dag_id}.py"))
    assert not bag.import_errors, bag.import_errors
    dag = bag.get_dag(dag_id)
    for task in dag.tasks:
        task.retries = 0
    dag.get_task("acquire_transform_lease").poke_interval = 1
    return dag


#: What BigQuery answers ``78_card_pseudonym.sql`` with in the erasure probes (no real keyset).
ERASED_PSEUDONYM = "9f" * 32


def card_pseudonym_answer(settings: Any, otherwise: Any) -> Any:
    """A FakeBigQueryREST answer function: the card's pseudonym for ``78_card_pseudonym.sql``,
    ``otherwise(query)`` for every other query."""
    from fraud_mlops.sql_templates import SQL_FILES, render_sql

    sql = render_sql(SQL_FILES["card_pseudonym"], settings)
    fields = [{"name": "card_pseudonym", "type": "STRING", "mode": "NULLABLE"}]

    def answer(query: dict[str, Any]) -> Any:
        return (fields, [(ERASED_PSEUDONYM,)]) if query["query"] == sql else otherwise(query)

    return answer


@contextmanager
def vertex_online_store(retained: bool) -> Iterator[mock.MagicMock]:
    """Vertex's online-serving clients patched at their classes (the real message types): the
    erased card's record still served (``retained``: what a Bigtable online store does until
    its feature view is recreated) or ``NOT_FOUND`` for it; the view itself exists."""
    from google.api_core import exceptions
    from google.cloud import aiplatform_v1

    pair = aiplatform_v1.FetchFeatureValuesResponse.FeatureNameValuePairList.FeatureNameValuePair
    record = aiplatform_v1.FetchFeatureValuesResponse(
        key_values=aiplatform_v1.FetchFeatureValuesResponse.FeatureNameValuePairList(
            features=[
                pair(name="txn_count_24h", value=aiplatform_v1.FeatureValue(int64_value=3)),
                pair(
                    name="feature_timestamp",
                    value=aiplatform_v1.FeatureValue(int64_value=1_796_000_000_000_000),
                ),
            ]
        )
    )
    with (
        mock.patch("google.cloud.aiplatform_v1.FeatureOnlineStoreServiceClient") as serving,
        mock.patch("google.cloud.aiplatform_v1.FeatureOnlineStoreAdminServiceClient") as admin,
    ):
        if retained:
            serving.return_value.fetch_feature_values.return_value = record
        else:
            serving.return_value.fetch_feature_values.side_effect = exceptions.NotFound("entity not found")
        admin.return_value.get_feature_view.return_value = aiplatform_v1.FeatureView(name="card_features")
        yield serving.return_value
