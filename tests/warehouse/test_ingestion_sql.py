"""The ingestion SQL (include/sql/) on the real local warehouse, checked against pandas."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from devtools.generator.synth import GeneratorConfig, generate
from fraud_mlops import features
from fraud_mlops.sql_templates import SQL_FILES, render_sql
from fraud_mlops.warehouse.hook import DataQualityError
from tests.reference.pandas_features import card_features as pandas_card_features
from tests.sql_chain import (
    FakeDagRun,
    backdate_load,
    check_quality,
    day_counts_of,
    load_landing,
    published_day_counts,
    snapshot,
    transform,
)


@pytest.fixture
def landing() -> pd.DataFrame:
    return generate(GeneratorConfig(rows=6_000, fraud_rate=0.02, seed=11, rows_per_card=30)).landing


def _count(hook, table: str) -> int:
    dataset = "fraud_raw" if table == "raw_transactions" else "fraud"
    return int(hook.get_records(f"SELECT COUNT(*) FROM `{dataset}.{table}`")[0][0])


def test_card_features_match_an_independent_pandas_implementation(
    warehouse, local_settings, landing, pseudonymise
):
    load_landing(warehouse, local_settings, landing, "a.csv")
    transform(warehouse, local_settings)
    sql = warehouse.get_df("SELECT * FROM `fraud.card_features` ORDER BY transaction_id").set_index(
        "transaction_id"
    )
    staging = landing.rename(columns={"class": "is_fraud"}).copy()
    staging["card_pseudonym"] = [pseudonymise(c) for c in staging["card_number"]]
    ref = pandas_card_features(staging).set_index("transaction_id").loc[sql.index]
    assert list(sql.columns) == ["card_pseudonym", "event_time", *features.FEATURE_NAMES, "is_fraud"]
    for name in features.FEATURE_NAMES:
        np.testing.assert_allclose(
            sql[name].astype(float).to_numpy(), ref[name].astype(float).to_numpy(), rtol=1e-9, err_msg=name
        )
    assert (sql["card_pseudonym"] == ref["card_pseudonym"]).all()
    assert sql["txn_count_1h"].max() > 0 and sql["is_new_merchant"].sum() > 0  # the windows see history


def test_pseudonym_in_sql_equals_the_functions_tink_pseudonym(
    warehouse, local_settings, landing, pseudonymise
):
    load_landing(warehouse, local_settings, landing.head(200), "a.csv")
    transform(warehouse, local_settings)
    rows = warehouse.get_records("SELECT transaction_id, card_pseudonym FROM `fraud.stg_transactions`")
    by_id = landing.set_index("transaction_id")["card_number"]
    assert len(rows) == 200
    for tx, pseudonym in rows:
        assert pseudonym == pseudonymise(by_id[tx])
    raw_numbers = set(by_id)
    staged = warehouse.get_df("SELECT * FROM `fraud.stg_transactions`")
    assert not raw_numbers & set(staged.astype(str).to_numpy().ravel())  # no card number leaks into staging


def test_bad_rows_are_rejected_with_reasons_and_good_rows_kept(warehouse, local_settings, landing):
    as_text = landing.astype(str)  # a landing file is text: bad values need not be numbers
    good = as_text.head(500).copy()
    bad = as_text.iloc[500:511].copy()
    bad.loc[bad.index[0], "transaction_id"] = ""
    bad.loc[bad.index[1], "card_number"] = "4111 1111 1111 1112"  # Luhn fails
    bad.loc[bad.index[2], "card_number"] = "12ab"
    bad.loc[bad.index[3], "amount"] = "-5"
    bad.loc[bad.index[4], "amount"] = "999999"
    bad.loc[bad.index[5], "event_time"] = "2099-01-01 00:00:00"
    bad.loc[bad.index[6], "event_time"] = "yesterday"
    bad.loc[bad.index[7], "class"] = "2"
    bad.loc[bad.index[8], "v3"] = "n/a"
    bad.loc[bad.index[9], "transaction_id"] = good.iloc[0]["transaction_id"]  # duplicate id
    bad.loc[bad.index[10], "event_time"] = "0001-01-02 00:00:00"
    spaced = as_text.iloc[511:512].copy()
    spaced["card_number"] = spaced["card_number"].map(lambda c: f"{c[:4]} {c[4:8]} {c[8:12]} {c[12:]}")
    load_landing(warehouse, local_settings, pd.concat([good, bad, spaced]), "mixed.csv")
    transform(warehouse, local_settings)
    reasons = dict(warehouse.get_records("SELECT transaction_id, reason FROM `fraud.rejected_rows`"))
    assert sorted(reasons.values()) == sorted([
        "missing_transaction_id", "bad_card_checksum", "bad_card_number", "negative_amount", "absurd_amount",
        "future_event_time", "bad_event_time", "bad_label", "bad_numeric_field", "duplicate_transaction_id",
        "ancient_event_time",
    ])  # fmt: skip
    assert _count(warehouse, "stg_transactions") == 501  # every good row, plus the spaced card number
    last4 = {r[0] for r in warehouse.get_records("SELECT card_last4 FROM `fraud.rejected_rows`")}
    assert all(len(x) <= 4 for x in last4)  # rejects never hold full card numbers


def test_same_file_twice_adds_nothing(warehouse, local_settings, landing):
    load_landing(warehouse, local_settings, landing, "a.csv", run_id="r1")
    transform(warehouse, local_settings)
    before = (_count(warehouse, "raw_transactions"), _count(warehouse, "stg_transactions"))
    load_landing(warehouse, local_settings, landing, "a_again.csv", run_id="r2")  # same content, new name
    transform(warehouse, local_settings)
    assert (
        (_count(warehouse, "raw_transactions"), _count(warehouse, "stg_transactions"))
        == before
        == (6000, 6000)
    )
    log = warehouse.get_records("SELECT file_name, status FROM `fraud.ingestion_log` ORDER BY logged_at")
    assert log == [("a.csv", "loaded"), ("a_again.csv", "duplicate")]


def test_an_append_run_again_after_it_finished_changes_nothing(warehouse, local_settings, landing):
    """A retried append task whose first try finished (the worker lost before it recorded
    success; on gcp each try submits a new job) runs the script again after it dropped its load
    table: that failed on every try, and the next run logged the file a duplicate of itself.
    Another run's append of a load table that is not there is still refused."""
    s = local_settings
    table, parameters = load_landing(warehouse, s, landing, "a.csv", run_id="r1")
    logged = "SELECT file_name, status, row_count, run_id FROM `fraud.ingestion_log`"
    before = (_count(warehouse, "raw_transactions"), warehouse.get_records(logged))
    assert before == (6000, [("a.csv", "loaded", 6000, "r1")])

    append = render_sql(SQL_FILES["append_raw"], s, load_table=table)
    warehouse.run(append, parameters=parameters)  # the retry
    assert (_count(warehouse, "raw_transactions"), warehouse.get_records(logged)) == before
    tables = "SELECT table_name FROM duckdb_tables() WHERE table_name LIKE 'raw_load_%'"
    assert warehouse.get_records(tables) == []  # dropped again

    with pytest.raises(DataQualityError, match="load_row_count"):
        warehouse.run(append, parameters={**parameters, "run_id": "r2"})
    assert (_count(warehouse, "raw_transactions"), warehouse.get_records(logged)) == before


