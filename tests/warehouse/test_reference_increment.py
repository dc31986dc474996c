"""The incremental card-feature script, statement by statement, on ZetaSQL's reference engine.

``test_reference_features.py`` compares the full refresh with GoogleSQL's semantics, and the
equivalence test the incremental SQL with the full refresh, both on DuckDB. This closes the
remaining gap directly: each statement of ``include/sql/30_card_features.sql`` runs on the local
warehouse, and its query runs on ZetaSQL's reference evaluator over the same tables (every
table it names, as the local warehouse holds it at that point: published state, the
increment's candidates, the script's temporary tables) and the same parameters. The files land
through the real ingestion SQL: a first file, published; then a later one, in order (the
published serving state carried over and extended: ``ARRAY_SLICE``, ``ARRAY_CONCAT``), or a
late one (an older day after a newer: state rebuilt, older staging read).
"""

from __future__ import annotations

import re
from typing import Any

import pandas as pd
import pytest

from devtools.generator.synth import GeneratorConfig, generate
from fraud_mlops.ingestion.increment import increment_parameters, plan_increment
from fraud_mlops.sql_templates import SQL_FILES, render_sql
from fraud_mlops.warehouse.duckdb import DuckDBWarehouse
from fraud_mlops.warehouse.transpile import bound_parameters, split_statements, transpile_statement
from tests.bigquery_analyzer import analyze_script
from tests.reference_engine import (
    connection_rows,
    created,
    local_warehouse,
    multiset_differences,
    reference_rows,
)
from tests.sql_chain import load_landing, transform


def _files() -> dict[str, pd.DataFrame]:
    """24 generated days as three files: days 0-9, then 12-23 (in order, after a gap), then
    10-11 (late: older than the newest published day, newer than the first ones)."""
    landing = generate(GeneratorConfig(rows=1_200, seed=5, days=24, rows_per_card=20)).landing.astype(str)
    late_in_second = landing.index % 3 == 0  # a fraction of a second on a third of the rows
    landing.loc[late_in_second, "event_time"] = landing.loc[late_in_second, "event_time"] + ".75"
    times = pd.to_datetime(landing["event_time"], format="ISO8601")
    day = (times - times.min().normalize()).dt.days
    return {"middle": landing[day < 10], "later": landing[day >= 12], "earlier": landing[day.isin([10, 11])]}


def _compare_script(hook: Any, settings: Any, catalog: Any, parameters: dict[str, str]) -> list[Any]:
    """Run 30 statement by statement on one local connection; each CREATE's query also on the
    reference engine over the tables it names. Returns every value that differs."""
    script = render_sql(SQL_FILES["card_features"], settings)
    parted: list[Any] = []
    compared = []
    conn = hook.get_conn()
    try:
        for statement in split_statements(script):
            assert analyze_script("30_card_features.sql", statement, catalog, keep_temporary=True) == []
            found = created(statement)
            if found:
                table, query = found
                names = [n for n in catalog.tables if re.search(rf"(?<![\w.]){re.escape(n)}(?![\w])", query)]
                tables = {n: connection_rows(conn, f"SELECT * FROM `{n}`") for n in names}
                reference = reference_rows(query, catalog, tables, parameters)
                local = connection_rows(conn, query, parameters)
                parted += [(table, *d) for d in multiset_differences(reference, local)]
                compared.append((table, len(local)))
            _execute(conn, statement, parameters)
    finally:
        conn.close()
    return [("compared", compared), *parted]


def _execute(conn: Any, statement: str, parameters: dict[str, str]) -> None:
    """The statement itself, on the local connection (its table is read by the next ones)."""
    duck = transpile_statement(statement)
    conn.execute(duck, bound_parameters(duck, parameters) or None)


@pytest.fixture(scope="module")
def scenarios(tmp_path_factory) -> dict[str, list[Any]]:
    """Differences per scenario: the in-order file after a published one, then a late file."""
    settings, hook, catalog = local_warehouse(tmp_path_factory.mktemp("reference_increment"))
    files = _files()
    load_landing(hook, settings, files["middle"], "middle.csv", run_id="r1")
    transform(hook, settings, run_id="r1")
    found = {}
    for name in ("later", "earlier"):
        run_id = f"r_{name}"
        load_landing(hook, settings, files[name], f"{name}.csv", run_id=run_id)
        bounds = plan_increment(DuckDBWarehouse(settings, settings.warehouse_path), settings)
        parameters = increment_parameters(bounds, run_id)
        hook.run(render_sql(SQL_FILES["staging"], settings), parameters=parameters)
        assert analyze_script("20_staging.sql", render_sql(SQL_FILES["staging"], settings), catalog) == []
        found[name] = _compare_script(hook, settings, catalog, parameters)
        found[f"{name} plan"] = [bounds["older_until"]]
        hook.run(render_sql(SQL_FILES["training_examples"], settings), parameters=parameters)
        hook.run(render_sql(SQL_FILES["publish"], settings), parameters=parameters)
    return found


def _check(found: list[Any]) -> None:
    (_, compared), *parted = found
    # every statement that creates a table was compared, each on rows (the script's four
    # temporary tables and its two candidate tables)
    assert len(compared) == 6 and all(rows > 0 for _, rows in compared), compared
    assert parted == [], f"{len(parted)} values differ, e.g. {parted[:6]}"


def test_an_in_order_file_computes_as_googlesql_does(scenarios):
    assert scenarios["later plan"] == ["0001-01-01"]  # the in-order path: no older staging read
    _check(scenarios["later"])


def test_a_late_file_computes_as_googlesql_does(scenarios):
    assert scenarios["earlier plan"] != ["0001-01-01"]  # the late path: state rebuilt
    _check(scenarios["earlier"])
