"""A second ``make demo`` in the same local directory lands new transactions, not the same file."""

from __future__ import annotations

from pathlib import Path

from devtools.demo.run import unused_seed


def test_the_demo_takes_the_first_seed_no_earlier_demo_landed(tmp_path: Path) -> None:
    assert unused_seed(tmp_path) == 42
    for seed in (42, 43):
        (tmp_path / f"transactions_seed{seed}.csv").write_text("transaction_id\n")
    (tmp_path / "transactions_seed45.csv").write_text("transaction_id\n")
    assert unused_seed(tmp_path) == 44
