"""Rendering the BigQuery SQL in ``include/sql/``: the names and macros the templates use.

The same Jinja context serves Airflow (as the DAGs' ``user_defined_macros``, rendered by
Airflow's own templating on both targets) and direct rendering in tests and per-file jobs
(:func:`render_sql`). The only differences between targets are values (``dataset`` is
``project.dataset`` on BigQuery, a schema name on DuckDB), never the SQL.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, Protocol, overload

from fraud_mlops import features
from fraud_mlops.landing_schema import LANDING_COLUMNS, MAX_AMOUNT
from fraud_mlops.paths import sql_dir
from fraud_mlops.pseudonym import AAD, WrappedKeyset, wrapped_keyset
from fraud_mlops.settings import Settings

#: Data-quality bounds of 50_quality_checks.sql (documented in docs/data_quality.md).
DQ_BOUNDS: dict[str, float] = {
    "min_rows": 1000,
    "max_first_txn_share": 0.25,
    "min_label_rate": 0.0005,
    "max_label_rate": 0.2,
    "max_reject_rate": 0.05,
}

#: The longest look-back of a windowed card feature (features.py): an increment recomputes
#: features from this far before its earliest new transaction.
WIDEST_WINDOW_SECONDS = features.WIDEST_WINDOW_SECONDS

#: What a run builds as candidates (the increment: new rows, touched cards) and publishes
#: together once the checks pass (55_publish.sql): touched rows replaced, state tables merged.
PUBLISHED_TABLES = (
    "stg_transactions",
    "rejected_rows",
    features.FEATURES_TABLE,
    features.TRAINING_TABLE,
    features.LATEST_FEATURES_VIEW,
    "card_merchants",
    "transform_log",
)

SQL_FILES = {
    "setup": "00_setup.sql",
    "append_raw": "10_append_raw.sql",
    "lease_holder": "12_lease_holder.sql",
    "lease_acquire": "13_lease_acquire.sql",
    "lease_release": "14_lease_release.sql",
    "increment_files": "15_increment_files.sql",
    "increment_event_from": "16_increment_event_from.sql",
    "training_day_totals": "17_training_day_totals.sql",
    "recount_training_days": "18_recount_training_days.sql",
    "increment_late_rows": "19_increment_late_rows.sql",
    "staging": "20_staging.sql",
    "card_features": "30_card_features.sql",
    "training_examples": "40_training_examples.sql",
    "quality_checks": "50_quality_checks.sql",
    "publish": "55_publish.sql",
    "snapshot": "60_snapshot.sql",
    "card_predictions": "80_card_predictions.sql",
    "keep_model_snapshot": "91_keep_model_snapshot.sql",
    "erase_card": "96_erase_card.sql",
    "card_pseudonym": "78_card_pseudonym.sql",
    "batch_prediction_input": "81_batch_prediction_input.sql",
    "batch_scoring_summary": "82_batch_scoring_summary.sql",
}


class DagRunLike(Protocol):
    dag_id: str
    run_id: str
    run_after: Any


#: BigQuery's least TIMESTAMP, as sql_instant renders it: a lower bound that excludes nothing
EARLIEST_INSTANT = "0001-01-01T00:00:00.000000Z"


def sql_instant(moment: datetime) -> str:
    """``moment`` as the templates take an instant in their text (``TIMESTAMP('…')``): RFC 3339
    in UTC, to the microsecond. Rendered only from the tasks' own clocks and query results,
    never from user input."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def run_digest(dag_run: DagRunLike) -> str:
    """Eight hex digits naming one DAG run (its DAG and run id), the same on every try: what
    names the run's snapshot and Vertex jobs, whose names cannot hold a run id's ``:`` or ``+``."""
    return hashlib.sha1(f"{dag_run.dag_id}:{dag_run.run_id}".encode()).hexdigest()[:8]


