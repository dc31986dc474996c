"""The gcp target's BigQuery jobs, rendered offline exactly as Airflow would send them.

The DAG is parsed with ``MLOPS_TARGET=gcp``; each ``BigQueryInsertJobOperator``'s templated
``configuration`` is rendered with Airflow's own Jinja environment of that DAG and compared
with the SQL rendered directly from ``include/sql/`` — the same files the local target runs.
"""

from __future__ import annotations

import base64
import copy
from typing import Any

import pytest

from fraud_mlops.pseudonym import WrappedKeyset
from fraud_mlops.settings import REPO_ROOT, get_settings, settings_from_env
from fraud_mlops.sql_templates import SQL_FILES, render_sql, snapshot_name
from fraud_mlops.warehouse.bigquery_jobs import (
    append_raw_job_configuration,
    load_job_configuration,
)
from tests.sql_chain import TEMPLATE_VALUES, FakeDagRun

KMS_KEY = (
    "gcp-kms://projects/fraud-project/locations/europe/keyRings/fraud-pseudonym/cryptoKeys/card-pseudonym"
)
WRAPPED = bytes(range(7, 7 + 120))  # stands for the KMS-wrapped keyset (ciphertext)
GCP_ENV = {
    "MLOPS_TARGET": "gcp", "GCP_PROJECT": "fraud-project", "MLOPS_BQ_LOCATION": "EU",
    "MLOPS_PSEUDONYM_KMS_KEY": KMS_KEY, "MLOPS_PSEUDONYM_KEYSET": base64.b64encode(WRAPPED).decode(),
}  # fmt: skip
FILE = {
    "bucket": "fraud-landing", "name": "incoming/day1.csv", "generation": "1700000000000001",
    "md5": "0123456789abcdef0123456789abcdef", "size": 10, "rows": 2, "run_id": "manual__x",
}  # fmt: skip


@pytest.fixture(scope="module")
def gcp_dags() -> Any:
    """Every DAG, parsed with the gcp target's settings."""
    mp = pytest.MonkeyPatch()
    for k, v in GCP_ENV.items():
        mp.setenv(k, v)
    get_settings.cache_clear()
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(REPO_ROOT / "dags"))
    assert bag.import_errors == {}
    yield bag.dags
    mp.undo()
    get_settings.cache_clear()


@pytest.fixture(scope="module")
def gcp_dag(gcp_dags: dict[str, Any]) -> Any:
    return gcp_dags["fraud_ingest_sensor"]


BOUNDS = {
    "loaded_from": "2026-11-01 00:00:00.000000", "event_from": "2026-10-25", "older_until": "0001-01-01", "files": "1",
}  # fmt: skip


class FakeTaskInstance:
    """``ti`` in templates: the transform steps pull the increment's bounds from plan_increment
    (and the snapshot step the snapshot it names)."""

    def __init__(self, plan: dict[str, str] = BOUNDS) -> None:
        self.plan = plan

    def xcom_pull(self, task_ids: str, key: str) -> dict[str, str]:
        assert (task_ids, key) == ("transform.plan_increment", "increment")
        return self.plan


def rendered_configuration(
    dag: Any, task_id: str, dag_run: FakeDagRun, plan: dict[str, str] = BOUNDS
) -> dict[str, Any]:
    # a copy: rendering replaces the task's templated fields (the DAG is shared by the tests)
    task = copy.copy(dag.get_task(task_id))
    context = {
        "dag": dag, "dag_run": dag_run, "run_id": dag_run.run_id, "task": task, "ti": FakeTaskInstance(plan),
    }  # fmt: skip
    task.render_template_fields(context, jinja_env=dag.get_template_env())
    return dict(task.configuration)


@pytest.mark.parametrize(
    "step", ["setup", "staging", "card_features", "training_examples", "quality_checks", "publish"]
)
def test_sql_steps_send_the_shared_sql(gcp_dag, step):
    task_id = {
        "setup": "setup_tables", "staging": "transform.build_staging",
        "card_features": "transform.build_card_features", "training_examples": "transform.build_training_examples",
        "quality_checks": "check_data_quality", "publish": "publish",
    }[step]  # fmt: skip
    config = rendered_configuration(gcp_dag, task_id, FakeDagRun())
    settings = settings_from_env(GCP_ENV)
    expected = render_sql(SQL_FILES[step], settings)
    query: dict[str, Any] = {"query": expected, "useLegacySql": False}
    if step in (
        "staging",
        "card_features",
        "quality_checks",
        "publish",
    ):  # the increment's bounds, as parameters
        values = {"loaded_from": BOUNDS["loaded_from"], "event_from": BOUNDS["event_from"]}
        if step == "staging":
            values["run_id"] = "manual__test"
        if step == "card_features":  # the end of the older staging a late file needs
            values["older_until"] = BOUNDS["older_until"]
        query["queryParameters"] = [
            {"name": k, "parameterType": {"type": "STRING"}, "parameterValue": {"value": v}}
            for k, v in values.items()
        ]
    assert config == {"query": query, "labels": {"app": "fraud-mlops"}}
    assert "`fraud-project.fraud" in expected
    task = gcp_dag.get_task(task_id)
    assert (task.project_id, task.location, task.gcp_conn_id) == (
        "fraud-project",
        "EU",
        "google_cloud_default",
    )


