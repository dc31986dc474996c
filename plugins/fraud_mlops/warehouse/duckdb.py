"""The warehouse on the local target: DuckDB, speaking the project's BigQuery SQL.

Statements go through :class:`.hook.BigQueryDialectDuckDBHook` (the DuckDB provider's hook plus
transpilation, ``ASSERT`` and snapshots); tasks through :class:`.operators.BigQuerySQLOnDuckDBOperator`.
DuckDB admits one writing process: every task built here runs in the one-slot ``warehouse``
pool, and :meth:`DuckDBWarehouse.read_arrow` opens the file read-only and briefly, so readers
(feature sync, batch scoring) never hold the writers' lock for long.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fraud_mlops.settings import Settings
from fraud_mlops.warehouse.base import RefusedFiles, Row

if TYPE_CHECKING:
    import pyarrow as pa

    from fraud_mlops.warehouse.hook import BigQueryDialectDuckDBHook


class DuckDBWarehouse:
    def __init__(self, settings: Settings, database: Path | None = None) -> None:
        """``database`` overrides the Airflow connection's file (tests, benches without a stack)."""
        self.settings = settings
        self.database = database

    @property
    def pool(self) -> str:
        return self.settings.warehouse_pool

    def hook(self) -> BigQueryDialectDuckDBHook:
        from fraud_mlops.warehouse.hook import BigQueryDialectDuckDBHook

        if self.database is not None:
            return BigQueryDialectDuckDBHook(
                database=str(self.database), snapshot_dir=self.settings.snapshot_dir
            )
        return BigQueryDialectDuckDBHook(duckdb_conn_id=self.settings.warehouse_conn_id)

    @property
    def path(self) -> Path:
        return self.database or self.settings.warehouse_path

    def records(self, sql: str, parameters: Mapping[str, str] | None = None) -> list[Row]:
        return list(self.hook().get_records(sql, parameters))

    def execute(
        self,
        sql: str,
        parameters: Mapping[str, str] | None = None,
        *,
        labels: Mapping[str, str] | None = None,
    ) -> None:
        del labels  # BigQuery job metadata: DuckDB keeps no job history
        self.hook().run(sql, parameters=parameters)

    def read_arrow(self, sql: str) -> pa.Table:
        import duckdb

        from fraud_mlops.warehouse.transpile import transpile_statement

        conn = duckdb.connect(str(self.path), read_only=True)
        try:
            conn.execute("SET TimeZone='UTC'")
            return conn.sql(transpile_statement(sql)).to_arrow_table()
        finally:
            conn.close()

    def row_count(self, table: str) -> int:
        """DuckDB's ``count(*)`` reads no column either, and needs no partition filter."""
        conn = self.hook().get_conn()
        try:
            (count,) = conn.execute(f'SELECT count(*) FROM "{self.settings.dataset}"."{table}"').fetchone()
            return int(count)
        finally:
            conn.close()

    def table_exists(self, table_id: str) -> bool:
        """From DuckDB's catalog; the schema must exist, as BigQuery's dataset must."""
        schema, table = table_id.split(".")[-2:]
        conn = self.hook().get_conn()
        try:
            ((schemas, tables),) = conn.execute(
                "SELECT (SELECT count(*) FROM information_schema.schemata WHERE schema_name = ?), "
                "(SELECT count(*) FROM information_schema.tables WHERE table_schema = ? AND table_name = ?)",
                [schema, schema, table],
            ).fetchall()
        finally:
            conn.close()
        if not schemas:
            raise LookupError(f"no dataset {schema!r} in the local warehouse")
        return bool(tables)

    def replace_table(self, table: str, rows: pa.Table) -> None:
        conn = self.hook().get_conn()
        try:
            conn.register("staged_rows", rows)
            conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{self.settings.dataset}"')
            conn.execute(
                f'CREATE OR REPLACE TABLE "{self.settings.dataset}"."{table}" AS SELECT * FROM staged_rows'
            )
        finally:
            conn.close()

    def snapshot_uri(self, snapshot: str) -> str:
        return str(self.settings.snapshot_dir / f"{snapshot}.parquet")

    def drop_leftover_load_tables(self) -> list[str]:
        """From DuckDB's catalog (a local load table is a DuckDB table like any other)."""
        from fraud_mlops.landing_schema import LOAD_TABLE_PREFIX, REJECT_TABLE_PREFIX

        s = self.settings
        conn = self.hook().get_conn()
        try:
            found = conn.execute(
                "SELECT table_schema, table_name FROM information_schema.tables "
                "WHERE (table_schema = ? AND starts_with(table_name, ?)) "
                "OR (table_schema = ? AND starts_with(table_name, ?)) ORDER BY 1, 2",
                [s.raw_dataset, LOAD_TABLE_PREFIX, s.dataset, REJECT_TABLE_PREFIX],
            ).fetchall()
            for schema, table in found:
                conn.execute(f'DROP TABLE IF EXISTS "{schema}"."{table}"')
        finally:
            conn.close()
        return [f"{schema}.{table}" for schema, table in found]

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
        from fraud_mlops.warehouse.base import sql_template
        from fraud_mlops.warehouse.operators import BigQuerySQLOnDuckDBOperator

        return BigQuerySQLOnDuckDBOperator(
            task_id=task_id,
            # the file's name (Airflow reads it: template_ext), or the file after its variables
            sql=sql_template(sql_file, variables) if variables else sql_file,
            parameters=dict(parameters) if parameters else None,
            conn_id=self.settings.warehouse_conn_id,
            pool=self.pool,
            outlets=list(outlets),
            do_xcom_push=False,
            doc_md=doc_md,
        )

    def load_file_operator(self, files: Any, refused_files: RefusedFiles) -> Any:
        from airflow.sdk import task

        settings = self.settings

        @task(pool=self.pool, map_index_template="{{ file['name'] }}", multiple_outputs=False)
        def load_raw_file(file: dict[str, Any], **context: Any) -> dict[str, Any]:
            """Local twin of the BigQuery load job: CSV from the GCS emulator into DuckDB."""
            from fraud_mlops.landing_schema import LoadRefused
            from fraud_mlops.warehouse.duckdb_load import load_into_warehouse

            if (earlier := refused_files.quarantined_earlier(file, context)) is not None:
                return earlier
            try:
                rows = load_into_warehouse(file, settings)
            except LoadRefused as refused:
                return refused_files.quarantine(file, refused, context)
            print(f"loaded {rows} rows of {file['uri']} into {settings.raw_dataset}.{file['load_table']}")
            return {**file, "loaded_rows": rows}

        return load_raw_file.expand(file=files)

    def append_file_operator(self, files: Any, outlets: Sequence[Any] = ()) -> Any:
        from fraud_mlops.warehouse.bigquery_jobs import append_raw_local_kwargs
        from fraud_mlops.warehouse.operators import BigQuerySQLOnDuckDBOperator

        return BigQuerySQLOnDuckDBOperator.partial(
            task_id="append_raw_file",
            conn_id=self.settings.warehouse_conn_id,
            pool=self.pool,
            outlets=list(outlets),
            do_xcom_push=False,
            max_active_tis_per_dagrun=1,  # as on BigQuery (Warehouse.append_file_operator); the pool serializes too
        ).expand_kwargs(files.map(append_raw_local_kwargs))
