"""Every statement of include/sql/, rendered for the gcp target, passes Google's SQL analyzer.

DuckDB runs these files locally after transpilation and accepts SQL that BigQuery refuses; the
golden and equivalence tests therefore cannot show that BigQuery would run them. ZetaSQL, the
reference implementation of BigQuery's GoogleSQL, resolves and type-checks each statement here
against the tables it reads (tests/bigquery_analyzer.py says where each schema comes from).
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from fraud_mlops.features import BATCH_INPUT_COLUMNS, BATCH_INPUT_TABLE, BATCH_OUTPUT_TABLE
from fraud_mlops.ingestion.landed_files import bad_lines_table
from fraud_mlops.monitoring.run import METRICS_STAGING_TABLE
from fraud_mlops.monitoring.windows import metrics_table
from fraud_mlops.prediction_log.records import STAGING_TABLE, arrow_schema
from fraud_mlops.prediction_log.store import SINK_TABLE
from fraud_mlops.settings import REPO_ROOT, settings_from_env
from fraud_mlops.sql_templates import render_sql, snapshot_name
from fraud_mlops.warehouse.bigquery_jobs import load_job_configuration
from tests.bigquery_analyzer import (
    TRANSACTION_STATEMENTS,
    Catalog,
    Finding,
    analyze_script,
    scalar_type,
    statements_in_transactions,
)
from tests.dags.test_gcp_rendering import FILE, GCP_ENV
from tests.sql_chain import TEMPLATE_VALUES, FakeDagRun

SETTINGS = settings_from_env(GCP_ENV)
LOAD_TABLE, REJECT_TABLE = "raw_load_x", "reject_load_x"
LOG_TABLE = f"{SETTINGS.project}.{SETTINGS.dataset}_logs.{SINK_TABLE}"
#: What each file needs besides the settings (the values the DAGs pass; the snapshot is the one
#: 60 creates for the run).
CONTEXT: dict[str, Any] = {
    **TEMPLATE_VALUES,
    "load_table": LOAD_TABLE, "reject_table": REJECT_TABLE, "dag_run": FakeDagRun(),
    "snapshot": snapshot_name(FakeDagRun()), "log_table": LOG_TABLE,
    "store_features": [("amount", "FLOAT64")], "event_time_column": "event_time_us",
}  # fmt: skip
#: Files in the order their tables come to exist: the batch input (81) before the predictions
#: (80), which read what Vertex batch prediction wrote from it; the append's incoming rows (97)
#: before the append (83), as the task runs them (erasure, 96, drops the staging table); the
#: count of training runs on a snapshot (77) reads the lineage 90 makes (before it, none: the
#: caller counts a missing table as no run).
RUN_ORDER = {"80_": "81z", "97_": "82z", "77_": "90z"}
SQL_FILES = sorted(
    (p.name for p in (REPO_ROOT / "include" / "sql").glob("[0-9]*.sql")),
    key=lambda name: RUN_ORDER.get(name[:3], name),
)


def qualified(dataset: str, table: str) -> str:
    return f"{SETTINGS.project}.{dataset}.{table}"


def add_tables_written_outside_sql(catalog: Catalog) -> None:
    """Tables no SQL file creates: load jobs, Parquet loads of Arrow tables, Vertex, Logging."""
    import zetasql.types as zt

    load_schema = load_job_configuration(FILE, SETTINGS)["load"]["schema"]["fields"]
    catalog.add_load_table(qualified(SETTINGS.raw_dataset, LOAD_TABLE), load_schema)
    catalog.add_parquet_load(qualified(SETTINGS.dataset, REJECT_TABLE), bad_lines_table([]).schema)
    catalog.add_parquet_load(qualified(SETTINGS.dataset, STAGING_TABLE), arrow_schema())
    catalog.add_parquet_load(qualified(SETTINGS.dataset, METRICS_STAGING_TABLE), metrics_table([]).schema)
    # Cloud Logging's BigQuery export: the entry's timestamp, and jsonPayload as a RECORD of the
    # payload's fields (StructuredLogSink writes log_type and record, a JSON string).
    payload = zt.Type(
        type_kind=zt.TypeKind.TYPE_STRUCT,
        struct_type=zt.StructType(
            field=[
                zt.StructField(field_name="log_type", field_type=scalar_type("TYPE_STRING")),
                zt.StructField(field_name="record", field_type=scalar_type("TYPE_STRING")),
            ]
        ),
    )
    catalog.add(LOG_TABLE, [("timestamp", scalar_type("TYPE_TIMESTAMP")), ("jsonPayload", payload)])


def add_batch_prediction_output(catalog: Catalog) -> None:
    """Vertex batch prediction's BigQuery output: the input columns plus ``prediction`` (the
    model server's answer; JSON text, fraud_mlops/registry/batch_prediction.py)."""
    columns = catalog.tables[qualified(SETTINGS.dataset, BATCH_INPUT_TABLE)]
    catalog.add(
        qualified(SETTINGS.dataset, BATCH_OUTPUT_TABLE),
        [*columns, ("prediction", scalar_type("TYPE_STRING"))],
    )


