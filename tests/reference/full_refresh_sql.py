"""The full-refresh transform this project ran before it became incremental: the reference.

``full_refresh/20_staging.sql``, ``30_card_features.sql`` and ``40_training_examples.sql``
rebuild staging, rejects, card features, the latest-features view and the training table from
all of raw (``CREATE OR REPLACE``). The equivalence test compares the incremental tables with
them; ``bench/bench_incremental.py`` times them on the same history.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import jinja2

from fraud_mlops.paths import sql_dir
from fraud_mlops.settings import Settings
from fraud_mlops.sql_templates import template_context

REFERENCE_DIR = Path(__file__).resolve().parent / "full_refresh"
REFERENCE_STEPS = ("20_staging.sql", "30_card_features.sql", "40_training_examples.sql")


def reference_sql(settings: Settings) -> list[str]:
    """The three steps rendered (macros such as the Luhn check come from include/sql/)."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader([str(REFERENCE_DIR), str(sql_dir())]),
        undefined=jinja2.StrictUndefined,
        autoescape=False,
    )
    context = template_context(settings)
    return [env.get_template(step).render(**context) for step in REFERENCE_STEPS]


def copy_raw(source: Path, target: Path, raw_dataset: str) -> None:
    """A fresh database holding ``source``'s raw rows and rejected lines (what the reference reads)."""
    target.unlink(missing_ok=True)
    conn = duckdb.connect(str(target))
    try:
        conn.execute(f"ATTACH '{source}' AS incremental (READ_ONLY)")
        conn.execute(f"CREATE SCHEMA {raw_dataset}")
        conn.execute("CREATE SCHEMA fraud")
        conn.execute(
            f"CREATE TABLE {raw_dataset}.raw_transactions AS SELECT * FROM incremental.{raw_dataset}.raw_transactions"
        )
        for table in ("rejected_lines", "ingestion_log"):
            conn.execute(f"CREATE TABLE fraud.{table} AS SELECT * FROM incremental.fraud.{table}")
    finally:
        conn.close()
