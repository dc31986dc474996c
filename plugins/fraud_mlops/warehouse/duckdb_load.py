"""The local stand-in for a BigQuery load job: landed CSV (from the GCS emulator) → DuckDB.

Same contract as :func:`fraud_mlops.warehouse.bigquery_jobs.load_job_configuration`: every
landing column as a string, header skipped, the file's load table replaced.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from fraud_mlops.landing_schema import LANDING_COLUMNS, LandedFile
from fraud_mlops.settings import Settings


def load_csv_into_table(conn: Any, path: Path, schema: str, table: str) -> int:
    """Replace ``schema.table`` with the CSV at ``path``: every landing column as a string."""
    columns = ", ".join(f"'{c}': 'VARCHAR'" for c in LANDING_COLUMNS)
    conn.execute(
        f'CREATE OR REPLACE TABLE "{schema}"."{table}" AS '
        f"SELECT * FROM read_csv(?, header = true, columns = {{{columns}}}, "
        "quote = '\"', escape = '\"', strict_mode = true)",
        [str(path)],
    )
    (rows,) = conn.execute(f'SELECT COUNT(*) FROM "{schema}"."{table}"').fetchone()
    return int(rows)


def load_into_warehouse(file: dict[str, Any], settings: Settings) -> int:
    from fraud_mlops.storage import gcs_hook
    from fraud_mlops.warehouse.hook import BigQueryDialectDuckDBHook

    landed = LandedFile.from_xcom(file)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / landed.base_name
        gcs_hook(settings).download(landed.bucket, landed.name, filename=str(path))
        conn = BigQueryDialectDuckDBHook(duckdb_conn_id=settings.warehouse_conn_id).get_conn()
        try:
            return load_csv_into_table(conn, path, settings.raw_dataset, landed.load_table)
        finally:
            conn.close()
