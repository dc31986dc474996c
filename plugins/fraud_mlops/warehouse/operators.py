"""``DuckDBExecuteQueryOperator`` running BigQuery SQL: the local twin of BigQueryInsertJobOperator."""

from __future__ import annotations

from typing import ClassVar

from airflow.providers.duckdb.operators.duckdb import DuckDBExecuteQueryOperator

from fraud_mlops.warehouse.hook import BigQueryDialectDuckDBHook


class BigQuerySQLOnDuckDBOperator(DuckDBExecuteQueryOperator):
    """Run a BigQuery-dialect ``.sql`` template on the local DuckDB warehouse.

    The provider's operator picks the hook from the connection type (plain ``duckdb``), which
    would skip transpilation; this one always uses :class:`BigQueryDialectDuckDBHook` and
    keeps the connection only for its settings (database path, limits, snapshot folder).
    """

    ui_color = "#c5e1f5"
    hook_class: ClassVar[type[BigQueryDialectDuckDBHook]] = BigQueryDialectDuckDBHook  # type: ignore[assignment]

    def get_db_hook(self) -> BigQueryDialectDuckDBHook:
        hook_params = dict(self.hook_params)
        if self.database:
            hook_params["database"] = self.database
        return BigQueryDialectDuckDBHook(duckdb_conn_id=self.conn_id, **hook_params)
