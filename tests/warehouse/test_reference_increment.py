"""The incremental transform, statement by statement, on ZetaSQL's reference engine.

``test_reference_staging.py`` and ``test_reference_features.py`` compare the full refresh with
GoogleSQL's semantics, and the equivalence test the incremental SQL with the full refresh, both
on DuckDB. This closes the remaining gap directly: each statement of
``include/sql/20_staging.sql`` and ``30_card_features.sql`` runs on the local warehouse, and its
query runs on ZetaSQL's reference evaluator over the same tables (every table it names, as the
local warehouse holds it at that point: published state, raw rows, the increment's candidates,
the scripts' temporary tables) and the same parameters. Three files land through the real
ingestion SQL, every fifth row carrying a value where engines part (tests/landing_values.py)
and some rows copies of others: a first file, published; then a later one, in order (the
published serving state carried over and extended: ``ARRAY_SLICE``, ``ARRAY_CONCAT``; copies
inside the file), or a late one (an older day after a newer: state rebuilt, older staging read;
rows the earlier files staged, sent again).

Two things are the same on both engines by substitution, in both engines' SQL: the card
pseudonym is the digits' text (``CONCAT('p', digits)``; ZetaSQL's evaluator has no Cloud KMS to
unwrap the keyset, and the keyed function's parity with Tink is ``test_keyed_udf.py``'s), and
``CURRENT_TIMESTAMP()`` is one fixed instant.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pandas as pd
import pytest

from devtools.generator.synth import GeneratorConfig, generate
from fraud_mlops.ingestion.increment import increment_parameters, plan_increment
from fraud_mlops.sql_templates import SQL_FILES, render_sql
from fraud_mlops.warehouse.duckdb import DuckDBWarehouse
from fraud_mlops.warehouse.hook import make_dataset_schema
from fraud_mlops.warehouse.transpile import bound_parameters, split_statements, transpile_statement
from tests.bigquery_analyzer import analyze_script
from tests.landing_values import TRICKY, with_tricky_values
from tests.reference_engine import (
    connection_rows,
    created,
    local_warehouse,
    multiset_differences,
    reference_rows,
)
from tests.sql_chain import load_landing

#: minutes of work: `make test-slow` (CI runs it after `make test`)
pytestmark = pytest.mark.slow

#: What both engines run for the pseudonym macro's output (macros/pseudonym.sql), and for now.
PSEUDONYM = re.compile(
    r"TO_HEX\(SHA256\(DETERMINISTIC_ENCRYPT\(\s*KEYS\.KEYSET_CHAIN\([^()]*\),\s*(?P<digits>[^,]+?),\s*'[^']*'\s*\)\)\)"
)
NOW = "TIMESTAMP '2026-12-01 00:00:00+00'"
#: The tables each script creates (CREATE … AS), all compared on rows.
CREATES = {"staging": 7, "card_features": 6}


def comparable(script: str) -> str:
    """``script`` as both engines run it here (see the module docstring)."""
    return PSEUDONYM.sub(r"CONCAT('p', \g<digits>)", script).replace("CURRENT_TIMESTAMP()", NOW)


def _files() -> dict[str, pd.DataFrame]:
    """24 generated days as three files: days 0-9, then 12-23 (in order, after a gap), then
    10-11 (late: older than the newest published day, newer than the first ones). Tricky values
    go everywhere but the event time, which would move rows between the scenarios' days, and the
    id, whose tricky values repeat: different rows under one id in one file are staged in no
    defined order (a load keeps none), on either engine (the staging test covers both). Copies
    of rows stay within their file's days but in the late one."""
    generated = generate(GeneratorConfig(rows=1_200, seed=5, days=24, rows_per_card=20))
    landing = generated.landing.astype(str).reset_index(drop=True)
    late_in_second = landing.index % 3 == 0  # a fraction of a second on a third of the rows
    landing.loc[late_in_second, "event_time"] = landing.loc[late_in_second, "event_time"] + ".75"
    times = pd.to_datetime(landing["event_time"], format="ISO8601")
    day = (times - times.min().normalize()).dt.days
    tricky_columns = [c for c in TRICKY if c not in ("event_time", "transaction_id")]
    landing = with_tricky_values(landing, np.random.default_rng(5), 5, tricky_columns)
    middle, later, earlier = landing[day < 10], landing[day >= 12], landing[day.isin([10, 11])]
    return {
        "middle": middle,
        "later": pd.concat([later, later.iloc[1:4]]),  # copies within one file
        # rows staged before: from the first file's last day (an earlier day would move the late
        # file's look-back before every published row), and from the in-order file
        "earlier": pd.concat([earlier, landing[day == 9].iloc[:3], later.iloc[6:8]]),
    }