def test_staging_pseudonymises_through_the_kms_wrapped_keyset(gcp_dag):
    """The query names the KMS key and carries the wrapped keyset; BigQuery unwraps it with KMS.
    That no key material is in this or any other job is tests/dags/test_key_leaks.py's job."""
    query = rendered_configuration(gcp_dag, "transform.build_staging", FakeDagRun())["query"]["query"]
    keyset = WrappedKeyset(KMS_KEY, WRAPPED)
    assert (
        "IF(well_formed AND checksum_ok, TO_HEX(SHA256(DETERMINISTIC_ENCRYPT(\n"
        f"    KEYS.KEYSET_CHAIN('{KMS_KEY}', {keyset.sql_bytes}),\n"
        "    card_digits,\n    'card_pseudonym'\n  ))), NULL) AS card_pseudonym" in query
    )


def test_candidates_are_checked_then_published_in_one_transaction(gcp_dag):
    checks = rendered_configuration(gcp_dag, "check_data_quality", FakeDagRun())["query"]["query"]
    # the checks read the candidates (the increment) and, for the global checks, the published
    # rows the increment does not replace: never written to published tables
    assert "FROM `fraud-project.fraud_candidates.training_examples`" in checks
    for statement in ("INSERT INTO `fraud-project.fraud.", "DELETE FROM `fraud-project.fraud.", "MERGE"):
        assert statement not in checks
    publish = rendered_configuration(gcp_dag, "publish", FakeDagRun())["query"]["query"]
    body = publish.split("BEGIN TRANSACTION;", 1)[1]
    assert body.rstrip().endswith("COMMIT TRANSACTION;")
    for table in ("stg_transactions", "rejected_rows", "card_features", "training_examples", "transform_log"):
        # the touched rows replaced: DELETE of the touched keys, INSERT from the candidate
        assert f"DELETE FROM `fraud-project.fraud.{table}`" in body
        assert f"INSERT INTO `fraud-project.fraud.{table}`" in body
        assert f"FROM `fraud-project.fraud_candidates.{table}`" in body
    for table in ("latest_card_features", "card_merchants"):  # per-card state: merged
        assert (
            f"MERGE `fraud-project.fraud.{table}` AS t\nUSING `fraud-project.fraud_candidates.{table}` AS s"
        ) in body
    assert "WHERE TRUE" not in body  # never a whole published table
    assert "CREATE" not in body  # BigQuery transactions take DML only
    assert gcp_dag.get_task("check_data_quality").retries == 0


#: The name of the run's first publish's snapshot, pinned: snapshots taken before names went by
#: publish (and the plans of runs in flight at a deploy) name it so.
FIRST_SNAPSHOT = "training_snapshot_20261101T120000_380834df"


@pytest.mark.parametrize(
    ("plan", "name"),
    [
        ({**BOUNDS, "snapshot_publish": 1}, FIRST_SNAPSHOT),
        ({**BOUNDS, "snapshot_publish": 2}, f"{FIRST_SNAPSHOT}_2"),
        (BOUNDS, FIRST_SNAPSHOT),  # a plan made before the key existed: the run's one snapshot
    ],
)
def test_snapshot_job_is_bigquery_snapshot_ddl_with_run_parameters(gcp_dag, plan, name):
    """The snapshot of the publish its plan names: a run's second publish (a run cleared after
    its publish that found new files) has its own."""
    run = FakeDagRun("scheduled__2026-11-01T12:00:00+00:00", "fraud_ingest_sensor")
    assert snapshot_name(run, plan.get("snapshot_publish", 1)) == name
    query = rendered_configuration(gcp_dag, "snapshot.snapshot_training_table", run, plan)["query"]
    assert (
        query["query"].count(f"{name}`") + query["query"].count(f"{name}'") == 4
    )  # table, count, lineage, guard
    assert (
        f"CREATE SNAPSHOT TABLE IF NOT EXISTS `fraud-project.fraud_snapshots.{name}`\nCLONE `fraud-project.fraud.training_examples`"
        in query["query"]
    )
    assert "INTERVAL 90 DAY" in query["query"]
    assert query["queryParameters"] == [
        {
            "name": "dag_id",
            "parameterType": {"type": "STRING"},
            "parameterValue": {"value": "fraud_ingest_sensor"},
        },
        {"name": "run_id", "parameterType": {"type": "STRING"}, "parameterValue": {"value": run.run_id}},
    ]


