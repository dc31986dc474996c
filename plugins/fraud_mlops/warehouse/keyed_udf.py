"""The local twin of BigQuery's ``DETERMINISTIC_ENCRYPT(KEYS.KEYSET_CHAIN(...), ...)``.

:mod:`.transpile` rewrites the call to ``deterministic_encrypt(kms_key_uri, wrapped_keyset,
plaintext, aad)``; :func:`register` adds that function to a DuckDB connection. It does what
BigQuery does: unwrap the keyset through the key service named by the URI (here the local
stand-in of Cloud KMS, :func:`fraud_mlops.pseudonym.local_kms_aead`), then encrypt each value
with Tink's deterministic AEAD. Unwrapped keysets live in the connection's closure only.

Vectorised (Arrow in, Arrow out): a scalar Python UDF costs a Python call per row. Memoised
per connection: a card appears in many rows (a 1M-row file has ~40k cards), and Tink's
encryption in Python, not the lookup, is what costs (about 2.3 µs a row, bench/bench_transform.py).
The staging SQL already asks once per distinct number; SQL that asks per row (the full-refresh
reference, ad-hoc queries) still pays Tink once per card.
The memo holds what the raw table already holds (card numbers, their ciphertexts) and lives as
long as the connection, like the unwrapped keysets; it is emptied when it reaches MEMO_LIMIT.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from fraud_mlops.pseudonym import KekResolver, Pseudonymiser, WrappedKeyset, unwrap
from fraud_mlops.warehouse.transpile import KEYED_UDF

#: Plaintexts one connection keeps per key and associated data at most.
MEMO_LIMIT = 1_000_000


def register(conn: Any, resolve_kek: KekResolver) -> None:
    """Register ``deterministic_encrypt`` on ``conn`` (a duckdb connection)."""
    import duckdb
    import pyarrow as pa
    import pyarrow.compute as pc

    unwrapped: dict[tuple[str, bytes], Pseudonymiser] = {}
    encrypters: dict[tuple[str, bytes, str], Callable[[str], bytes]] = {}
    # DuckDB calls the function from its worker threads at once: without the lock two of them
    # could both find the keyset not unwrapped yet and each ask the key service
    unwrapping = threading.Lock()

    def encrypter(uri: str, keyset: bytes, aad: str) -> Callable[[str], bytes]:
        """Plaintext → ciphertext under one key and associated data, memoised."""
        ref = (uri, keyset, aad)
        if ref not in encrypters:
            with unwrapping:
                if (uri, keyset) not in unwrapped:  # one key service call per keyset and connection
                    unwrapped[(uri, keyset)] = unwrap(WrappedKeyset(uri, keyset), resolve_kek(uri))
                if ref not in encrypters:
                    encrypters[ref] = _memoised(unwrapped[(uri, keyset)], aad)
        return encrypters[ref]

    def constant(values: Any) -> Any:
        """The one value of an array holding one value and no NULL (SQL constants arrive so)."""
        if len(values) and values.null_count == 0 and pc.count_distinct(values).as_py() == 1:
            return values[0].as_py()
        return None

    def encrypt(uris: Any, keysets: Any, plaintexts: Any, aads: Any) -> Any:
        uri, keyset, aad = constant(uris), constant(keysets), constant(aads)
        if uri is not None and keyset is not None and aad is not None:  # the SQL's case: one key
            encrypt_one = encrypter(uri, keyset, aad)
            return pa.array(
                [None if p is None else encrypt_one(p) for p in plaintexts.to_pylist()], type=pa.binary()
            )
        out: list[bytes | None] = []
        for uri, keyset, plaintext, aad in zip(
            uris.to_pylist(), keysets.to_pylist(), plaintexts.to_pylist(), aads.to_pylist(), strict=True
        ):
            if uri is None or keyset is None or plaintext is None or aad is None:
                out.append(None)  # BigQuery: NULL in, NULL out
                continue
            out.append(encrypter(uri, keyset, aad)(plaintext))
        return pa.array(out, type=pa.binary())

    varchar, blob = duckdb.sqltype("VARCHAR"), duckdb.sqltype("BLOB")
    conn.create_function(
        KEYED_UDF,
        encrypt,
        [varchar, blob, varchar, varchar],
        blob,
        type="arrow",
        null_handling="special",
        side_effects=False,
    )


def _memoised(pseudonymiser: Pseudonymiser, aad: str) -> Callable[[str], bytes]:
    memo: dict[str, bytes] = {}

    def encrypt_one(plaintext: str) -> bytes:
        ciphertext = memo.get(plaintext)
        if ciphertext is None:
            if len(memo) >= MEMO_LIMIT:
                memo.clear()
            ciphertext = memo[plaintext] = pseudonymiser.ciphertext(plaintext, aad)
        return ciphertext

    return encrypt_one
