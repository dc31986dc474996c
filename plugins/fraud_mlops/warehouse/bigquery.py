"""The warehouse on Google Cloud: BigQuery through the Google provider's hook and operators.

Queries from Python go through ``BigQueryHook.get_client`` (the provider's credentials and
connection), tasks through ``BigQueryInsertJobOperator``, with job configurations built by
:mod:`.bigquery_jobs` (pure functions the tests compare request for request). Provider modules
are imported inside methods: DAG files build these tasks at parse time and must stay cheap.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from fraud_mlops.settings import Settings
from fraud_mlops.warehouse.base import RefusedFiles, Row

if TYPE_CHECKING:
    import pyarrow as pa

LABELS = {"app": "fraud-mlops"}


class BigQueryWarehouse:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @property
    def pool(self) -> str:
        return self.settings.warehouse_pool

    def client(self) -> Any:
        from airflow.providers.google.cloud.hooks.bigquery import BigQueryHook

        s = self.settings
        hook = BigQueryHook(gcp_conn_id=s.gcp_conn_id, use_legacy_sql=False, location=s.bq_location)
        return hook.get_client(project_id=s.project, location=s.bq_location)

    def _job_config(
        self, parameters: Mapping[str, str] | None, labels: Mapping[str, str] | None = None
    ) -> Any:
        from google.cloud import bigquery

        return bigquery.QueryJobConfig(
            query_parameters=[
                bigquery.ScalarQueryParameter(k, "STRING", v) for k, v in (parameters or {}).items()
            ],
            labels={**LABELS, **(labels or {})},
        )

    def records(self, sql: str, parameters: Mapping[str, str] | None = None) -> list[Row]:
        job = self.client().query(sql, job_config=self._job_config(parameters))
        return [tuple(row.values()) for row in job.result()]

    def execute(
        self,
        sql: str,
        parameters: Mapping[str, str] | None = None,
        *,
        labels: Mapping[str, str] | None = None,
    ) -> None:
        job = self.client().query(
            sql, job_config=self._job_config(parameters, labels), location=self.settings.bq_location
        )
        job.result()

    def read_arrow(self, sql: str) -> pa.Table:
        """The query's rows through ``getQueryResults`` pages (REST), not the Storage Read API.

        Left to itself, the client reads every query's results through a Storage Read session
        on the job's anonymous destination table, however few the rows: its first
        ``getQueryResults`` asks for none (``maxResults=0``). That session is created in the
        project (``bigquery.readsessions.create``), which this account (Composer's, running every
        DAG) is not granted. The reads here are bounded (monitoring: at most 50,000 served rows
        and a 20,000-row training sample), so 10 MB pages cost seconds; the pipeline, which
        reads whole snapshots, has the grant and its own Storage Read client.
        """
        job = self.client().query(sql, job_config=self._job_config(None))
        return job.to_arrow(create_bqstorage_client=False)

    def row_count(self, table: str) -> int:
        """``tables.get``'s ``numRows``: no query, no bytes billed (``bigquery.tables.get``)."""
        s = self.settings
        return int(self.client().get_table(f"{s.project}.{s.dataset}.{table}").num_rows or 0)

    def table_exists(self, table_id: str) -> bool:
        """``tables.get`` (``bigquery.tables.get``): no query, no bytes billed.

        A missing dataset is not a missing table: it raises, so a wrong dataset name fails loudly.
        """
        from google.api_core.exceptions import NotFound

        client = self.client()
        dataset_id = table_id.rsplit(".", 1)[0]
        client.get_dataset(dataset_id)
        try:
            client.get_table(table_id)
        except NotFound:
            return False
        return True

    def replace_table(self, table: str, rows: pa.Table) -> None:
        """A Parquet load job with ``WRITE_TRUNCATE``: the table is replaced atomically."""
        import io

        import pyarrow.parquet as pq
        from google.cloud import bigquery

        buffer = io.BytesIO()
        pq.write_table(rows, buffer)
        buffer.seek(0)
        s = self.settings
        job = self.client().load_table_from_file(
            buffer,
            f"{s.project}.{s.dataset}.{table}",
            job_config=bigquery.LoadJobConfig(
                source_format=bigquery.SourceFormat.PARQUET,
                write_disposition=bigquery.WriteDisposition.WRITE_TRUNCATE,
                labels=LABELS,
            ),
        )
        job.result()

    def snapshot_uri(self, snapshot: str) -> str:
        return f"bq://{self.settings.project}.{self.settings.snapshot_dataset}.{snapshot}"

    def drop_leftover_load_tables(self) -> list[str]:
        """``tables.list`` of the two datasets (``bigquery.tables.list``: names only, no query,
        nothing billed), then ``tables.delete`` of each per-file table (``bigquery.tables.delete``)."""
        from fraud_mlops.landing_schema import LOAD_TABLE_PREFIX, REJECT_TABLE_PREFIX

        s = self.settings
        client = self.client()
        dropped = []
        for dataset, prefix in ((s.raw_dataset, LOAD_TABLE_PREFIX), (s.dataset, REJECT_TABLE_PREFIX)):
            # every page first: what a page token means once tables are deleted is not documented
            names = [t.table_id for t in client.list_tables(f"{s.project}.{dataset}")]
            for name in (n for n in names if n.startswith(prefix)):
                client.delete_table(f"{s.project}.{dataset}.{name}", not_found_ok=True)
                dropped.append(f"{dataset}.{name}")
        return dropped

    def _operator_kwargs(self) -> dict[str, Any]:
        """What every ``BigQueryInsertJobOperator`` of the DAGs is built with.

        ``durable=False``: on Airflow 3.3 the operator otherwise keeps its job id in the task
        state store and, when the task runs again after that job succeeded, returns without
        submitting anything ("On retry with succeeded job: skips submission and polling",
        ``airflow/sdk/bases/resumablejobmixin.py``). Clearing a task does not remove the id and
        ``[state_store] clear_on_success`` is off by default, so a cleared task (re-running a
        batch scoring, a monitoring step) would report success without running. Every statement
        here is safe to run again, which is all a fresh submission on retry needs.
        """
        s = self.settings
        return {
            "project_id": s.project,
            "location": s.bq_location,
            "gcp_conn_id": s.gcp_conn_id,
            "durable": False,
        }

    def sql_operator(
        self,
        task_id: str,
        sql_file: str,
        *,
        parameters: Mapping[str, str] | None = None,
        variables: Mapping[str, str] | None = None,
        outlets: Sequence[Any] = (),
        doc_md: str | None = None,
    ) -> Any:
        from airflow.providers.google.cloud.operators.bigquery import BigQueryInsertJobOperator

        from fraud_mlops.warehouse.base import sql_template
        from fraud_mlops.warehouse.bigquery_jobs import query_parameters

        query: dict[str, Any] = {"query": sql_template(sql_file, variables), "useLegacySql": False}
        if parameters:
            query["queryParameters"] = query_parameters(dict(parameters))
        return BigQueryInsertJobOperator(
            task_id=task_id,
            configuration={"query": query, "labels": dict(LABELS)},
            outlets=list(outlets),
            doc_md=doc_md,
            **self._operator_kwargs(),
        )

    def hook(self) -> Any:
        from airflow.providers.google.cloud.hooks.bigquery import BigQueryHook

        s = self.settings
        return BigQueryHook(gcp_conn_id=s.gcp_conn_id, use_legacy_sql=False, location=s.bq_location)

    def load_file(self, file: dict[str, Any]) -> dict[str, Any]:
        """Run one file's load job to completion; report the lines BigQuery skipped.

        ``maxBadRecords`` lets BigQuery skip the lines validation found unparseable; what it
        skipped is read back from the job resource (``status.errors``, reported by BigQuery only
        in part) and the job must have loaded every other row.
        """
        from google.api_core.exceptions import BadRequest

        from fraud_mlops.landing_schema import LandedFile, LoadRefused
        from fraud_mlops.storage import gcs_hook, require_generation
        from fraud_mlops.warehouse.bigquery_jobs import load_job_configuration, load_job_report, load_refusal

        s = self.settings
        landed = LandedFile.from_xcom(file)
        try:
            try:
                job = self.hook().insert_job(
                    configuration=load_job_configuration(file, s),
                    project_id=s.project,
                    location=s.bq_location,
                )
            except BadRequest as error:
                refused = load_refusal(error, file)
                if refused is None:
                    raise
                raise refused from None  # the client's message may quote a field: not chained
            report = load_job_report(job, file)
            # the job read the object by name: still the generation validation read?
            require_generation(gcs_hook(s), landed.uri, landed.generation)
        except Exception as failure:
            # the load table holds the file's rows, card numbers in clear, in a dataset whose
            # expiry is by partition: no append will drop it, and no later load is named like it
            self.client().delete_table(f"{s.project}.{s.raw_dataset}.{landed.load_table}", not_found_ok=True)
            if isinstance(failure, LoadRefused) and landed.reject_table:
                # nor the append of a refused file, whose bad lines validation recorded (a retry
                # of another failure needs them: kept)
                self.client().delete_table(
                    f"{s.project}.{s.dataset}.{landed.reject_table}", not_found_ok=True
                )
            raise
        return report

    def load_file_operator(self, files: Any, refused_files: RefusedFiles) -> Any:
        from airflow.sdk import task

        @task(map_index_template="{{ file['name'] }}", multiple_outputs=False)
        def load_raw_file(file: dict[str, Any], **context: Any) -> dict[str, Any]:
            """BigQuery load job: landed CSV (plain or gzip) → its load table; skipped lines recorded."""
            from fraud_mlops.landing_schema import LoadRefused

            if (earlier := refused_files.quarantined_earlier(file, context)) is not None:
                return earlier
            try:
                report = self.load_file(file)
            except LoadRefused as refused:
                return refused_files.quarantine(file, refused, context)
            print(f"loaded {report['output_rows']} rows of {file['uri']} (job {report['job_id']})")
            for error in report["skipped"]:
                print(f"  BigQuery skipped: {error}")
            return {**file, "loaded_rows": report["output_rows"], "load_job_id": report["job_id"]}

        return load_raw_file.expand(file=files)

    def append_file_operator(self, files: Any, outlets: Sequence[Any] = ()) -> Any:
        from airflow.providers.google.cloud.operators.bigquery import BigQueryInsertJobOperator

        from fraud_mlops.warehouse.bigquery_jobs import append_raw_job_configuration

        return BigQueryInsertJobOperator.partial(
            task_id="append_raw_file",
            outlets=list(outlets),
            max_active_tis_per_dagrun=1,  # the once-by-content guard (Warehouse.append_file_operator)
            **self._operator_kwargs(),
        ).expand(configuration=files.map(append_raw_job_configuration))