def test_a_plan_that_takes_no_snapshot_fails_the_snapshot_job_rather_than_name_one(gcp_dag):
    """Only a branch the plan did not take reaches it (a person marking it to run, say): no table
    named ``None``."""
    run = FakeDagRun("scheduled__2026-11-01T12:00:00+00:00", "fraud_ingest_sensor")
    with pytest.raises(ValueError, match="planned no snapshot"):
        rendered_configuration(
            gcp_dag, "snapshot.snapshot_training_table", run, {**BOUNDS, "snapshot_publish": None}
        )


def test_load_job_configuration_is_a_schema_enforced_csv_load():
    settings = settings_from_env(GCP_ENV)
    config = load_job_configuration(FILE, settings)
    load = config["load"]
    assert load["sourceUris"] == ["gs://fraud-landing/incoming/day1.csv"]
    # the table: the content's md5 and the object's sha256("gs://…/day1.csv#1700000000000001")
    assert load["destinationTable"] == {
        "projectId": "fraud-project", "datasetId": "fraud_raw", "tableId": "raw_load_0123456789abcdef_b6d80f1b",
    }  # fmt: skip
    assert [f["name"] for f in load["schema"]["fields"]][:3] == [
        "transaction_id",
        "event_time",
        "card_number",
    ]
    assert {f["type"] for f in load["schema"]["fields"]} == {"STRING"}
    assert (load["skipLeadingRows"], load["maxBadRecords"], load["writeDisposition"]) == (
        1,
        0,
        "WRITE_TRUNCATE",
    )


def test_append_job_passes_file_identity_as_query_parameters(monkeypatch):
    for k, v in GCP_ENV.items():
        monkeypatch.setenv(k, v)
    get_settings.cache_clear()
    try:
        config = append_raw_job_configuration(FILE)
    finally:
        get_settings.cache_clear()
    params = {p["name"]: p["parameterValue"]["value"] for p in config["query"]["queryParameters"]}
    assert params == {
        "file_name": "gs://fraud-landing/incoming/day1.csv", "file_generation": "1700000000000001",
        "file_md5": "0123456789abcdef0123456789abcdef", "run_id": "manual__x", "expected_rows": "2",
    }  # fmt: skip
    assert "`fraud-project.fraud_raw.raw_load_0123456789abcdef_b6d80f1b`" in config["query"]["query"]
    assert "day1.csv" not in config["query"]["query"]  # user input never spliced into SQL


def test_mapped_file_tasks_use_those_configurations(gcp_dag):
    append_task = gcp_dag.get_task("load_raw.append_raw_file")
    append = append_task.expand_input.value["configuration"]
    assert list(append.callables) == [append_raw_job_configuration]
    # one append at a time: the once-by-content guard reads ingestion_log, and BigQuery lets two
    # INSERT-only transactions commit side by side, each blind to the other's row
    assert append_task.max_active_tis_per_dagrun == 1
    # the load is a mapped task per file sending load_job_configuration through BigQueryHook.insert_job
    # (tests/warehouse/test_bigquery_warehouse.py asserts the request and the skipped-lines report)
    load = gcp_dag.get_task("load_raw.load_raw_file")
    assert set(load.op_kwargs_expand_input.value) == {"file"} and load.map_index_template