def snapshot_name(dag_run: DagRunLike, publish: int | None = 1) -> str:
    """``training_snapshot_<run time>_<hash of dag+run id>``, and ``_<publish>`` for a run's
    second publish on: stable across retries and clears of a run, one per publish (a run
    cleared after its publish that finds new files publishes again, and a snapshot taken
    before, created once, does not hold them). ``None`` (a plan that takes no snapshot) raises."""
    if publish is None:
        raise ValueError(f"run {dag_run.run_id} planned no snapshot: there is no snapshot to name")
    stamp = dag_run.run_after.strftime("%Y%m%dT%H%M%S")
    suffix = f"_{publish}" if publish > 1 else ""
    return f"training_snapshot_{stamp}_{run_digest(dag_run)}{suffix}"


#: The key of the ingestion plan's XCom (``increment``) that says which of the run's publishes its
#: snapshot holds (``None``: it takes none; absent: a plan made before this key existed, whose
#: snapshot was the run's only one).
SNAPSHOT_PUBLISH_KEY = "snapshot_publish"


@overload
def planned_snapshot_name(dag_run: DagRunLike, plan: Mapping[str, Any] | None) -> str: ...
@overload
def planned_snapshot_name(
    dag_run: DagRunLike, plan: Mapping[str, Any] | None, *, required: bool
) -> str | None: ...
def planned_snapshot_name(
    dag_run: DagRunLike, plan: Mapping[str, Any] | None, *, required: bool = True
) -> str | None:
    """The snapshot a run's ingestion plan (its XCom) takes: the one rule the snapshot job's SQL
    (as a macro), ``publish_snapshot`` and the run summary all name it by. A plan that takes
    none, or no plan, is ``None``, or raises when ``required`` (a job must not name a table
    ``None``)."""
    publish = plan.get(SNAPSHOT_PUBLISH_KEY, 1) if plan else None
    if publish is None and not required:
        return None
    return snapshot_name(dag_run, publish)


def template_context(settings: Settings) -> dict[str, Any]:
    return {
        "dataset": settings.dataset_ref,
        "raw_dataset": settings.raw_dataset_ref,
        # write-audit-publish: 20/30/40 build here, 50 checks here, 55 publishes to `dataset`
        "candidate_dataset": settings.candidate_dataset_ref,
        # training snapshots: their own dataset, the only one the training pipeline may read
        "snapshot_dataset": settings.snapshot_dataset_ref,
        "published_tables": PUBLISHED_TABLES,
        "raw_retention_days": settings.raw_retention_days,
        "log_retention_days": settings.log_retention_days,
        "dedup_horizon_days": settings.dedup_horizon_days,
        "landing_columns": LANDING_COLUMNS,
        "v_components": features.V_COMPONENTS,
        "max_amount": MAX_AMOUNT,
        "snapshot_ttl_days": settings.snapshot_ttl_days,
        "model_retention_days": settings.model_retention_days,
        "dq": DQ_BOUNDS,
        "snapshot_name": snapshot_name,
        "planned_snapshot_name": planned_snapshot_name,
        "typed_features": [(f.name, f.bq_type) for f in features.FEATURES],
        "pseudonym_aad": AAD,
        "pseudonym_keyset": keyset_macro(settings),
        **features.sql_context(),
    }


def keyset_macro(settings: Settings) -> Callable[[], WrappedKeyset]:
    """Macro giving the SQL the KMS key URI and the *wrapped* pseudonym keyset.

    Resolved when a template renders (locally it reads a file; DAG parsing stays IO-free). Both
    values are safe in query text: the keyset is ciphertext that only the KMS key unwraps, and
    BigQuery calls Cloud KMS itself (``KEYS.KEYSET_CHAIN``), so no key material is rendered.
    """
    return lambda: wrapped_keyset(settings)


def airflow_macros(settings: Settings) -> dict[str, Any]:
    """``user_defined_macros`` of every DAG that runs the project's SQL."""
    return template_context(settings)


def render_sql(name: str, settings: Settings, *, keyset: WrappedKeyset | None = None, **extra: Any) -> str:
    """Render ``include/sql/<name>`` outside Airflow (tests, per-file jobs)."""
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(sql_dir())),
        undefined=jinja2.StrictUndefined,
        autoescape=False,  # SQL, not HTML
    )
    context = template_context(settings)
    if keyset is not None:
        context["pseudonym_keyset"] = lambda: keyset
    context.update(extra)
    return env.get_template(name).render(**context)
