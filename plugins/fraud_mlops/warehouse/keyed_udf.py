"""The local twin of BigQuery's ``AEAD.DETERMINISTIC_ENCRYPT(KEYS.KEYSET_CHAIN(...), ...)``.

:mod:`.transpile` rewrites the call to ``aead_deterministic_encrypt(kms_key_uri, wrapped_keyset,
plaintext, aad)``; :func:`register` adds that function to a DuckDB connection. It does what
BigQuery does: unwrap the keyset through the key service named by the URI (here the local
stand-in of Cloud KMS, :func:`fraud_mlops.pseudonym.local_kms_aead`), then encrypt each value
with Tink's deterministic AEAD. Unwrapped keysets live in the connection's closure only.

Vectorised (Arrow in, Arrow out): a scalar Python UDF costs a Python call per row.
"""

from __future__ import annotations

from typing import Any

from fraud_mlops.pseudonym import KekResolver, Pseudonymiser, WrappedKeyset, unwrap
from fraud_mlops.warehouse.transpile import KEYED_UDF


def register(conn: Any, resolve_kek: KekResolver) -> None:
    """Register ``aead_deterministic_encrypt`` on ``conn`` (a duckdb connection)."""
    import duckdb
    import pyarrow as pa

    unwrapped: dict[tuple[str, bytes], Pseudonymiser] = {}

    def pseudonymiser(uri: str, wrapped: bytes) -> Pseudonymiser:
        ref = (uri, wrapped)
        if ref not in unwrapped:
            unwrapped[ref] = unwrap(WrappedKeyset(uri, wrapped), resolve_kek(uri))
        return unwrapped[ref]

    def encrypt(uris: Any, keysets: Any, plaintexts: Any, aads: Any) -> Any:
        out: list[bytes | None] = []
        for uri, keyset, plaintext, aad in zip(
            uris.to_pylist(), keysets.to_pylist(), plaintexts.to_pylist(), aads.to_pylist(), strict=True
        ):
            if uri is None or keyset is None or plaintext is None or aad is None:
                out.append(None)  # BigQuery: NULL in, NULL out
                continue
            out.append(pseudonymiser(uri, keyset).ciphertext(plaintext, aad))
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