#: Partitioned tables (00_setup.sql, infra/) and their partitioning column.
PARTITIONED = {
    "raw_transactions": "_loaded_at", "ingestion_log": "logged_at", "rejected_lines": "rejected_at",
    "rejected_rows": "_loaded_at", "stg_transactions": "event_time", "card_features": "event_time",
    "training_examples": "event_time", "prediction_log": "logged_at", "card_predictions": "scored_at",
}  # fmt: skip
CANDIDATE_DATASET = settings_from_env(GCP_ENV).candidate_dataset
#: Reads that span every partition on purpose, and why (the rest must name their partitions).
WHOLE_TABLE_READS = {
    ("10_append_raw.sql", "ingestion_log"): "a file's identity is checked against every earlier load",
    ("15_increment_files.sql", "ingestion_log"): "finds the oldest file not yet transformed",
    ("50_quality_checks.sql", "training_examples"): "COUNT(*) reads no column (the day counts' total)",
    ("17_training_day_totals.sql", "training_examples"): "COUNT(*) reads no column (the day counts' total)",
    ("50_quality_checks.sql", "rejected_rows"): "COUNT(*) reads no column",
    ("50_quality_checks.sql", "raw_transactions"): "COUNT(*) reads no column",
    ("50_quality_checks.sql", "rejected_lines"): "COUNT(*) reads no column",
    ("60_snapshot.sql", "ingestion_log"): "lineage lists every file behind the snapshot (one row per file)",
    ("70_summary_counts.sql", "raw_transactions"): "COUNT(*) reads no column",
    ("70_summary_counts.sql", "rejected_rows"): "COUNT(*) reads no column",
    ("70_summary_counts.sql", "training_examples"): "COUNT(*) reads no column",
    ("70_summary_counts.sql", "ingestion_log"): "files loaded and duplicates so far (one row per file)",
    ("76_table_exists.sql", "rejected_rows"): "reads no column and no row (LIMIT 0)",
    ("96_erase_card.sql", "raw_transactions"): "erasure finds the card's rows in every partition",
    ("96_erase_card.sql", "rejected_rows"): "erasure finds the card's rejected rows in every partition",
    ("87_reporting_views.sql", "training_examples"): "dashboard views: the training data's days, read whole",
    ("87_reporting_views.sql", "rejected_rows"): "dashboard view: rejects by day and reason, all days",
    ("87_reporting_views.sql", "ingestion_log"): "dashboard view: every ingestion run's status",
    (
        "71_summary_rejects.sql",
        "rejected_rows",
    ): "rejects by reason so far: one narrow column of a small table",
    ("87_reporting_views.sql", "prediction_log"): "dashboard views: predictions by day, all days",
    ("89_prediction_log_rows.sql", "prediction_log"): "COUNT(*) reads no column",
    ("96_erase_card.sql", "prediction_log"): "erasure finds the card's answers in every partition",
    ("96_erase_card.sql", "card_predictions"): "erasure finds the card's batch scores in every partition",
}


def _reads_without_partition_filter(sql: str) -> list[str]:
    """Each read (a MERGE's of its target too, or a DELETE) of a partitioned table whose WHERE (a
    MERGE's merge condition) has no filter on its partition column."""
    import sqlglot
    from sqlglot import exp

    from fraud_mlops.warehouse.transpile import parse_assert, split_statements

    missing = []
    for statement in split_statements(sql):
        check = parse_assert(statement)
        tree = sqlglot.parse_one(check.check_sql if check else statement, read="bigquery")
        for table in tree.find_all(exp.Table):
            column = PARTITIONED.get(table.name)
            if table.db == CANDIDATE_DATASET:
                continue  # candidates: one increment, not partitioned
            parent = table.parent
            names = {table.alias_or_name, table.name, ""}
            if column is not None and isinstance(parent, exp.Merge):
                # a MERGE reads its target to match rows: BigQuery prunes the target's
                # partitions on a constant filter in the merge condition (docs, "Updating
                # partitioned table data using DML"); a bare USING table is read whole
                on = parent.args.get("on") if parent.this is table else None
                if not _bounds(on, column, names):
                    missing.append(table.name)
                continue
            if column is None or isinstance(parent, exp.Insert | exp.Create | exp.Schema):
                continue  # not partitioned, or written rather than read
            scope = table.find_ancestor(exp.Select, exp.Delete)
            if not _bounds(scope.args.get("where") if scope else None, column, names):
                missing.append(table.name)
    return missing


def _bounds(condition: Any, column: str, names: set[str]) -> bool:
    """Whether ``condition`` compares the partition ``column`` with a constant (a literal, a
    parameter, a function of those): BigQuery prunes on nothing else."""
    from sqlglot import exp

    if condition is None:
        return False
    for comparison in condition.find_all(exp.EQ, exp.GT, exp.GTE, exp.LT, exp.LTE, exp.Between, exp.In):
        between = []  # the nodes from the comparison up to the condition
        node = comparison.parent
        while node is not None and node is not condition.parent:
            between.append(node)
            node = node.parent
        if any(isinstance(n, exp.Or | exp.Select | exp.Not) for n in between):
            continue  # one side of an OR, negated, or a subquery's: no bound on this read
        sides = (
            [comparison.this, *comparison.expressions]
            if isinstance(comparison, exp.In)
            else [v for v in comparison.args.values() if isinstance(v, exp.Expression)]
        )
        own = [e for e in sides if isinstance(e, exp.Column) and e.name == column and e.table in names]
        others = [e for e in sides if not any(e is o for o in own)]
        if own and others and not any(o.find(exp.Column, exp.Subquery, exp.Select) for o in others):
            return True
    return False


