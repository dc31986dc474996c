"""Run ``fraud_ingest_daily`` on the local target under ``dag.test()`` with two landed files:
a good one, and one validation accepts but the load refuses (a field that starts with a space
and then a quote, `` "The" Shop``: Python's CSV reader takes it as text, DuckDB's strict reader
refuses the file). Print what happened, as JSON.

The warehouse also holds a load table an earlier run left behind (``LEFTOVER``: a load killed
mid-job), as the run finds it. A subprocess of test_refused_load.py. Everything is real: the
DuckDB warehouse, the GCS emulator, Airflow's metadata DB.
"""

from __future__ import annotations

import csv
import io
import json
import sys
from pathlib import Path

from fraud_mlops.settings import get_settings
from tests.orchestration.probe_support import gcs_emulator, lease_test_dag

DAG_ID = "fraud_ingest_daily"
ROWS = 3_000  # the quality checks want 1,000 training rows and some fraud
REFUSED_ROWS = 40
LEFTOVER = "raw_load_0123456789abcdef_01234567"


def refused_by_the_load(path: Path) -> tuple[Path, list[str]]:
    """``path`` rewritten with one data row's merchant as `` "The" Shop``, unquoted (the first
    row with no comma inside a field): a line Python's CSV reader reads and DuckDB's strict
    reader refuses. Returns it and the file's card numbers."""
    rows = list(csv.reader(io.StringIO(path.read_text())))
    header, body = rows[0], rows[1:]
    merchant = header.index("merchant")
    shop = next(i for i, row in enumerate(body) if not any("," in field for field in row))
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    for i, row in enumerate(body):
        if i == shop:
            out.write(",".join(f if n != merchant else ' "The" Shop' for n, f in enumerate(row)) + "\n")
        else:
            writer.writerow(row)
    path.write_text(out.getvalue())
    return path, [row[header.index("card_number")] for row in body]


def main() -> None:
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    from devtools.generator.files import write_landing_csv
    from devtools.generator.synth import GeneratorConfig, generate
    from fraud_mlops.pseudonym import ensure_local_keys
    from fraud_mlops.warehouse.duckdb import DuckDBWarehouse

    settings = get_settings()
    ensure_local_keys(settings.local_dir)
    settings.warehouse_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(sys.argv[1])
    good = write_landing_csv(
        generate(GeneratorConfig(rows=ROWS, fraud_rate=0.01, seed=3)).landing,
        tmp / "day1.csv",
        show_progress=False,
    )
    refused, cards = refused_by_the_load(
        write_landing_csv(
            generate(GeneratorConfig(rows=REFUSED_ROWS, seed=4)).landing,
            tmp / "shop.csv",
            show_progress=False,
        )
    )
    warehouse = DuckDBWarehouse(settings, settings.warehouse_path)
    warehouse.execute(
        f"CREATE SCHEMA IF NOT EXISTS {settings.raw_dataset};"
        f"CREATE TABLE {settings.raw_dataset}.{LEFTOVER} AS SELECT '4000056655665556' AS card_number"
    )
    with gcs_emulator():
        gcs = storage.Client(project="fraud-prj", credentials=AnonymousCredentials())
        landing = gcs.create_bucket(settings.landing_bucket)
        gcs.create_bucket(settings.quarantine_bucket)
        landing.blob(f"{settings.landing_prefix}day1.csv").upload_from_filename(str(good))
        landing.blob(f"{settings.landing_prefix}shop.csv").upload_from_filename(str(refused))
        run = lease_test_dag(DAG_ID).test()
        landed = sorted(b.name for b in gcs.list_blobs(settings.landing_bucket))
        quarantined = {b.name: b.download_as_text() for b in gcs.list_blobs(settings.quarantine_bucket)}
    tis = run.get_task_instances()
    per_file_tables = (
        warehouse.hook()
        .get_conn()
        .execute(
            "SELECT table_schema || '.' || table_name FROM information_schema.tables "
            "WHERE starts_with(table_name, 'raw_load_') OR starts_with(table_name, 'reject_load_')"
        )
        .fetchall()
    )
    ((raw,),) = warehouse.records(f"SELECT COUNT(*) FROM `{settings.raw_dataset_ref}.raw_transactions`")
    ((staged,),) = warehouse.records(f"SELECT COUNT(*) FROM `{settings.dataset_ref}.stg_transactions`")
    summary = next(ti for ti in tis if ti.task_id == "summarise_run").xcom_pull(task_ids="summarise_run")
    print("PROBE " + json.dumps({
        "state": str(run.state),
        "states": {f"{ti.task_id}[{ti.rendered_map_index or ti.map_index}]": str(ti.state) for ti in tis},
        "landed": landed,
        "quarantined": {name: text if name.endswith(".json") else len(text) for name, text in quarantined.items()},
        "raw_rows": raw,
        "staged_rows": staged,
        "summary_quarantined": summary["quarantined_files"],
        "refused_file_cards": cards,
        "refused_file_bytes": refused.stat().st_size,
        "per_file_tables_left": per_file_tables,
    }, default=str))  # fmt: skip


if __name__ == "__main__":
    main()
