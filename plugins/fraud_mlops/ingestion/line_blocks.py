"""CSV field counts of a block of whole lines at once (numpy), for streaming validation.

Counting a landed file's fields line by line in Python cost ~2.7 µs a line on a quiet VM, the
MD5 and UTF-8 check included (bench/bench_validation.py: 0.81 s for 300k lines, 117 MB). Over
a block of bytes the same counts are a few passes of numpy (0.32 s). Only lines whose quoting is
plain are decided here: every quote opens a field (after a comma, the line's start or a
doubled quote) or closes one (before a comma, the line's end or a doubled quote), an even
number of them. Any other line is left ``undecided`` for the line-by-line count, which
decides it with the csv module (landed_files._field_count): the same results, by test
(tests/ingestion/test_line_blocks.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

NEWLINE, CARRIAGE_RETURN, QUOTE, COMMA = 10, 13, 34, 44


@dataclass(frozen=True)
class LineCounts:
    """Per line of the block: its content's byte range, field count, and whether it is blank or
    left to the line-by-line count (then ``fields`` means nothing)."""

    starts: np.ndarray
    ends: np.ndarray  # exclusive, without the line's "\n" or "\r\n"
    fields: np.ndarray
    blank: np.ndarray
    undecided: np.ndarray


def has_lone_carriage_return(block: bytes) -> bool:
    """A "\\r" not followed by "\\n" ends a line when Python reads text with ``newline=""``: such
    blocks are read line by line, so that lines are cut where they always were."""
    return b"\r" in block and block.count(b"\r") != block.count(b"\r\n")


def field_counts(block: bytes) -> LineCounts:
    """Counts of ``block``: whole lines, each ending in "\\n", with no lone "\\r"."""
    if not block.endswith(b"\n"):
        raise ValueError("a block holds whole lines: it must end with a newline")
    a = np.frombuffer(block, dtype=np.uint8)
    newlines = np.flatnonzero(a == NEWLINE)
    n = len(newlines)
    starts = np.empty(n, dtype=np.int64)
    starts[0] = 0
    starts[1:] = newlines[:-1] + 1
    ends = newlines - ((a[np.maximum(newlines - 1, 0)] == CARRIAGE_RETURN) & (newlines > starts))
    # commas up to each byte: a line's commas, and a quoted span's, are differences of it
    commas_to = np.cumsum(a == COMMA, dtype=np.int32)
    at_newlines = commas_to[newlines]
    outside = np.diff(at_newlines, prepend=0).astype(np.int64)
    undecided = np.zeros(n, dtype=bool)
    quotes = np.flatnonzero(a == QUOTE)
    if len(quotes):
        quote_line = np.searchsorted(newlines, quotes)
        rank = np.arange(len(quotes)) - np.searchsorted(quotes, starts)[quote_line]
        opening = (rank & 1) == 0
        before = a[np.maximum(quotes - 1, 0)]
        after = a[quotes + 1]  # a quote is never a block's last byte (that is "\n")
        plain = np.where(
            opening,
            (quotes == starts[quote_line]) | (before == COMMA) | (before == QUOTE),
            (quotes + 1 == ends[quote_line]) | (after == COMMA) | (after == QUOTE),
        )
        odd = (np.bincount(quote_line, minlength=n) & 1) == 1
        undecided = odd | (np.bincount(quote_line[~plain], minlength=n) > 0)
        # the commas between each opening quote and the next quote of its line are quoted
        pairs = np.flatnonzero(opening[:-1] & (quote_line[1:] == quote_line[:-1]))
        quoted = commas_to[quotes[pairs + 1]] - commas_to[quotes[pairs]]
        outside -= np.bincount(quote_line[pairs], weights=quoted, minlength=n).astype(np.int64)
    return LineCounts(starts, ends, outside + 1, ends == starts, undecided)