@pytest.mark.parametrize(
    ("sql", "bounded"),
    [
        (
            "SELECT 1 FROM `d.prediction_log` AS p WHERE p.logged_at >= TIMESTAMP('2026-11-01') AND p.x = 1",
            True,
        ),
        ("SELECT 1 FROM `d.prediction_log` AS p WHERE p.logged_at >= CAST(@since AS TIMESTAMP)", True),
        (
            "SELECT 1 FROM `d.prediction_log` AS p WHERE p.logged_at >= TIMESTAMP('2026-11-01') OR p.x = 1",
            False,
        ),
        ("SELECT 1 FROM `d.prediction_log` AS p WHERE NOT p.logged_at < TIMESTAMP('2026-11-01')", False),
        ("SELECT 1 FROM `d.prediction_log` AS p WHERE p.logged_at >= p.other_time", False),
        ("SELECT 1 FROM `d.prediction_log` AS p WHERE p.logged_at IS NOT NULL", False),
        (
            "SELECT 1 FROM `d.prediction_log` AS p WHERE EXISTS (SELECT 1 FROM `d.t` AS t"
            " WHERE t.k = p.k AND logged_at >= TIMESTAMP('2026-11-01'))",
            False,
        ),
        (
            "MERGE `d.prediction_log` AS l USING `d.s` AS i ON l.logged_at >= TIMESTAMP('2026-11-01')"
            " AND l.k = i.k WHEN NOT MATCHED THEN INSERT ROW",
            True,
        ),
        (
            "MERGE `d.prediction_log` AS l USING `d.s` AS i ON l.logged_at = i.logged_at AND l.k = i.k"
            " WHEN NOT MATCHED THEN INSERT ROW",
            False,
        ),
        (
            "MERGE `d.t` AS l USING `d.prediction_log` AS i ON l.k = i.k WHEN NOT MATCHED THEN INSERT ROW",
            False,
        ),
    ],
)
def test_the_partition_checker_takes_only_a_constant_bound_that_always_applies(
    sql: str, bounded: bool
) -> None:
    """What BigQuery prunes on: a comparison of the partition column with a constant that every
    row read must meet (not one side of an OR, not negated, not a subquery's)."""
    assert (_reads_without_partition_filter(sql) == []) is bounded


@pytest.mark.parametrize(
    "sql_file", sorted(p.name for p in (REPO_ROOT / "include" / "sql").glob("[0-9]*.sql"))
)
def test_every_read_of_a_partitioned_table_names_its_partitions(sql_file):
    """On gcp every statement reading a partitioned table filters its partition column with a
    constant or a parameter (BigQuery prunes on those; stg_transactions and card_features refuse
    queries without one), except the whole-table reads listed, each with its reason."""
    settings = settings_from_env(GCP_ENV)
    extra = {
        **TEMPLATE_VALUES,
        "load_table": "raw_load_x", "reject_table": "reject_load_x", "dag_run": FakeDagRun(),
        "snapshot": "training_snapshot_x", "log_table": "prj.fraud_logs.run_googleapis_com_stdout",
    }  # fmt: skip
    if sql_file in ("74_online_store_rows.sql",):
        extra.update(store_features=[("amount", "FLOAT64")], event_time_column="event_time_us")
    try:
        sql = render_sql(sql_file, settings, **extra)
    except Exception as err:  # templates of other steps that need more context than a file
        pytest.fail(f"{sql_file} did not render: {err}")
    missing = [t for t in _reads_without_partition_filter(sql) if (sql_file, t) not in WHOLE_TABLE_READS]
    assert missing == [], f"{sql_file} reads {missing} without a partition filter"


def test_every_bigquery_job_task_submits_again_when_it_runs_again(gcp_dags: dict[str, Any]) -> None:
    """Airflow 3.3's resumable jobs: a durable BigQueryInsertJobOperator keeps its job id after
    success and, run again (a cleared task), returns without submitting. The DAGs' SQL is
    safe to rerun, and a cleared task must rerun it."""
    from airflow.providers.google.cloud.operators.bigquery import BigQueryInsertJobOperator

    tasks = [
        task
        for dag in gcp_dags.values()
        for task in dag.tasks
        if isinstance(task, BigQueryInsertJobOperator)
        or getattr(task, "operator_class", None) is BigQueryInsertJobOperator
    ]
    assert len(tasks) > 10
    for task in tasks:
        durable = (
            task.durable if isinstance(task, BigQueryInsertJobOperator) else task.partial_kwargs["durable"]
        )
        assert durable is False, task.task_id
