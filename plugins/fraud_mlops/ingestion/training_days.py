"""Keeping ``training_day_counts`` in step with ``training_examples`` in a warehouse that predates it.

The table-wide quality checks read the training table's per-day counts, which publishing keeps
(``macros/training_day_counts.sql``). A warehouse filled before those counts existed has rows
and no counts, and its first run would fail ``dq_day_counts``. The transform's planning step
compares the two totals first (the day counts' sum, a small table, and the training table's
``COUNT(*)``, which reads no column on BigQuery) and, only when there are training rows and no
counts at all, counts every day once, logging why. Any other difference is drift that
``dq_day_counts`` fails the run on: healing it here would hide the bug behind it. Both targets
run the same SQL.
"""

from __future__ import annotations

from fraud_mlops.settings import Settings
from fraud_mlops.sql_templates import SQL_FILES, render_sql
from fraud_mlops.warehouse.base import Warehouse


def ensure_day_counts(warehouse: Warehouse, settings: Settings) -> str | None:
    """Count every training day if the table has rows and no day counts; what was done, if anything."""
    ((counted, rows),) = warehouse.records(render_sql(SQL_FILES["training_day_totals"], settings))
    if int(counted) != 0 or int(rows) == 0:
        return None
    warehouse.execute(render_sql(SQL_FILES["recount_training_days"], settings))
    return (
        f"training_day_counts added up to {int(counted):,} of training_examples' {int(rows):,} rows "
        "(a warehouse filled before the day counts existed): every day counted again"
    )