@pytest.mark.parametrize("horizon", [None, 1])
def test_the_dedup_horizon_bounds_which_staged_ids_a_new_copy_is_checked_against(
    warehouse, local_settings, horizon
):
    """By default a transaction id is checked against all history; with a horizon, against the
    ids staged from that many days before the increment's look-back: a re-sent row is still
    rejected, an id re-used for an event weeks later is staged again (docs/ingestion.md)."""
    settings = dataclasses.replace(local_settings, dedup_horizon_days=horizon)
    landing = generate(GeneratorConfig(rows=3_000, days=20, seed=4)).landing.astype(str)
    landing = landing.sort_values("event_time", ignore_index=True)
    first, last = landing.iloc[:-2], landing.iloc[-2:]
    load_landing(warehouse, settings, first, "a.csv")
    transform(warehouse, settings)
    resent = first.iloc[[-1]]  # the same row again: same id, same event time
    reused = last.iloc[[0]].assign(transaction_id=first.iloc[0]["transaction_id"])  # 19 days later
    load_landing(warehouse, settings, pd.concat([resent, reused, last.iloc[[1]]]), "b.csv")
    transform(warehouse, settings, run_id="r2")
    rejected = dict(warehouse.get_records("SELECT transaction_id, reason FROM `fraud.rejected_rows`"))
    staged_twice = warehouse.get_records(
        "SELECT transaction_id FROM `fraud.stg_transactions` GROUP BY transaction_id HAVING COUNT(*) > 1"
    )
    assert rejected[resent.iloc[0]["transaction_id"]] == "duplicate_transaction_id"
    if horizon is None:
        assert rejected[reused.iloc[0]["transaction_id"]] == "duplicate_transaction_id"
        assert staged_twice == []
    else:
        assert reused.iloc[0]["transaction_id"] not in rejected
        assert staged_twice == [(reused.iloc[0]["transaction_id"],)]


