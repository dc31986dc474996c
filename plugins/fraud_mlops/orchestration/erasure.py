"""The tasks of ``fraud_erase_card``: remove one card from the warehouse, the landed files
and the online store (right to erasure).

    check_erasure_request → erase_card_rows (96_erase_card.sql) → erase_from_landed_files
                          → feature_sync (the online store without the card)
                          → confirm_card_not_served (fails the run while the online store still
                            answers for the card: a Bigtable store keeps it, on gcp)
                          + confirm_files_erased (fails the run while a file no erasure can
                            read remains: it may hold the card)

The card number comes from the run's ``card_number`` param. It necessarily reaches the
BigQuery job as a query parameter (job metadata; never the query text) and the run's conf
in Airflow's database: trigger erasures from an admin account (docs/least_privilege.md). The
tasks read it from the params when they run: no rendered template field and no log line holds
it (tests/orchestration/test_gcp_erasure_dag.py).
"""

from __future__ import annotations

import logging
from typing import Any

from airflow.sdk import task

from fraud_mlops import targets
from fraud_mlops.settings import Settings
from fraud_mlops.sql_templates import SQL_FILES

log = logging.getLogger(__name__)


def check_erasure_request(settings: Settings) -> Any:
    @task(retries=0)
    def check_erasure_request(**context: Any) -> str:
        """Refuse a request that names no valid card number before anything is deleted."""
        from fraud_mlops.ingestion.erasure import card_digits

        digits = card_digits(str(context["params"]["card_number"]))
        print(f"erasure request for card …{digits[-4:]}")
        return digits[-4:]

    return check_erasure_request()


def erase_card_rows(settings: Settings) -> Any:
    """``96_erase_card.sql``: raw rows, rejected rows, published tables, the models' answers and
    batch scoring's input; candidates and batch output dropped; the erasure recorded."""

    @task(pool=settings.warehouse_pool)
    def erase_card_rows(**context: Any) -> None:
        """Delete the card's rows from raw, rejected_rows and every published table, in one transaction.

        A Python task, not the warehouse's SQL operator: the card number is read from the run's
        params here, so no log line holds it (BigQueryInsertJobOperator logs its job
        configuration, query parameters included) and no rendered template field (kept in
        Airflow's database and shown in the UI; the local SQL operator kept its parameters as
        one). It reaches BigQuery only as the job's query parameter. What the operator gave
        and this does not: a retry does not reattach to a running job, and a killed try does
        not cancel its job (a second erase transaction then conflicts and is retried).
        """
        from fraud_mlops.ingestion.erasure import card_digits
        from fraud_mlops.sql_templates import render_sql

        digits = card_digits(str(context["params"]["card_number"]))
        targets.warehouse(settings).execute(
            render_sql(SQL_FILES["erase_card"], settings),
            {"card_number": digits},
            # the labels BigQueryInsertJobOperator gives its jobs: the erasure is found in job history
            labels={"airflow-dag": context["dag"].dag_id, "airflow-task": context["task"].task_id},
        )
        print(
            f"card …{digits[-4:]} erased from raw, rejected rows, the published tables, the prediction log "
            "and batch scores; the erasure is recorded (card_erasures)"
        )
        gap = targets.feature_store(settings).erasure_gap
        if gap is None:
            print("online store: the sync that follows writes a version without the card")
        else:
            log.warning("online store: %s", gap)

    return erase_card_rows()


def erase_from_landed_files(settings: Settings) -> Any:
    @task(pool=settings.warehouse_pool)
    def erase_from_landed_files(**context: Any) -> dict[str, int]:
        """Rewrite the landed files that hold the card (not yet ingested, archived, quarantined)
        without its rows. Files no erasure can read are named (XCom ``unreadable``, a warning
        each) for a person to delete; they do not hold back the rest or the online store, and
        ``confirm_files_erased`` fails the run on them once the store is synced."""
        from fraud_mlops.ingestion.erasure import erase_from_landed_files
        from fraud_mlops.storage import gcs_hook

        unreadable: dict[str, str] = {}
        removed = erase_from_landed_files(
            gcs_hook(settings).get_conn(), settings, str(context["params"]["card_number"]), unreadable
        )
        for uri, count in removed.items():
            print(f"rewrote {uri}: {count} row(s) removed")
        context["ti"].xcom_push(key="unreadable", value=unreadable)
        return removed

    return erase_from_landed_files()


def confirm_files_erased(settings: Settings) -> Any:
    @task(retries=0)
    def confirm_files_erased(**context: Any) -> None:
        """Fail the run, once everything else is erased and the store synced, while the erasure
        of the landed files named a file it could not read: it may hold the card, so the erasure
        is not complete, and a green run would say it was. A person deletes the files (no load
        can use them either: ingestion quarantines them) and clears ``erase_from_landed_files``
        with its downstream tasks ("only failed" unticked: Airflow runs the lease's setup and
        teardown with them), which lists every landed file again: a file an ingestion run has
        moved since (to the quarantine, to the archive) is found where it is now."""
        from airflow.sdk.exceptions import AirflowFailException

        unreadable = context["ti"].xcom_pull(task_ids="erase_from_landed_files", key="unreadable") or {}
        if unreadable:
            files = "\n".join(f"  {uri}: {why}" for uri, why in sorted(unreadable.items()))
            raise AirflowFailException(
                f"the erasure is not complete: {len(unreadable)} landed file(s) could not be read and may "
                "still hold the card; delete them, then clear erase_from_landed_files with its downstream "
                f"tasks (not only failed ones), which lists the landed files again:\n{files}"
            )
        print("no landed file holds the card: every one that did was rewritten without it")

    return confirm_files_erased()


def confirm_card_not_served(settings: Settings) -> Any:
    @task
    def confirm_card_not_served(**context: Any) -> None:
        """Fail the run, once the online store is synced, while it still answers for the card:
        the prediction function would go on scoring it from its erased features, and a green
        run would say the erasure was complete. Locally the sync wrote a version without the
        card. On gcp a Bigtable online store keeps an erased card's last record until the
        feature view is recreated (Google's documented behaviour): recreate it, sync (an
        ingestion run, or clearing this run's feature sync), then clear this task, which looks
        the card up again (docs/least_privilege.md, "Right to erasure")."""
        from airflow.sdk.exceptions import AirflowFailException

        from fraud_mlops.ingestion.erasure import card_digits, served_after_erasure

        digits = card_digits(str(context["params"]["card_number"]))
        record = served_after_erasure(settings, digits)
        if record is not None:
            gap = targets.feature_store(settings).erasure_gap or "its sync did not remove it"
            when = record.feature_timestamp
            of = f" (its record of {when:%Y-%m-%d %H:%M:%S} UTC)" if when is not None else ""
            raise AirflowFailException(
                f"the erasure is not complete: the online store still answers for card …{digits[-4:]}{of}: "
                f"{gap}; once it is gone, clear confirm_card_not_served, which looks the card up again"
            )
        print(f"the online store no longer answers for card …{digits[-4:]}")

    return confirm_card_not_served()
