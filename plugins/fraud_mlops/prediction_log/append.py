"""The one append of staged answers to ``prediction_log``, on both targets.

``83_prediction_log.sql`` skips a row already logged, so its MERGE must look for repeats; on
BigQuery a MERGE bills every partition of its target its merge condition does not rule out, and
the log grows by a day of answers every day. A repeat is the same row staged again (a retried
load, the sink copy's overlap), with the logged_at it was logged with, or a card a rerun of a
scoring run scored again, logged where the run was first logged; so the MERGE looks from a day
before the earliest of those: the constant is found first (``97_prediction_log_incoming.sql``).
The batch scores are those scored after their run's last record, read from
``card_predictions``' days since the last append that logged a run
(``98_prediction_log_batch_from.sql``): it keeps every run. The MERGE takes only the rows 97
counted (``incoming_from``): a rerun committed between the two waits for the next append.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from fraud_mlops.settings import Settings

if TYPE_CHECKING:
    from fraud_mlops.warehouse.base import Warehouse

#: How far before the earliest incoming row the MERGE looks for a repeat: a client re-sending a
#: request id (X-Request-Id) within it is skipped, as every copy was when the whole log was read.
REPEAT_WINDOW = timedelta(days=1)
#: How long before the last append that logged a scoring run a run not logged yet may have
#: scored: it committed after that append began (80's transaction, minutes at most).
SCORING_MARGIN = timedelta(days=1)


def append_staged(warehouse: Warehouse, settings: Settings) -> str | None:
    """Append the staged rows and the batch scores not yet logged; return the instant the MERGE
    read the log from (None: nothing incoming, no MERGE)."""
    from fraud_mlops.sql_templates import EARLIEST_INSTANT, render_sql, sql_instant
    from fraud_mlops.warehouse.base import first_value, timestamp_utc

    # first, also when nothing is incoming: an erasure's record is kept no longer than needed
    warehouse.execute(render_sql("99_card_erasures_expiry.sql", settings))
    last_logged = first_value(warehouse.records(render_sql("98_prediction_log_batch_from.sql", settings)))
    batch_from = (
        EARLIEST_INSTANT if last_logged is None else sql_instant(timestamp_utc(last_logged) - SCORING_MARGIN)
    )
    earliest = first_value(
        warehouse.records(render_sql("97_prediction_log_incoming.sql", settings, batch_from=batch_from))
    )
    if earliest is None:
        print("nothing to append: no staged answer and no batch score")
        return None
    logged_from = sql_instant(timestamp_utc(earliest) - REPEAT_WINDOW)
    print(
        f"appending to prediction_log; batch scores from {batch_from}, repeats looked for from {logged_from} on"
    )
    # the batch rows 97 counted (a rerun committed since waits for the next append)
    incoming_from = sql_instant(timestamp_utc(earliest))
    sql = render_sql(
        "83_prediction_log.sql",
        settings,
        logged_from=logged_from,
        batch_from=batch_from,
        incoming_from=incoming_from,
    )
    warehouse.execute(sql)
    return logged_from