def test_no_row_sees_its_own_future(warehouse, local_settings, landing):
    base = landing.head(3).astype(str)
    card = base.iloc[0]["card_number"]
    base["card_number"] = card
    base["merchant"] = ["m1", "m1", "m2"]
    base["event_time"] = ["2026-10-01 10:00:00", "2026-10-01 10:30:00", "2026-10-01 10:30:00"]
    base["amount"] = ["10", "20", "40"]
    load_landing(warehouse, local_settings, base, "t.csv")
    transform(warehouse, local_settings)
    rows = warehouse.get_df(
        "SELECT event_time, merchant_seen_flag, txn_count_1h, amount_sum_1h, seconds_since_prev_txn, merchants_seen "
        "FROM (SELECT *, is_new_merchant AS merchant_seen_flag FROM `fraud.card_features`) ORDER BY event_time, amount"
    )
    # first row: no history, only itself
    assert rows.iloc[0]["txn_count_1h"] == 1 and pd.isna(rows.iloc[0]["seconds_since_prev_txn"])
    # both 10:30 rows see the 10:00 row and themselves, never each other (same second)
    assert rows.iloc[1:]["txn_count_1h"].tolist() == [2, 2]
    assert rows.iloc[1:]["amount_sum_1h"].tolist() == [30.0, 50.0]
    assert rows.iloc[1:]["seconds_since_prev_txn"].tolist() == [1800.0, 1800.0]
    assert rows["merchant_seen_flag"].tolist() == [1, 0, 1]
    assert rows["merchants_seen"].tolist() == [1, 1, 2]


def test_quality_gate_passes_on_good_data_and_names_the_failed_check(warehouse, local_settings, landing):
    load_landing(warehouse, local_settings, landing, "a.csv")
    transform(warehouse, local_settings, publish=False)
    check_quality(warehouse, local_settings)
    warehouse.run(
        "UPDATE `fraud_candidates.training_examples` SET is_fraud = 1 WHERE MOD(CAST(amount * 100 AS INT64), 2) = 0"
    )
    with pytest.raises(DataQualityError, match="dq_label_rate"):
        check_quality(warehouse, local_settings)


