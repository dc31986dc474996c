"""The local warehouse: the official DuckDB hook, speaking BigQuery SQL.

:class:`BigQueryDialectDuckDBHook` subclasses the DuckDB provider's hook so connection
handling, resource limits and extensions stay the provider's. It adds what the local target
needs to run the project's BigQuery SQL unchanged: transpilation (:mod:`.transpile`; each
statement's DuckDB form is kept beside the database file for the next task's process), UTC
sessions, BigQuery-style named parameters (``@name``), a dataset's schema before its first table
(datasets are infrastructure: infra/ makes them on gcp, and no SQL here creates one), and
table snapshots/clones, which DuckDB lacks. Snapshots become immutable Parquet files under ``snapshot_dir`` with a view of
the snapshot's name over them, so every later reader (kfp.local components, the feature sync)
can read a snapshot without taking DuckDB's single-writer lock. Every connection also gets the
keyed pseudonym function (:mod:`.keyed_udf`), unwrapping keysets through the local stand-in
of Cloud KMS unless a test passes its own ``kek_resolver``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow.providers.duckdb.hooks.duckdb import IN_MEMORY_DATABASE, DuckDBHook

if TYPE_CHECKING:
    from airflow.sdk import Connection

    from fraud_mlops.pseudonym import KekResolver
    from fraud_mlops.warehouse.transpile import CloneDDL

# sqlglot (~0.3-1 s to import) is loaded on first use, not when a DAG file imports the
# operator: DAG parsing must stay cheap.


class DataQualityError(AssertionError):
    """An ``ASSERT`` in the SQL failed; the message names the check."""


class SnapshotExistsError(RuntimeError):
    """BigQuery refuses to overwrite a snapshot; so does the local warehouse."""


class BigQueryDialectDuckDBHook(DuckDBHook):
    """Run BigQuery Standard SQL on a DuckDB database file."""

    hook_name = "DuckDB (BigQuery SQL)"

    def __init__(
        self,
        *args: Any,
        snapshot_dir: str | os.PathLike[str] | None = None,
        kek_resolver: KekResolver | None = None,
        **kwargs: Any,
    ):
        super().__init__(*args, **kwargs)
        self._snapshot_dir = Path(snapshot_dir) if snapshot_dir else None
        self._kek_resolver = kek_resolver

    @cached_property
    def airflow_connection(self) -> Connection | None:
        """No connection when a database file is given and no connection id: the provider looked
        up its default connection anyway and logged that it would use an in-memory database,
        which it did not (benches and tests build hooks with ``database=``)."""
        if self.database and self.get_conn_id() == self.default_conn_name:
            return None
        return super().airflow_connection

    @property
    def snapshot_dir(self) -> Path:
        if self._snapshot_dir is not None:
            return self._snapshot_dir
        configured = self.connection_extra.get("snapshot_dir")
        if configured:
            return Path(configured)
        return Path(self.get_database()).parent / "snapshots"

    def get_conn(self) -> Any:
        conn = super().get_conn()
        # Setting TimeZone in connect(config=...) fails offline (it wants the ICU extension
        # download); after connect it works and makes TIMESTAMP behave like BigQuery's UTC.
        conn.execute("SET TimeZone='UTC'")
        # The local warehouse is rebuilt often and read once: on a 2-core laptop, compressing
        # every write cost ~3x the load time (bench/bench_transform.py). Disk is cheaper here.
        conn.execute("SET force_compression='uncompressed'")
        # Every increment appends a partly filled row group to each table it grows, and the
        # checkpoint's vacuum (duckdb#9931) merges two such neighbours every other day, rewriting
        # them: 300k-row files wrote ~0.6 GB and took 2-6 s more on alternate days, the last day
        # of bench/bench_incremental.py among them. Without it, deleted rows (reruns, late files,
        # erasure) stay as tombstones in their row groups (DuckDB already kept them while under a
        # quarter of their neighbours' rows).
        conn.execute("SET max_vacuum_tasks=0")
        conn.execute("SET enable_progress_bar=false")
        # No SQL here reads rows in insertion order (every order is an ORDER BY; the training
        # dataset sorts by event time and id), as on BigQuery, which keeps none: without it
        # DuckDB writes a loaded file and its raw append in parallel, 3.79 -> 2.95 s for 1M rows
        # (medians of 4 alternating runs on this VM).
        conn.execute("SET preserve_insertion_order=false")
        from fraud_mlops.warehouse import keyed_udf

        keyed_udf.register(conn, self._kek_resolver or _local_kek_resolver())
        return conn

    def transpile(self, statement: str) -> str:
        """BigQuery → DuckDB SQL; for a database file, kept beside it for the next task's process."""
        from fraud_mlops.warehouse.transpile import transpile_cached, transpile_statement

        database = self.get_database()
        if database == IN_MEMORY_DATABASE or database.startswith("md:"):  # md: MotherDuck
            return transpile_statement(statement)
        return transpile_cached(statement, Path(database).parent / "transpiled")

    def run(  # type: ignore[override]
        self,
        sql: str | Iterable[str],
        autocommit: bool = False,
        parameters: Mapping[str, Any] | None = None,
        handler: Callable[[Any], Any] | None = None,
        split_statements: bool = True,
        return_last: bool = True,
    ) -> Any:
        """Transpile and run every statement in one connection; mirrors ``DbApiHook.run``."""
        from fraud_mlops.warehouse.transpile import (
            bound_parameters,
            parse_assert,
            parse_clone_ddl,
            parse_set_expiration,
        )
        from fraud_mlops.warehouse.transpile import split_statements as split_script

        scripts = [sql] if isinstance(sql, str) else list(sql)
        statements = [s for script in scripts for s in split_script(script)]
        results: list[Any] = []
        datasets: set[str] = set()  # whose schema this connection made sure of
        conn = self.get_conn()
        try:
            for statement in statements:
                make_dataset_schema(conn, statement, datasets)
                clone = parse_clone_ddl(statement)
                if clone is not None:
                    self._clone(conn, clone)
                    results.append(None)
                    continue
                expiring = parse_set_expiration(statement)
                if expiring is not None:  # local snapshot files never expire: nothing to extend
                    self.log.info("expiration of %s: BigQuery metadata, none locally", expiring)
                    results.append(None)
                    continue
                check = parse_assert(statement)
                if check is not None:
                    self._assert(conn, check.check_sql, check.message, parameters)
                    results.append(None)
                    continue
                duck_sql = self.transpile(statement)
                params = bound_parameters(duck_sql, parameters)
                self.log.debug("DuckDB: %s", duck_sql)
                cursor = conn.execute(duck_sql, params) if params else conn.execute(duck_sql)
                if handler is not None:
                    results.append(handler(cursor))
        finally:
            conn.close()
        if handler is None:
            return None
        return results[-1] if return_last and results else results

    def get_records(self, sql: str, parameters: Mapping[str, Any] | None = None) -> list[tuple[Any, ...]]:  # type: ignore[override]
        return self.run(sql, parameters=parameters, handler=lambda cur: cur.fetchall())

    def get_df(self, sql: str, parameters: Mapping[str, Any] | None = None) -> Any:  # type: ignore[override]
        """Last statement's result as a pandas DataFrame."""
        return self.run(sql, parameters=parameters, handler=lambda cur: cur.df())

    def _assert(self, conn: Any, check_sql: str, message: str, parameters: Mapping[str, Any] | None) -> None:
        from fraud_mlops.warehouse.transpile import bound_parameters

        duck_sql = self.transpile(check_sql)
        params = bound_parameters(duck_sql, parameters)
        row = conn.execute(duck_sql, params).fetchone() if params else conn.execute(duck_sql).fetchone()
        if not row or row[0] is not True:
            raise DataQualityError(message)
        self.log.info("passed: %s", message.split(":")[0])

    def snapshot_path(self, table: str) -> Path:
        return self.snapshot_dir / f"{table}.parquet"

    def _clone(self, conn: Any, clone: CloneDDL) -> None:
        conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{clone.target_schema}"')
        if not clone.snapshot:
            conn.execute(
                f"CREATE TABLE {'IF NOT EXISTS ' if clone.if_not_exists else ''}"
                f'"{clone.target_schema}"."{clone.target_table}" AS SELECT * FROM {_quote(clone.source)}'
            )
            return
        path = self.snapshot_path(clone.target_table)
        if path.exists():
            if not clone.if_not_exists:
                raise SnapshotExistsError(
                    f"Snapshot {clone.target} already exists ({path}); snapshots are immutable"
                )
            # an earlier try may have died between the file and its view: without the view every
            # retry's lineage read of the snapshot failed, and so did the run
            self._snapshot_view(conn, clone, path)
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".parquet.partial")
        conn.execute(f"COPY (SELECT * FROM {_quote(clone.source)}) TO '{partial}' (FORMAT parquet)")
        partial.chmod(0o444)
        os.replace(partial, path)  # readers never see a half-written snapshot
        self._snapshot_view(conn, clone, path)
        self.log.info("Snapshot %s written to %s (read-only)", clone.target, path)

    @staticmethod
    def _snapshot_view(conn: Any, clone: CloneDDL, path: Path) -> None:
        """The snapshot's name in the warehouse: a view of its read-only Parquet file."""
        conn.execute(
            f'CREATE OR REPLACE VIEW "{clone.target_schema}"."{clone.target_table}" AS '
            f"SELECT * FROM read_parquet('{path}')"
        )


def _local_kek_resolver() -> KekResolver:
    from fraud_mlops.pseudonym import local_kek_resolver
    from fraud_mlops.settings import get_settings

    return local_kek_resolver(get_settings().local_dir)


def make_dataset_schema(conn: Any, statement: str, made: set[str] | None = None) -> None:
    """The schema of the dataset a ``CREATE`` statement makes a table or view in, unless in ``made``.

    Datasets are infrastructure: infra/ makes them on gcp, and no SQL here creates one
    (:func:`fraud_mlops.warehouse.transpile.dataset_created_in` says why).
    """
    from fraud_mlops.warehouse.transpile import dataset_created_in

    dataset = dataset_created_in(statement)
    if dataset is None or (made is not None and dataset in made):
        return
    conn.execute(f"CREATE SCHEMA IF NOT EXISTS {_quote(dataset)}")
    if made is not None:
        made.add(dataset)


def _quote(dotted: str) -> str:
    return ".".join(f'"{part}"' for part in dotted.split("."))