@pytest.fixture(scope="module")
def findings() -> dict[str, list[Finding]]:
    """Each file's refused statements, the files analyzed in order on one catalog."""
    catalog = Catalog()
    add_tables_written_outside_sql(catalog)
    found: dict[str, list[Finding]] = {}
    for name in SQL_FILES:
        found[name] = analyze_script(name, render_sql(name, SETTINGS, **CONTEXT), catalog)
        if name.startswith("81_"):
            add_batch_prediction_output(catalog)
    return found


@pytest.mark.parametrize("sql_file", SQL_FILES)
def test_bigquery_analyzes_every_statement(findings, sql_file):
    assert findings[sql_file] == [], "\n".join(str(f) for f in findings[sql_file])


def test_the_batch_input_has_the_columns_the_model_server_reads_by_position():
    """Vertex sends each batch input row to the model server as an array in the table's column
    order; the server reads the features by their place in ``BATCH_INPUT_COLUMNS``."""
    catalog = Catalog()
    for name in ("00_setup.sql", "81_batch_prediction_input.sql"):
        assert analyze_script(name, render_sql(name, SETTINGS, **CONTEXT), catalog) == []
    columns = [name for name, _ in catalog.tables[qualified(SETTINGS.dataset, BATCH_INPUT_TABLE)]]
    assert tuple(columns) == BATCH_INPUT_COLUMNS


def test_every_dataset_the_sql_names_is_granted_to_the_identity_that_runs_it():
    """The DAGs run every file as the Composer account (``orchestration``); a dataset its SQL
    names without a grant in infra/ fails on gcp with Access Denied (the prediction-log dataset
    had none until the monitoring DAG's reads were checked here)."""
    from tests.infra import iac

    infra_key = {
        SETTINGS.dataset: "fraud",
        SETTINGS.raw_dataset: "raw",
        SETTINGS.candidate_dataset: "candidates",
        SETTINGS.snapshot_dataset: "snapshots",
        LOG_TABLE.split(".")[1]: "logs",
    }
    named = {
        match.group(1)
        for name in SQL_FILES
        for match in re.finditer(
            rf"`{re.escape(SETTINGS.project)}\.([\w-]+)\.", render_sql(name, SETTINGS, **CONTEXT)
        )
    }
    assert named == set(infra_key), named
    readable = {
        g.scope
        for g in iac.grants_in_code()
        if g.identity == "orchestration"
        and g.role in ("roles/bigquery.dataViewer", "roles/bigquery.dataEditor")
    }
    assert {f"dataset:{infra_key[d]}" for d in named} <= readable, readable

    # and a dataset it writes (creates, inserts, updates, deletes, merges, drops) with a role
    # that may: dataViewer on the candidates passed the check above, and staging's first
    # CREATE OR REPLACE TABLE there would have failed on gcp (bigquery.tables.create)
    writes = re.compile(
        r"\b(?:CREATE\s+(?:OR\s+REPLACE\s+)?(?:SNAPSHOT\s+|MATERIALIZED\s+)?(?:TABLE|VIEW)(?:\s+IF\s+NOT\s+EXISTS)?"
        r"|INSERT(?:\s+INTO)?|UPDATE|DELETE(?:\s+FROM)?|MERGE(?:\s+INTO)?"
        r"|DROP\s+(?:SNAPSHOT\s+|MATERIALIZED\s+)?(?:TABLE|VIEW)(?:\s+IF\s+EXISTS)?"
        r"|TRUNCATE\s+TABLE|ALTER\s+(?:TABLE|VIEW)(?:\s+IF\s+EXISTS)?)\s+"
        rf"`{re.escape(SETTINGS.project)}\.([\w-]+)\.",
        re.IGNORECASE,
    )
    written = {
        match.group(1)
        for name in SQL_FILES
        for match in writes.finditer(render_sql(name, SETTINGS, **CONTEXT))
    }
    assert written == {
        SETTINGS.dataset,
        SETTINGS.raw_dataset,
        SETTINGS.candidate_dataset,
        SETTINGS.snapshot_dataset,
    }, written
    editable = {
        g.scope
        for g in iac.grants_in_code()
        if g.identity == "orchestration" and g.role == "roles/bigquery.dataEditor"
    }
    assert {f"dataset:{infra_key[d]}" for d in written} <= editable, editable


