"""The landing file contract: a CSV with exactly these columns, in this order.

It follows the Kaggle credit-card-fraud data (``time``, ``v1``..``v28``, ``amount``,
``class``) plus the fields a card network would send: transaction id, event time, card
number, merchant and merchant category. The generator writes it, the file validation
enforces it, and the raw table and BigQuery load schema are built from it. A file that
passed validation travels to the load tasks as a :class:`LandedFile`.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import asdict, dataclass
from typing import Any

from fraud_mlops.features import V_COMPONENTS
from fraud_mlops.pseudonym import normalise_card_number

LANDING_COLUMNS: tuple[str, ...] = (
    "transaction_id",
    "event_time",
    "card_number",
    "merchant",
    "merchant_category",
    "time",
    *V_COMPONENTS,
    "amount",
    "class",
)

#: The raw table adds these to every landed row, to trace it to its file.
RAW_METADATA_COLUMNS: tuple[str, ...] = (
    "_file_name",
    "_file_generation",
    "_file_md5",
    "_run_id",
    "_loaded_at",
)

MAX_AMOUNT = 50_000  # larger amounts are rejected as absurd
EVENT_TIME_FORMAT = "%Y-%m-%d %H:%M:%S"  # UTC, as BigQuery's canonical TIMESTAMP text


#: A card number as it may stand in a landed line: 12-19 digits, any run of spaces or dashes
#: between them. Staging strips every space and dash before its checks (``20_staging.sql``), so
#: ``4111 - 1111 - 1111 - 1111`` is a card to it, and must be one to the redaction too.
_CARD_LIKE = re.compile(r"(?<![0-9])[0-9](?:[ -]*[0-9]){11,18}(?![0-9])")


def redact_card_numbers(text: str) -> str:
    """``text`` with every card-like run of digits cut to its last four.

    For messages a loader writes about a landed file's lines: DuckDB's CSV errors quote the
    failing line and the lines after it ("Original Line: …"), and BigQuery's load errors may
    quote a field. Such a message goes to a task log and XCom, where no card number may be.
    """
    return _CARD_LIKE.sub(lambda m: "…" + normalise_card_number(m.group())[-4:], text)


class LoadRefused(RuntimeError):
    """A load refused a landed file that validation accepted: the two parsers disagree about its
    bytes, so every retry and every later run would fail the same way, and hold back the other
    files' rows. The file is quarantined with ``reason`` and ``detail`` instead (no card number
    in clear: callers pass text through :func:`redact_card_numbers`)."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


class LoadMismatchError(LoadRefused):
    """A load read a different number of rows than validation counted as good (either target:
    the two parsers disagree about the file's records)."""

    def __init__(self, detail: str) -> None:
        super().__init__("load_mismatch", detail)


def bigquery_load_schema() -> list[dict[str, str]]:
    """Every landing column as a nullable STRING: typing and rules happen in staging SQL."""
    return [{"name": c, "type": "STRING", "mode": "NULLABLE"} for c in LANDING_COLUMNS]


#: Names of a file's per-file tables: its load table (raw dataset: card numbers in clear) and
#: the table of its unparseable lines (the dataset). Nothing else is named so: a run holding the
#: transform lease drops every such table an earlier run left (``Warehouse.drop_leftover_load_tables``).
LOAD_TABLE_PREFIX = "raw_load_"
REJECT_TABLE_PREFIX = "reject_load_"


@dataclass(frozen=True)
class LandedFile:
    """A landed object that passed file-level validation; what the load tasks receive."""

    bucket: str
    name: str
    generation: str
    md5: str
    size: int
    rows: int  # good data rows: what the load must load
    bad_lines: int = 0  # unparseable lines, rejected (the load skips exactly these)
    compression: str | None = None  # "gzip": BigQuery and DuckDB read the object as it is

    @property
    def uri(self) -> str:
        return f"gs://{self.bucket}/{self.name}"

    @property
    def table_key(self) -> str:
        """Names this file's load tables: its content and its object. A retry of its load writes
        the same tables; the same content landed twice (two names, or generations) in one run
        writes two, so each append finds its own (the second logs the content as a duplicate),
        where one table by content was dropped by the first append under the second."""
        obj = hashlib.sha256(f"{self.uri}#{self.generation}".encode()).hexdigest()[:8]
        return f"{self.md5[:16]}_{obj}"

    @property
    def load_table(self) -> str:
        """Per-file load table (:attr:`table_key`), in the raw dataset."""
        return f"{LOAD_TABLE_PREFIX}{self.table_key}"

    @property
    def reject_table(self) -> str | None:
        """Per-file table of its unparseable lines (written by validation), if it has any."""
        return f"{REJECT_TABLE_PREFIX}{self.table_key}" if self.bad_lines else None

    @property
    def base_name(self) -> str:
        return self.name.rsplit("/", 1)[-1]

    def to_xcom(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "uri": self.uri,
            "load_table": self.load_table,
            "reject_table": self.reject_table,
        }

    @classmethod
    def from_xcom(cls, data: dict[str, Any]) -> LandedFile:
        optional = {k: data[k] for k in ("bad_lines", "compression") if k in data}
        return cls(
            **{k: data[k] for k in ("bucket", "name", "generation", "md5", "size", "rows")}, **optional
        )
