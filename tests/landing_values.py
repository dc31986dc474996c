"""Landing values where SQL engines part: what the reference-engine tests put in landed rows.

Each is a string a card network's export could carry and that BigQuery and DuckDB (or sqlglot's
transpilation) have read differently at some point: blanks and tabs, Unicode spaces, `_` and hex
in numbers, timestamp forms, card numbers with separators or a bad check digit, labels like
`` 1`` or ``0x1``. ``tests/warehouse/test_reference_staging.py`` and
``test_reference_increment.py`` compare the local warehouse with ZetaSQL on rows carrying them.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

#: Values where engines have parted, by landing column (a row takes one of them).
TRICKY: dict[str, list[str]] = {
    "transaction_id": ["  ", "\ttab-led", "id\u3000", ""],
    "event_time": [
        "2026-11-01 10:00:00.5", "2026-11-01T10:00:00Z", "2026-11-01 10:00:00+05:30", "2026-11-01",
        "2026/11/01 10:00:00", "2026-11-01 10:00", "2026-11-01 24:00:00", "2026-2-3 1:2:3",
        " 2026-11-01 10:00:00", "2026-11-01 10:00:00.1234567", "1969-12-31 23:59:59",
    ],
    "card_number": ["4111 1111 1111 1111", "4111-1111-1111-1111", "4111111111111112", "41111", "4111\t1111"],
    "merchant": [" ", "\tShop", "Shop\u00a0", ""],
    "time": ["1_000", "0x10", " 12 ", "1e3", "inf", "NaN"],
    "v1": ["1_0", "0x1.8p1", "-0x1F", ".5", "5.", "\t-1.5\n", "1,5"],
    "amount": ["1_000", "0x10", " 12.5 ", "1e2", "-3", "12.3456789012", "99999999999999999999999999999.5", ""],
    "class": [" 1", "0x1", "+0", "1.0", "2", "-0", "\t0\n", "1_0"],
}  # fmt: skip


def with_tricky_values(
    frame: pd.DataFrame, rng: np.random.Generator, every: int, columns: Sequence[str] = tuple(TRICKY)
) -> pd.DataFrame:
    """``frame`` (landing rows as strings) with one of ``columns`` of every ``every``-th row set
    to one of its tricky values, chosen by ``rng``; the frame is changed in place and returned."""
    for position in range(0, len(frame), every):
        column = columns[int(rng.integers(0, len(columns)))]
        frame.iloc[position, frame.columns.get_loc(column)] = TRICKY[column][
            int(rng.integers(0, len(TRICKY[column])))
        ]
    return frame