def test_table_wide_checks_read_day_counts_kept_by_publish(warehouse, local_settings, landing):
    """The training table's day counts follow every publish, late days included; the checks
    about the whole table read them, and a check fails when they stop adding up to the table."""
    days = pd.to_datetime(landing["event_time"]).dt.date
    held_back = landing[days == sorted(days.unique())[len(days.unique()) // 2]].head(100)
    load_landing(warehouse, local_settings, landing.drop(held_back.index), "a.csv")
    transform(warehouse, local_settings, check=True)
    load_landing(warehouse, local_settings, held_back.head(50), "late.csv")  # a day already counted
    transform(warehouse, local_settings, run_id="r2", check=True)
    training = warehouse.get_df("SELECT * FROM `fraud.training_examples`")
    assert published_day_counts(warehouse) == day_counts_of(training)
    assert sum(n for _, n, _, _ in published_day_counts(warehouse)) == len(landing) - 50

    warehouse.run("UPDATE `fraud.training_day_counts` SET row_count = row_count + 1 WHERE row_count > 0")
    load_landing(warehouse, local_settings, held_back.tail(50), "late_too.csv")
    transform(warehouse, local_settings, run_id="r3", publish=False)
    with pytest.raises(DataQualityError, match="dq_day_counts"):
        check_quality(warehouse, local_settings)


def _published(hook) -> dict[str, list]:
    return {
        table: hook.get_records(f"SELECT * FROM `fraud.{table}` ORDER BY 1, 2")
        for table in (
            "stg_transactions",
            "rejected_rows",
            "card_features",
            "training_examples",
            "latest_card_features",
        )
    }


def test_a_warehouse_filled_before_the_day_counts_gets_them_counted_once(warehouse, local_settings, landing):
    from fraud_mlops.ingestion.training_days import ensure_day_counts
    from fraud_mlops.warehouse.duckdb import DuckDBWarehouse

    load_landing(warehouse, local_settings, landing.head(3000), "a.csv")
    transform(warehouse, local_settings, check=True)
    warehouse.run("DELETE FROM `fraud.training_day_counts` WHERE TRUE")  # as before they existed
    store = DuckDBWarehouse(local_settings, local_settings.warehouse_path)
    assert "added up to 0 of training_examples' 3,000 rows" in (
        ensure_day_counts(store, local_settings) or ""
    )
    training = warehouse.get_df("SELECT * FROM `fraud.training_examples`")
    assert published_day_counts(warehouse) == day_counts_of(training)
    assert ensure_day_counts(store, local_settings) is None  # in step: nothing done
    load_landing(warehouse, local_settings, landing.iloc[3000:], "b.csv")
    transform(warehouse, local_settings, run_id="r2", check=True)  # dq_day_counts passes


def test_candidates_failing_a_check_are_never_published(warehouse, local_settings, landing):
    load_landing(warehouse, local_settings, landing.head(3000), "a.csv")
    transform(warehouse, local_settings, check=True)
    before = _published(warehouse)
    assert len(before["training_examples"]) == 3000

    bad = landing.iloc[3000:].copy()
    bad["class"] = 1  # every new row labelled fraud: the label rate check fails
    load_landing(warehouse, local_settings, bad, "b.csv")
    transform(warehouse, local_settings, publish=False)
    assert _count(warehouse, "raw_transactions") == 6000
    with pytest.raises(DataQualityError, match="dq_label_rate"):
        check_quality(warehouse, local_settings)
    assert _published(warehouse) == before  # consumers still see the last checked data


def test_publish_is_one_transaction(warehouse, local_settings, landing):
    """A publish that fails half-way through changes no published table."""
    load_landing(warehouse, local_settings, landing.head(2000), "a.csv")
    transform(warehouse, local_settings)
    before = _published(warehouse)
    load_landing(warehouse, local_settings, landing.iloc[2000:], "b.csv")
    bounds = transform(warehouse, local_settings, publish=False)
    # the 4th table cannot be inserted: stg_transactions, rejected_rows, card_features already were
    warehouse.run(
        "CREATE OR REPLACE TABLE `fraud_candidates.training_examples` AS "
        "SELECT * EXCLUDE (amount) FROM `fraud_candidates.training_examples`"
    )
    parameters = {"loaded_from": bounds["loaded_from"], "event_from": bounds["event_from"]}
    with pytest.raises(Exception, match="column"):
        warehouse.run(render_sql(SQL_FILES["publish"], local_settings), parameters=parameters)
    assert _published(warehouse) == before


def test_snapshot_and_lineage_are_idempotent_per_run(warehouse, local_settings, landing):
    load_landing(warehouse, local_settings, landing, "a.csv")
    transform(warehouse, local_settings)
    run = FakeDagRun("manual__1")
    snapshot(warehouse, local_settings, run)
    snapshot(warehouse, local_settings, run)  # a rerun of the same DAG run
    lineage = warehouse.get_records(
        "SELECT snapshot_name, row_count, fraud_count, source_files, run_id FROM `fraud.snapshot_lineage`"
    )
    assert len(lineage) == 1
    name, rows, frauds, files, run_id = lineage[0]
    assert name.startswith("training_snapshot_20261101T120000_") and run_id == "manual__1"
    assert (rows, frauds, list(files)) == (6000, int(landing["class"].sum()), ["a.csv"])
    assert warehouse.get_records(f"SELECT COUNT(*) FROM `fraud_snapshots.{name}`")[0][0] == 6000
    # in the snapshot dataset only (the one the training pipeline may read), not beside the tables
    in_curated = (
        "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = 'fraud' AND table_name = ?"
    )
    assert warehouse.get_conn().execute(in_curated, [name]).fetchone() == (0,)


def test_lineage_counts_frauds_from_the_day_counts_and_says_unknown_when_they_moved(
    warehouse, local_settings, landing
):
    """The lineage row's frauds come from the training table's day counts (no read of the
    snapshot's labels); day counts that no longer add up to the snapshot's rows (another run
    published in between) give NULL, not another table's count."""
    load_landing(warehouse, local_settings, landing, "a.csv")
    transform(warehouse, local_settings)
    snapshot(warehouse, local_settings, FakeDagRun("manual__1"))
    warehouse.run(
        "UPDATE `fraud.training_day_counts` SET row_count = row_count + 1, label_sum = label_sum + 1"
    )
    snapshot(warehouse, local_settings, FakeDagRun("manual__2"))
    lineage = warehouse.get_records(
        "SELECT run_id, row_count, fraud_count FROM `fraud.snapshot_lineage` ORDER BY run_id"
    )
    assert lineage == [("manual__1", 6000, int(landing["class"].sum())), ("manual__2", 6000, None)]


def test_a_run_with_nothing_new_passes_the_checks_and_publishes_nothing(warehouse, local_settings, landing):
    """A re-landed file (a duplicate) gives an empty increment: empty candidates pass the checks
    (the whole-table ones see the published rows) and publishing them changes nothing."""
    load_landing(warehouse, local_settings, landing.head(3000), "a.csv")
    transform(warehouse, local_settings, check=True)
    before = _published(warehouse)
    bounds = transform(warehouse, local_settings, run_id="r2", check=True)
    assert bounds["files"] == "0"
    assert _published(warehouse) == before


def test_two_tries_of_one_append_that_overlap_commit_once(warehouse, local_settings, landing, tmp_path):
    """A retry submitted while its first try's job still runs: both read a snapshot without the
    other's log row, and two transactions that only insert would both commit (the file's rows
    twice, two ``loaded`` log rows). The append's update of the append lock's row makes them conflict,
    so one fails and the retry after it finds the file logged. Two real DuckDB connections in two
    threads; a try that reaches its COMMIT waits there until the other reached its own or failed
    (DuckDB fails the second UPDATE of the row at once)."""
    import hashlib
    import threading

    from airflow.providers.duckdb.hooks.duckdb import DuckDBHook

    from fraud_mlops.warehouse.duckdb_load import load_csv_into_table
    from fraud_mlops.warehouse.hook import BigQueryDialectDuckDBHook

    s = local_settings
    warehouse.run(render_sql(SQL_FILES["setup"], s))
    path = tmp_path / "a.csv"
    landing.to_csv(path, index=False)
    conn = warehouse.get_conn()
    try:
        rows = load_csv_into_table(conn, path, s.raw_dataset, "raw_load_a")
    finally:
        conn.close()
    parameters = {
        "file_name": "a.csv", "file_generation": "1", "file_md5": hashlib.md5(path.read_bytes()).hexdigest(),
        "run_id": "r1", "expected_rows": str(rows),
    }  # fmt: skip
    append = render_sql(SQL_FILES["append_raw"], s, load_table="raw_load_a")

    arrived, ready = threading.Condition(), set()  # the threads at their COMMIT or done

    def arrive() -> None:
        with arrived:
            ready.add(threading.get_ident())
            arrived.notify_all()

    class HeldAtCommit:
        """A connection that waits at COMMIT until both tries are at theirs or one failed."""

        def __init__(self, conn: object) -> None:
            self.conn = conn

        def execute(self, sql: str, *args: object) -> object:
            if sql.lstrip().upper().startswith("COMMIT"):
                arrive()
                with arrived:
                    assert arrived.wait_for(lambda: len(ready) >= 2, timeout=60)
            return self.conn.execute(sql, *args)  # type: ignore[attr-defined]

        def close(self) -> None:
            self.conn.close()  # type: ignore[attr-defined]

    class Try(BigQueryDialectDuckDBHook):
        def get_conn(self) -> object:
            # the provider's connection in UTC, without the keyed functions the append does not
            # use: two connections open at once share one catalog, where the second could not
            # register them again (the local target opens one at a time, in its pool)
            conn = DuckDBHook.get_conn(self)
            conn.execute("SET TimeZone='UTC'")
            return HeldAtCommit(conn)

    errors: list[BaseException] = []

    def run_try() -> None:
        hook = Try(database=str(s.warehouse_path), snapshot_dir=s.snapshot_dir)
        try:
            hook.run(append, parameters=parameters)
        except Exception as err:  # the conflict, in whichever try lost
            errors.append(err)
        finally:
            arrive()  # once done, at the latest (a set: arriving twice counts once)

    tries = [threading.Thread(target=run_try) for _ in range(2)]
    for t in tries:
        t.start()
    for t in tries:
        t.join(timeout=120)
    assert len(errors) == 1, errors  # one try committed, the other lost the conflict
    assert "conflict" in str(errors[0]).lower()
    logged = "SELECT file_name, status, row_count, run_id FROM `fraud.ingestion_log`"
    assert (_count(warehouse, "raw_transactions"), warehouse.get_records(logged)) == (
        6000,
        [("a.csv", "loaded", 6000, "r1")],
    )


def _with_bad_amounts(landing: pd.DataFrame, share: float) -> pd.DataFrame:
    """``landing`` with the first ``share`` of its rows' amounts unparseable (rejected: bad_amount)."""
    bad = landing.copy()
    bad.loc[bad.index[: int(len(bad) * share)], "amount"] = "not-a-number"
    return bad


def test_the_reject_rate_is_the_increments_share(warehouse, local_settings):
    """Raw rows expire after raw_retention_days, rejected rows never: a reject share over all
    history rose with every day of it. Here a file with 4% rejects loaded 40 days ago (its raw
    rows gone, its rejects kept) and today's with 3% gave 7% and failed every run from then on.
    The increment's share is today's 3%; a re-sent slice of today's rows (all copies) is no
    upstream break; and a small flood fails though among a month of rows it would be 1.3%."""
    old = generate(GeneratorConfig(rows=3_000, fraud_rate=0.02, seed=21, rows_per_card=30)).landing
    load_landing(warehouse, local_settings, _with_bad_amounts(old, 0.04), "old.csv", run_id="r1")
    transform(warehouse, local_settings, run_id="r1", check=True)
    backdate_load(warehouse, local_settings, "r1", days=40)
    warehouse.run(
        "UPDATE `fraud.rejected_rows` SET _loaded_at = TIMESTAMP_SUB(_loaded_at, INTERVAL 40 DAY)"
    )  # the file's rejects carry its load time

    today = generate(GeneratorConfig(rows=3_000, fraud_rate=0.02, seed=22, rows_per_card=30)).landing
    load_landing(warehouse, local_settings, _with_bad_amounts(today, 0.03), "today.csv", run_id="r2")
    transform(warehouse, local_settings, run_id="r2", check=True)  # 90 of 3,000: passes
    assert _count(warehouse, "raw_transactions") == 3_000  # the old file's raw rows expired
    assert _count(warehouse, "rejected_rows") == 120 + 90  # its rejects did not

    resent = today.iloc[500:1_500]  # good rows staged already: 1,000 copies
    load_landing(warehouse, local_settings, resent, "resent.csv", run_id="r3")
    transform(warehouse, local_settings, run_id="r3", check=True)
    reasons = warehouse.get_records("SELECT reason, COUNT(*) FROM `fraud.rejected_rows` GROUP BY reason")
    assert dict(reasons)["duplicate_transaction_id"] == 1_000

    flood = generate(GeneratorConfig(rows=200, fraud_rate=0.02, seed=23, rows_per_card=20)).landing
    load_landing(warehouse, local_settings, _with_bad_amounts(flood, 0.2), "flood.csv", run_id="r4")
    with pytest.raises(DataQualityError, match="dq_reject_rate"):
        transform(warehouse, local_settings, run_id="r4", check=True)  # 40 of its 200
