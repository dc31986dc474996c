"""BigQuery JSON schemas of the tables infra/ declares, rendered from include/sql/00_setup.sql.

The ingestion SQL owns the table definitions; OpenTofu declares the same tables on gcp (so
they exist, partitioned and protected, before the first DAG run). Rendering the schemas from
the SQL keeps one definition: ``python -m scripts.table_schemas`` writes them and
``--check`` fails when the committed JSON no longer matches the SQL.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from fraud_mlops.settings import REPO_ROOT, settings_from_env

SCHEMA_DIR = REPO_ROOT / "infra" / "modules" / "bigquery" / "schemas"
SETUP_SQL = "00_setup.sql"


def _field(name: str, type_sql: str) -> dict[str, str]:
    """One BigQuery schema field; ``ARRAY<T>`` is a REPEATED ``T``."""
    type_sql = type_sql.upper()
    if type_sql.startswith("ARRAY<") and type_sql.endswith(">"):
        return {"name": name, "type": type_sql[len("ARRAY<") : -1], "mode": "REPEATED"}
    return {"name": name, "type": type_sql, "mode": "NULLABLE"}


def render_schemas() -> dict[str, list[dict[str, str]]]:
    """Table id -> schema fields, for every CREATE TABLE in the setup SQL (gcp rendering)."""
    import sqlglot
    from sqlglot import exp

    from fraud_mlops.sql_templates import render_sql

    settings = settings_from_env({"MLOPS_TARGET": "gcp", "GCP_PROJECT": "schema-render"})
    schemas: dict[str, list[dict[str, str]]] = {}
    for statement in sqlglot.parse(render_sql(SETUP_SQL, settings), read="bigquery"):
        if not (isinstance(statement, exp.Create) and statement.kind == "TABLE"):
            continue
        schema = statement.this
        table_id = schema.this.name
        schemas[table_id] = [
            _field(column.name, column.args["kind"].sql("bigquery")) for column in schema.expressions
        ]
    return schemas


def serialise(fields: list[dict[str, Any]]) -> str:
    return json.dumps(fields, indent=2) + "\n"


def write_schemas(directory: Path = SCHEMA_DIR) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for table_id, fields in sorted(render_schemas().items()):
        path = directory / f"{table_id}.json"
        path.write_text(serialise(fields))
        written.append(path)
    return written


def stale_schemas(directory: Path = SCHEMA_DIR) -> list[str]:
    """Tables whose committed JSON differs from the SQL (or is missing / left over)."""
    rendered = {f"{t}.json": serialise(f) for t, f in render_schemas().items()}
    on_disk = {p.name: p.read_text() for p in directory.glob("*.json")} if directory.is_dir() else {}
    return sorted(n for n in rendered.keys() | on_disk.keys() if rendered.get(n) != on_disk.get(n))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.table_schemas", description=__doc__)
    parser.add_argument("--check", action="store_true", help="fail if the committed schemas are stale")
    args = parser.parse_args(argv)
    if args.check:
        stale = stale_schemas()
        if stale:
            print(f"stale table schemas: {', '.join(stale)}; run `make infra-schemas`", file=sys.stderr)
            return 1
        print("table schemas match include/sql/00_setup.sql")
        return 0
    for path in write_schemas():
        print(f"wrote {path.relative_to(REPO_ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
