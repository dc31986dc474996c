"""Validation counts fields a block of lines at a time, with the same results as line by line.

The line-by-line scan is the reference: it is what validation did before blocks and what it
still does for lines the block count leaves undecided and for blocks with a lone "\\r".
"""

from __future__ import annotations

import csv
import gzip
import itertools

import pandas as pd
import pytest

from devtools.generator.synth import GeneratorConfig, generate
from fraud_mlops.ingestion import landed_files
from fraud_mlops.ingestion.landed_files import BadLineLimits, FileCheck, check_landing_csv
from fraud_mlops.ingestion.line_blocks import field_counts
from tests.ingestion.test_bad_lines_and_gzip import with_broken_lines

SHORT_LINES = ["".join(chars) for n in range(10) for chars in itertools.product('a,"', repeat=n)]


def _csv_module(line: str) -> int | str:
    try:
        return len(next(csv.reader([line], strict=True))) if line else 0
    except csv.Error:
        return "broken_quoting"


def test_decided_lines_have_the_csv_modules_count() -> None:
    """Every line of up to nine characters from ``a , "`` in one block: each line the block
    decides has the csv module's field count, and the undecided ones are those the csv module
    rejects or whose quotes do not delimit whole fields."""
    counts = field_counts(("\n".join(SHORT_LINES) + "\n").encode())
    assert len(counts.fields) == len(SHORT_LINES) == 29_524
    decided = {
        line: int(n)
        for line, n, blank, undecided in zip(
            SHORT_LINES, counts.fields, counts.blank, counts.undecided, strict=True
        )
        if not blank and not undecided
    }
    assert {line: _csv_module(line) for line in decided} == decided
    assert [line for line, blank in zip(SHORT_LINES, counts.blank, strict=True) if blank] == [""]
    undecided = [line for line, u in zip(SHORT_LINES, counts.undecided, strict=True) if u]
    assert all('"' in line for line in undecided)
    # the block decides the plainly quoted lines too, not only those without quotes
    assert {'"a","a"', '","', '""""', '"a""a",a'} <= decided.keys()
    assert {_csv_module(line) for line in undecided} >= {"broken_quoting", 1, 2}


def test_line_ranges_drop_the_line_end() -> None:
    block = b'a,b\r\n\r\n"x",y\n\n'
    counts = field_counts(block)
    lines = [block[s:e] for s, e in zip(counts.starts, counts.ends, strict=True)]
    assert lines == [b"a,b", b"", b'"x",y', b""]
    assert counts.fields.tolist()[0::2] == [2, 2] and counts.blank.tolist() == [False, True, False, True]


def line_by_line(data: bytes, limits: BadLineLimits | None = None) -> FileCheck:
    """The reference: every line counted one by one (the block path switched off)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(landed_files, "has_lone_carriage_return", lambda block: True)
        return check_landing_csv(data, limits)


@pytest.fixture(scope="module")
def landing() -> pd.DataFrame:
    return generate(GeneratorConfig(rows=3_000, fraud_rate=0.02, seed=33, rows_per_card=20)).landing


def _files(landing: pd.DataFrame) -> dict[str, bytes]:
    clean = landing.to_csv(index=False).encode()
    broken, _ = with_broken_lines(landing, at=(2, 1_000, 3_001))
    lines = broken.splitlines(keepends=True)
    odd_quotes = b"".join(
        line.replace(b",", b',"a" ', 1) if i % 7 == 0 else line for i, line in enumerate(lines)
    )  # a quote that does not close its field: the csv module decides these lines
    return {
        "clean": clean,
        "broken lines": broken,
        "crlf": broken.replace(b"\n", b"\r\n"),
        "blank lines": b"".join(line + (b"\n" if i % 5 == 0 else b"") for i, line in enumerate(lines)),
        "no final newline": broken.rstrip(b"\n"),
        "a lone carriage return": broken.replace(b"\n", b"\r", 3),
        "odd quoting": odd_quotes,
        "csv module quoting": landing.to_csv(index=False, quoting=csv.QUOTE_ALL).encode(),
        "not utf-8 mid-file": lines[0] + b"".join(lines[1:1_500]) + b"\xff\xfe" + b"".join(lines[1_500:]),
        "too many bad lines": b"".join(
            line.replace(b",", b";", 1) if i % 3 else line for i, line in enumerate(lines)
        ),
        "header only": lines[0],
        "blank first line": b"\n" + clean,
    }


@pytest.mark.parametrize("block_bytes", [97, 4_096, landed_files.SCAN_BLOCK_BYTES])
def test_a_file_scans_to_the_same_check_by_blocks_as_line_by_line(landing, monkeypatch, block_bytes) -> None:
    """Same rows, bad lines (numbers, reasons, details), reasons to quarantine; blocks smaller
    than a line too (97 bytes: every line straddles blocks), and gzip."""
    monkeypatch.setattr(landed_files, "SCAN_BLOCK_BYTES", block_bytes)
    limits = BadLineLimits(max_share=0.01, max_count=50)
    for name, data in _files(landing).items():
        for variant in (data, gzip.compress(data)):
            by_blocks, reference = check_landing_csv(variant, limits), line_by_line(variant, limits)
            if name == "not utf-8 mid-file":  # loads, the bytes as U+FFFD, as BigQuery's load does
                assert (by_blocks.ok, by_blocks.not_utf8_lines, by_blocks.first_not_utf8_line) == (
                    True,
                    1,
                    1501,
                )
            assert by_blocks == reference, name
    assert check_landing_csv(_files(landing)["broken lines"]).rows == 2_997


def test_most_lines_of_a_generated_file_are_decided_in_blocks(landing, monkeypatch) -> None:
    """The speed comes from deciding lines in blocks: a generated file (quoted strings) must not
    fall back to the line-by-line count."""
    calls = []
    monkeypatch.setattr(landed_files, "_field_count", lambda line: calls.append(line) or 36)
    check = check_landing_csv(landing.to_csv(index=False, quoting=csv.QUOTE_NONNUMERIC).encode())
    assert check.ok and check.rows == 3_000 and calls == []