def _compare_script(
    step: str, hook: Any, settings: Any, catalog: Any, parameters: dict[str, str]
) -> list[Any]:
    """Run ``step``'s script statement by statement on one local connection; each CREATE's query
    also on the reference engine over the tables it names. Returns every value that differs."""
    script = render_sql(SQL_FILES[step], settings)
    if step == "staging":
        assert len(PSEUDONYM.findall(script)) == 1, "the pseudonym macro no longer renders as expected"
    script = comparable(script)
    parted: list[Any] = []
    compared = []
    conn = hook.get_conn()
    try:
        for statement in split_statements(script):
            assert analyze_script(SQL_FILES[step], statement, catalog, keep_temporary=True) == []
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
    """The statement itself, on the local connection (its table is read by the next ones), with
    the schema of a dataset it creates a table in, as the hook makes it."""
    make_dataset_schema(conn, statement)
    duck = transpile_statement(statement)
    conn.execute(duck, bound_parameters(duck, parameters) or None)


@pytest.fixture(scope="module")
def scenarios(tmp_path_factory) -> dict[str, Any]:
    """Differences per file and script: the first file, the in-order one, then the late one."""
    settings, hook, catalog = local_warehouse(tmp_path_factory.mktemp("reference_increment"))
    found: dict[str, Any] = {}
    for name, landing in _files().items():
        run_id = f"r_{name}"
        load_landing(hook, settings, landing, f"{name}.csv", run_id=run_id)
        bounds = plan_increment(DuckDBWarehouse(settings, settings.warehouse_path), settings, run_id)
        parameters = increment_parameters(bounds, run_id)
        found[f"{name} plan"] = bounds["older_until"]
        for step in CREATES:
            found[f"{name} {step}"] = _compare_script(step, hook, settings, catalog, parameters)
        found[f"{name} rejects"] = hook.get_records(
            f"SELECT reason, COUNT(*) FROM `{settings.candidate_dataset}.rejected_rows` GROUP BY reason"
        )
        hook.run(render_sql(SQL_FILES["training_examples"], settings), parameters=parameters)
        hook.run(render_sql(SQL_FILES["publish"], settings), parameters=parameters)
    return found


def _check(found: dict[str, Any], name: str, empty: set[str]) -> None:
    """Every statement that creates a table was compared (staging: two temporary tables, five
    candidates; card features: four temporary tables, two candidates), each on rows but the
    tables ``empty`` must be in this scenario, and no value differs."""
    for step, creates in CREATES.items():
        (_, compared), *parted = found[f"{name} {step}"]
        rows = dict(compared)
        assert len(rows) == creates, (step, compared)
        assert {table for table, n in rows.items() if n == 0} == empty & set(rows), (step, compared)
        assert parted == [], f"{step}: {len(parted)} values differ, e.g. {parted[:6]}"


def test_a_first_file_computes_as_googlesql_does(scenarios):
    # nothing was staged before it, and no card has published rows before its look-back
    _check(scenarios, "middle", empty={"staged_before", "earlier"})


def test_an_in_order_file_computes_as_googlesql_does(scenarios):
    assert scenarios["later plan"] == "0001-01-01"  # the in-order path: no older staging read
    _check(scenarios, "later", empty={"staged_before"})  # its copies are inside the file


def test_a_late_file_computes_as_googlesql_does(scenarios):
    assert scenarios["earlier plan"] != "0001-01-01"  # the late path: state rebuilt
    _check(scenarios, "earlier", empty=set())


def test_the_files_reach_rejects_and_copies(scenarios):
    """The files exercise what 20 decides, not only clean rows: tricky values rejected for their
    reasons, copies inside a file, and rows staged by an earlier file sent again."""
    reasons = {name: dict(scenarios[f"{name} rejects"]) for name in ("middle", "later", "earlier")}
    assert {"bad_label", "bad_numeric_field", "bad_card_checksum"} <= set(reasons["middle"]), reasons
    assert reasons["later"].get("duplicate_transaction_id", 0) >= 3, reasons
    assert reasons["earlier"].get("duplicate_transaction_id", 0) >= 5, reasons
