"""The fraud-ops reporting views (``include/sql/87_reporting_views.sql``) and what they may read.

Some views read tables that ingestion publishes (training examples, rejected rows). Their schema
is the candidates' (``55_publish.sql`` creates them from the checked candidates), so the
reporting SQL must never declare them itself: an empty stand-in with other columns would make
the first publish fail. Their views are created once the tables exist.
"""

from __future__ import annotations

from typing import Any

from fraud_mlops.features import TRAINING_TABLE
from fraud_mlops.settings import Settings
from fraud_mlops.sql_templates import render_sql
from fraud_mlops.warehouse.base import Warehouse

REPORTING_SQL = "87_reporting_views.sql"
#: Published by ingestion; the views over them wait for their first publish.
INGESTION_TABLES = (TRAINING_TABLE, "rejected_rows")


def published_tables(warehouse: Warehouse, settings: Settings) -> dict[str, bool]:
    """Which ingestion tables exist in the curated dataset (a zero-row read of each)."""
    found = {}
    for table in INGESTION_TABLES:
        try:
            warehouse.records(render_sql("76_table_exists.sql", settings, table=table))
            found[table] = True
        except Exception:
            found[table] = False
    return found


def refresh_reporting_views(warehouse: Warehouse, settings: Settings) -> dict[str, Any]:
    """Create or replace every reporting view the warehouse's tables allow; says which."""
    published = published_tables(warehouse, settings)
    warehouse.execute(render_sql(REPORTING_SQL, settings, published=published))
    return published
