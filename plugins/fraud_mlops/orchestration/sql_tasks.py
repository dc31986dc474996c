"""One SQL step, two targets: ``BigQueryInsertJobOperator`` on gcp, DuckDB locally.

Both run the same file from ``include/sql/``, rendered by Airflow's templating with the same
macros; only the operator differs. Provider modules are imported here, per target, so a local
DAG never pays for the BigQuery operators' import (about 2.7 s) at parse time.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fraud_mlops.settings import Settings


def bigquery_parameters_template(parameters: dict[str, str]) -> list[dict[str, Any]]:
    from fraud_mlops.ingestion.bigquery_jobs import query_parameters

    return query_parameters(parameters)


def sql_task(
    task_id: str,
    sql_file: str,
    settings: Settings,
    *,
    parameters: dict[str, str] | None = None,
    outlets: Sequence[Any] = (),
    doc_md: str | None = None,
) -> Any:
    """An operator running ``include/sql/<sql_file>`` on the active target's warehouse."""
    if settings.is_local:
        from fraud_mlops.warehouse.operators import BigQuerySQLOnDuckDBOperator

        return BigQuerySQLOnDuckDBOperator(
            task_id=task_id,
            sql=sql_file,
            parameters=parameters or None,
            conn_id=settings.warehouse_conn_id,
            pool=settings.warehouse_pool,
            outlets=list(outlets),
            do_xcom_push=False,
            doc_md=doc_md,
        )
    from airflow.providers.google.cloud.operators.bigquery import BigQueryInsertJobOperator

    query: dict[str, Any] = {"query": f"{{% include '{sql_file}' %}}", "useLegacySql": False}
    if parameters:
        query["queryParameters"] = bigquery_parameters_template(parameters)
    return BigQueryInsertJobOperator(
        task_id=task_id,
        configuration={"query": query, "labels": {"app": "fraud-mlops"}},
        project_id=settings.project,
        location=settings.bq_location,
        gcp_conn_id=settings.gcp_conn_id,
        outlets=list(outlets),
        doc_md=doc_md,
    )