@pytest.mark.parametrize("sql_file", SQL_FILES)
def test_transactions_hold_only_what_bigquery_runs_in_one(sql_file):
    """DuckDB runs any statement in a transaction; BigQuery only queries, DML and DDL on
    temporary entities (an ASSERT, or a CREATE TABLE, between BEGIN and COMMIT fails there)."""
    inside = statements_in_transactions(render_sql(sql_file, SETTINGS, **CONTEXT))
    assert [(i, kind) for i, kind in inside if kind not in TRANSACTION_STATEMENTS] == []


def test_the_analyzer_refuses_what_bigquery_refuses():
    """The check can fail: statements BigQuery refuses, each for a reason DuckDB does not share."""
    catalog = Catalog()
    catalog.add("p.d.t", [("id", scalar_type("TYPE_STRING")), ("ts", scalar_type("TYPE_TIMESTAMP"))])
    refused = {
        # BigQuery: "QUALIFY clause must be used in conjunction with WHERE or GROUP BY or HAVING"
        "SELECT * FROM `p.d.t` QUALIFY ROW_NUMBER() OVER (PARTITION BY id ORDER BY ts) = 1": "QUALIFY",
        # the AEAD namespace has ENCRYPT and DECRYPT_*; the deterministic functions have none
        "SELECT AEAD.DETERMINISTIC_ENCRYPT(KEYS.KEYSET_CHAIN('gcp-kms://k', b'x'), id, '') FROM `p.d.t`": "not found",
        "SELECT id FROM `p.d.t` WHERE ts > 5": "No matching signature",
        "SELECT nope FROM `p.d.t`": "Unrecognized name",
        "SELECT @rows * 2 FROM `p.d.t`": "No matching signature",  # parameters are STRING
    }  # fmt: skip
    for sql, error in refused.items():
        (finding,) = analyze_script("probe.sql", sql, catalog)
        assert error in finding.error, (sql, finding.error)
    in_transaction = (
        "BEGIN TRANSACTION; ASSERT (SELECT 1) = 1; DELETE FROM `p.d.t` WHERE TRUE; COMMIT TRANSACTION"
    )
    assert statements_in_transactions(in_transaction) == [
        (1, "ASTAssertStatement"),
        (2, "ASTDeleteStatement"),
    ]
    accepted = "SELECT DETERMINISTIC_ENCRYPT(KEYS.KEYSET_CHAIN('gcp-kms://k', b'x'), id, '') FROM `p.d.t`"
    assert analyze_script("probe.sql", accepted, catalog) == []
