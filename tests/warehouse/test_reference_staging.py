"""Landed rows are parsed, validated and rejected as Google's reference engine does it.

Whether a landed row is staged or rejected, and with which reason, must not depend on the
target: ``staging + rejected = raw`` holds on both, but only this shows it is the same split.
The full refresh's validation query (``tests/reference/full_refresh/20_staging.sql``, the
``checked`` table: every raw row parsed, with its reject reason or none; the incremental
``include/sql/20_staging.sql`` applies the same rules) runs on ZetaSQL's reference
implementation of GoogleSQL and on the local warehouse over generated rows, a third of them
given values where engines part (blanks and tabs, underscores and hex in numbers, timestamp
forms, card numbers with separators or a bad check digit, labels like `` 1`` or ``0x1``), and
every parsed value and reason of every row is compared.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pandas as pd
import pytest

from devtools.generator.synth import GeneratorConfig, generate
from fraud_mlops.landing_schema import LANDING_COLUMNS
from fraud_mlops.warehouse.transpile import split_statements
from tests.landing_values import with_tricky_values
from tests.reference.full_refresh_sql import reference_sql
from tests.reference_engine import (
    created,
    differences,
    insert,
    local_rows,
    local_warehouse,
    reference_rows,
)

COMPARED = [
    "transaction_id", "event_time", "card_digits", "merchant", "merchant_category", "time_seconds", "v1",
    "v2", "amount", "is_fraud", "raw_event_time", "raw_amount", "reject_reason",
]  # fmt: skip


def landed_rows(rows: int = 300, seed: int = 11) -> pd.DataFrame:
    """Generated landing rows as strings, one in three with one tricky value, unique ids."""
    rng = np.random.default_rng(seed)
    frame = generate(GeneratorConfig(rows=rows, seed=seed)).landing[list(LANDING_COLUMNS)]
    frame = with_tricky_values(frame.astype(str).reset_index(drop=True), rng, every=3)
    frame["_row"] = [f"r{i:04d}" for i in range(rows)]  # compared by this, ids can be blank
    return frame


@pytest.fixture(scope="module")
def checked(tmp_path_factory) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The ``checked`` rows of the same raw rows: (reference, local)."""
    settings, hook, catalog = local_warehouse(tmp_path_factory.mktemp("reference_staging"))
    raw_table = f"{settings.raw_dataset}.raw_transactions"
    landed = landed_rows()
    raw = landed.drop(columns="_row").assign(
        _file_name=landed["_row"],  # carried through checked: the key of the comparison
        _file_generation="1",
        _file_md5="md5",
        _run_id="run",
        _loaded_at=pd.Timestamp(dt.datetime(2026, 11, 20, tzinfo=dt.UTC)),
    )

    insert(hook, raw_table, raw)
    statement = split_statements(reference_sql(settings)[0])[0]
    found = created(statement)
    assert found and found[0] == "checked", statement[:200]
    query = found[1]
    local = local_rows(hook, query)
    reference = reference_rows(query, catalog, {raw_table: raw})
    return reference, local


def test_every_row_is_parsed_and_rejected_as_googlesql_does(checked):
    reference, local = checked
    parted = differences(reference, local, "_file_name", COMPARED)
    assert parted == [], f"{len(parted)} differ, e.g. {parted[:6]}"


def test_the_rows_reach_every_reason(checked):
    """Tricky values reach the parse paths they were written for: most reasons occur, and so do
    rows staged only because BigQuery reads a value DuckDB alone would refuse."""
    reference, _ = checked
    reasons: Any = set(reference["reject_reason"].dropna())
    assert {"missing_transaction_id", "bad_event_time", "bad_card_number", "bad_card_checksum",
            "missing_merchant", "bad_amount", "bad_label", "bad_numeric_field"} <= reasons  # fmt: skip
    staged = reference[reference["reject_reason"].isna()]
    assert len(staged) > 150
    assert staged["raw_amount"].eq(" 12.5 ").any() or staged["raw_amount"].eq("1e2").any()
