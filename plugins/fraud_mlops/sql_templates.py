"""Rendering the BigQuery SQL in ``include/sql/``: the names and macros the templates use.

The same Jinja context serves Airflow (as the DAGs' ``user_defined_macros``, rendered by
Airflow's own templating on both targets) and direct rendering in tests and per-file jobs
(:func:`render_sql`). The only differences between targets are values (``dataset`` is
``project.dataset`` on BigQuery, a schema name on DuckDB), never the SQL.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any, Protocol

from fraud_mlops import features
from fraud_mlops.landing_schema import LANDING_COLUMNS, MAX_AMOUNT
from fraud_mlops.paths import sql_dir
from fraud_mlops.pseudonym import HmacPads, hmac_pads
from fraud_mlops.settings import Settings

#: Data-quality bounds of 50_quality_checks.sql (documented in docs/data_quality.md).
DQ_BOUNDS: dict[str, float] = {
    "min_rows": 1000,
    "max_first_txn_share": 0.25,
    "min_label_rate": 0.0005,
    "max_label_rate": 0.2,
    "max_reject_rate": 0.05,
}

#: The longest look-back of a windowed card feature (7 days, 30_card_features.sql): an increment
#: recomputes features from this far before its earliest new transaction.
WIDEST_WINDOW_SECONDS = 7 * 24 * 3600

SQL_FILES = {
    "setup": "00_setup.sql",
    "append_raw": "10_append_raw.sql",
    "increment_files": "15_increment_files.sql",
    "increment_event_from": "16_increment_event_from.sql",
    "staging": "20_staging.sql",
    "card_features": "30_card_features.sql",
    "training_examples": "40_training_examples.sql",
    "quality_checks": "50_quality_checks.sql",
    "snapshot": "60_snapshot.sql",
    "card_predictions": "80_card_predictions.sql",
}


class DagRunLike(Protocol):
    dag_id: str
    run_id: str
    run_after: Any


def snapshot_name(dag_run: DagRunLike) -> str:
    """``training_snapshot_<run time>_<hash of dag+run id>``: stable across reruns of a run."""
    stamp = dag_run.run_after.strftime("%Y%m%dT%H%M%S")
    digest = hashlib.sha1(f"{dag_run.dag_id}:{dag_run.run_id}".encode()).hexdigest()[:8]
    return f"training_snapshot_{stamp}_{digest}"


def template_context(settings: Settings) -> dict[str, Any]:
    return {
        "dataset": settings.dataset_ref,
        "landing_columns": LANDING_COLUMNS,
        "v_components": features.V_COMPONENTS,
        "max_amount": MAX_AMOUNT,
        "snapshot_ttl_days": settings.snapshot_ttl_days,
        "dq": DQ_BOUNDS,
        "snapshot_name": snapshot_name,
        "typed_features": [(f.name, f.bq_type) for f in features.FEATURES],
        "widest_window_seconds": WIDEST_WINDOW_SECONDS,
        **features.sql_context(),
    }


def airflow_hmac_pads(conn_id: str) -> Callable[[], HmacPads]:
    """Macro reading the key from an Airflow connection (Secret Manager backend on Composer).

    The derived pads are registered with Airflow's secrets masker, so they show as ``***``
    in logs and in the UI's rendered-template view.
    """

    def _pads() -> HmacPads:
        from airflow.sdk import BaseHook
        from airflow.sdk.log import mask_secret

        key = BaseHook.get_connection(conn_id).password
        if not key:
            raise ValueError(f"connection {conn_id!r} has no password: the pseudonymisation key is missing")
        pads = hmac_pads(key.encode())
        mask_secret(pads.ipad_hex)
        mask_secret(pads.opad_hex)
        return pads

    return _pads


def airflow_macros(settings: Settings) -> dict[str, Any]:
    """``user_defined_macros`` of every DAG that runs the project's SQL."""
    return {**template_context(settings), "hmac_pads": airflow_hmac_pads(settings.pseudonym_conn_id)}


def render_sql(name: str, settings: Settings, *, key: bytes | None = None, **extra: Any) -> str:
    """Render ``include/sql/<name>`` outside Airflow (tests, per-file jobs)."""
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(sql_dir())),
        undefined=jinja2.StrictUndefined,
        autoescape=False,  # SQL, not HTML
    )
    context = template_context(settings)
    if key is not None:
        pads = hmac_pads(key)
        context["hmac_pads"] = lambda: pads
    context.update(extra)
    return env.get_template(name).render(**context)
