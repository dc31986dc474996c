"""``python -m devtools.erase_card CARD_NUMBER`` (``make erase-card CARD=…``): right to erasure, locally.

Runs the steps of the ``fraud_erase_card`` DAG directly against the local stack: the SQL
(``96_erase_card.sql``: raw, rejected rows, published tables, the models' answers and batch
scoring's input; candidates and batch output dropped; the erasure recorded), the landed
files in the GCS emulator that hold it (not yet ingested, archived, quarantined: rewritten
without the card's rows), and a fresh online-store
version without the card. Needs the stack's GCS emulator (``make up``). Like the DAG it holds
the transform lease throughout, so no ingestion run can read a landed file or write the
warehouse between its steps (a DAG run takes the command's lease over only after an hour:
``transform_lease.COMMAND_LEASE_MAX_AGE``); unlike the DAG it does not wait for a run in
flight: it stops, naming the holder (a holder whose run has died is taken over by the next DAG
run that claims it: the erase DAG does). DuckDB admits one writer at a time: a batch scoring or
monitoring task writing at that moment (they hold no lease) makes a statement fail with
DuckDB's lock error; run it again. Prints only the last four digits.
"""

from __future__ import annotations

import os
import sys
from typing import Any


class LeaseHeld(RuntimeError):
    """An ingestion run (or another erasure) holds the transform lease."""


def erase_card(card_number: str, storage_client: Any = None) -> dict[str, Any]:
    from devtools.landing import storage_client as default_client
    from fraud_mlops.feature_store.records import ERASURE_SOURCE
    from fraud_mlops.feature_store.sync import sync_local_online_store
    from fraud_mlops.ingestion.erasure import card_digits, erase_from_landed_files, served_after_erasure
    from fraud_mlops.ingestion.transform_lease import COMMAND_HOLDER, Holder, claim, release
    from fraud_mlops.settings import get_settings
    from fraud_mlops.sql_templates import SQL_FILES, render_sql
    from fraud_mlops.warehouse.duckdb import DuckDBWarehouse

    settings = get_settings()
    digits = card_digits(card_number)
    warehouse = DuckDBWarehouse(settings, settings.warehouse_path)
    warehouse.execute(render_sql(SQL_FILES["setup"], settings))  # the lease's row, on a fresh warehouse
    me = Holder(COMMAND_HOLDER, f"pid-{os.getpid()}")  # held against DAG runs for an hour at most
    other = claim(warehouse, settings, me, is_active=lambda holder: True)
    if other is not None:
        raise LeaseHeld(
            f"the transform lease is held by {other}: run this again when that run has ended, or "
            "trigger the fraud_erase_card DAG, which waits for it (and takes over a lease whose run died)"
        )
    try:
        dropped = warehouse.drop_leftover_load_tables()  # a failed run's, maybe holding the card
        warehouse.execute(render_sql(SQL_FILES["erase_card"], settings), {"card_number": digits})
        client = storage_client or default_client(settings)
        unreadable: dict[str, str] = {}
        files = erase_from_landed_files(client, settings, digits, unreadable)
        record = sync_local_online_store(ERASURE_SOURCE, settings)
        still_served = served_after_erasure(settings, digits)  # the DAG's confirm_card_not_served
    finally:
        release(warehouse, settings, me)
    return {
        "card_last4": digits[-4:],
        "load_tables_dropped": dropped,
        "files_rewritten": files,
        "files_unreadable": unreadable,
        "online_store_sync": record.sync_id,
        "online_store_still_serves": still_served is not None,
    }


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print(__doc__)
        return 2
    from fraud_mlops.ingestion.erasure import ErasureRequestError

    try:
        result = erase_card(args[0])
    except (ErasureRequestError, LeaseHeld) as bad:
        raise SystemExit(str(bad)) from None
    print(
        f"card …{result['card_last4']} erased from raw, staging, features, training examples, "
        "the prediction log and batch scores"
    )
    for table in result["load_tables_dropped"]:
        print(f"  {table}: a load table an earlier run left behind, dropped")
    for name, count in result["files_rewritten"].items():
        print(f"  {name}: {count} row(s) removed")
    for name, why in result["files_unreadable"].items():
        print(f"  {name}: NOT READ ({why}); it may hold the card: delete it")
    if result["online_store_still_serves"]:
        print(f"  online store: new version {result['online_store_sync']}, and it STILL ANSWERS for the card")
    else:
        print(f"  online store: new version {result['online_store_sync']} without the card")
    if result["files_unreadable"]:
        print("the erasure is not complete until the files NOT READ are deleted")
    return 1 if result["files_unreadable"] or result["online_store_still_serves"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
