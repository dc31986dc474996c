"""The DuckDB twin of BigQuery's DETERMINISTIC_ENCRYPT: memoised, and still exact.

The UDF keeps each card's ciphertext per key (a card has many rows); these tests check that
what it returns is what Tink returns for every row, whether the key is one constant (the SQL's
case), differs from row to row, or the memo was emptied on the way, and that NULL stays NULL.
"""

from __future__ import annotations

import duckdb
import pytest

from fraud_mlops.pseudonym import (
    AAD,
    WrappedKeyset,
    ensure_local_keys,
    local_kek_resolver,
    local_kms_aead,
    new_wrapped_keyset,
    unwrap,
)
from fraud_mlops.warehouse import keyed_udf

CARDS = ["4111111111111111", "4000000000000002", None, "4111111111111111", "79927398713"] * 3


@pytest.fixture
def keys(tmp_path) -> tuple[WrappedKeyset, WrappedKeyset]:
    first = ensure_local_keys(tmp_path)
    kek = local_kms_aead(first.kms_key_uri, tmp_path)
    return first, WrappedKeyset(first.kms_key_uri, new_wrapped_keyset(kek))


@pytest.fixture
def conn(tmp_path, keys):
    connection = duckdb.connect()
    keyed_udf.register(connection, local_kek_resolver(tmp_path))
    yield connection
    connection.close()


def expected(keyset: WrappedKeyset, card: str | None, tmp_path) -> bytes | None:
    if card is None:
        return None
    return unwrap(keyset, local_kms_aead(keyset.kms_key_uri, tmp_path)).ciphertext(card, AAD)


def encrypt_rows(conn, rows: list[tuple[str, bytes, str | None]]) -> list[bytes | None]:
    conn.execute("CREATE OR REPLACE TABLE t (n INTEGER, uri VARCHAR, keyset BLOB, card VARCHAR)")
    conn.executemany("INSERT INTO t VALUES (?, ?, ?, ?)", [(n, *row) for n, row in enumerate(rows)])
    return [
        None if c is None else bytes(c)
        for (c,) in conn.execute(
            f"SELECT {keyed_udf.KEYED_UDF}(uri, keyset, card, '{AAD}') FROM t ORDER BY n"
        ).fetchall()
    ]


def test_one_constant_key_gives_tinks_ciphertext_for_every_row(conn, keys, tmp_path) -> None:
    key, _ = keys
    got = encrypt_rows(conn, [(key.kms_key_uri, key.wrapped, c) for c in CARDS])
    assert got == [expected(key, c, tmp_path) for c in CARDS]
    assert got[0] == got[3] and got[2] is None


def test_a_key_per_row_never_mixes_the_memo_of_one_key_with_another(conn, keys, tmp_path) -> None:
    first, second = keys
    rows = [(k.kms_key_uri, k.wrapped, c) for c in CARDS for k in (first, second)]
    got = encrypt_rows(conn, rows)
    assert got == [expected(WrappedKeyset(uri, wrapped), c, tmp_path) for uri, wrapped, c in rows]
    assert got[0] != got[1]  # one card, two keys: two ciphertexts


def test_an_emptied_memo_changes_no_result(conn, keys, tmp_path, monkeypatch) -> None:
    key, _ = keys
    monkeypatch.setattr(keyed_udf, "MEMO_LIMIT", 2)
    got = encrypt_rows(conn, [(key.kms_key_uri, key.wrapped, c) for c in CARDS])
    assert got == [expected(key, c, tmp_path) for c in CARDS]
