"""The warehouse seam: what business code and DAG builders ask of the warehouse.

Two implementations, chosen once by :mod:`fraud_mlops.targets`: BigQuery on gcp
(:mod:`.bigquery`) and DuckDB speaking BigQuery SQL locally (:mod:`.duckdb`). Callers pass the
same BigQuery Standard SQL (rendered from ``include/sql/``) to either; only these adapters know
which engine answers. The operator factories build the tasks that run the project's SQL files
and per-file loads, so a DAG builder never names a provider operator.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import pyarrow as pa

    from fraud_mlops.landing_schema import LoadRefused

Row = tuple[Any, ...]


def sql_template(sql_file: str, variables: Mapping[str, str] | None = None) -> str:
    """What a SQL task hands Airflow to render: ``include/sql/<sql_file>``, after ``variables``
    (name → Jinja expression) are set for it (an included template sees them)."""
    sets = "".join(f"{{% set {name} = {expression} %}}" for name, expression in (variables or {}).items())
    return f"{sets}{{% include '{sql_file}' %}}"


class RefusedFiles(Protocol):
    """What a load task does about a file its load refuses (orchestration quarantines it)."""

    def quarantine(
        self, file: dict[str, Any], refused: LoadRefused, context: dict[str, Any]
    ) -> dict[str, Any]:
        """The task's XCom for ``file`` (its XCom dict), which the load refused."""
        ...

    def quarantined_earlier(self, file: dict[str, Any], context: dict[str, Any]) -> dict[str, Any] | None:
        """The task's XCom when an earlier try of this task quarantined ``file`` (it died after
        the move): the load is not run again. ``None`` otherwise."""
        ...


def timestamp_utc(value: Any) -> datetime:
    """A ``TIMESTAMP`` of a query's rows as an aware UTC instant, whichever engine answered:
    DuckDB gives a naive UTC datetime, BigQuery's client an aware one, its REST rows RFC 3339 text."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if not isinstance(value, datetime):
        raise TypeError(f"not a TIMESTAMP: {value!r}")
    return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)


def first_value(rows: Sequence[Row]) -> Any:
    """A one-value query's answer: the first column of its first row, or None for no row (an
    aggregate over no rows answers NULL, None too)."""
    return rows[0][0] if rows else None


class Warehouse(Protocol):
    """One warehouse, addressed with BigQuery SQL; parameters are named STRING values (``@name``)."""

    @property
    def pool(self) -> str:
        """The Airflow pool of tasks that write the warehouse (DuckDB allows one writer)."""
        ...

    def records(self, sql: str, parameters: Mapping[str, str] | None = None) -> list[Row]:
        """Rows of the last statement of ``sql``."""
        ...

    def execute(
        self,
        sql: str,
        parameters: Mapping[str, str] | None = None,
        *,
        labels: Mapping[str, str] | None = None,
    ) -> None:
        """Run a script (DDL/DML) to completion; ``labels`` tag BigQuery's job (its history's filter)."""
        ...

    def read_arrow(self, sql: str) -> pa.Table:
        """A read-only query's result as Arrow (feature sync, batch scoring)."""
        ...

    def row_count(self, table: str) -> int:
        """Rows in ``dataset.table``, from the table's metadata where the engine keeps it.

        For totals over tables that refuse a query without a partition filter: on BigQuery a
        ``COUNT(*)`` with one reads the partitioning column of every partition (8 bytes a row of
        history, on every run), while the table's metadata answers for nothing.
        """
        ...

    def replace_table(self, table: str, rows: pa.Table) -> None:
        """Replace ``dataset.table`` with ``rows`` (a staging table written from Python)."""
        ...

    def table_exists(self, table_id: str) -> bool:
        """Whether ``table_id`` (as the SQL names it: ``[project.]dataset.table``) exists.

        For tables another service creates when it first writes, e.g. the log sink's.
        """
        ...

    def snapshot_uri(self, snapshot: str) -> str:
        """Where the training pipeline reads a snapshot: ``bq://`` table or immutable Parquet file."""
        ...

    def sql_operator(
        self,
        task_id: str,
        sql_file: str,
        *,
        parameters: Mapping[str, str] | None = None,
        variables: Mapping[str, str] | None = None,
        outlets: Sequence[Any] = (),
        doc_md: str | None = None,
    ) -> Any:
        """A task running ``include/sql/<sql_file>``, rendered by Airflow with the DAG's macros.

        ``variables`` are template variables the file reads, each a Jinja expression Airflow
        renders with the task's context (e.g. an XCom pull: :func:`sql_template`)."""
        ...

    def drop_leftover_load_tables(self) -> list[str]:
        """Drop every per-file load table (raw dataset) and reject table (dataset) there is;
        returns their ``dataset.table`` names.

        Call it only while holding the transform lease: then no load is in flight, and each
        such table is one that an earlier run left behind. A load task killed mid-job leaves
        its load table, and so does a run that fails between a load and its append. Such a
        table holds a file's rows with card numbers in clear, in a dataset whose expiry goes
        by partition. Raw retention would never reach it, and an erasure would not delete it.
        """
        ...

    def load_file_operator(self, files: Any, refused_files: RefusedFiles) -> Any:
        """Mapped task: one landed CSV per map index into its per-file load table (all STRING).

        Each task instance returns its file's XCom dict, with ``loaded_rows``; for a file the
        load refused (:class:`~fraud_mlops.landing_schema.LoadRefused`), what
        ``refused_files.quarantine`` returns instead (the file quarantined, marked
        ``REFUSED_KEY``), and the task succeeds: the other files' appends go on. A retry first
        asks ``refused_files.quarantined_earlier``: an earlier try may have moved the file."""
        ...

    def append_file_operator(self, files: Any, outlets: Sequence[Any] = ()) -> Any:
        """Mapped task: each loaded file's rows appended to ``raw_transactions`` once (by content).

        The appends of a run go one at a time (``max_active_tis_per_dagrun=1``): the once-by-content
        guard of ``10_append_raw.sql`` reads ``ingestion_log``, and two concurrent transactions
        would each miss the other's row (BigQuery's snapshot isolation lets INSERT-only
        transactions commit side by side), appending a file landed twice under two names twice.
        """
        ...
