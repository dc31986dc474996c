"""One ingestion run at a time, whichever DAG runs it, and none during an erasure.

The sensor, event and daily DAGs each run one run at a time, but together they could run
three: their runs share the candidate tables, and a run's incremental features read the
published state its own plan saw. Two runs interleaving (B's staging between A's staging and
A's features, or B's publish between A's plan and A's publish) published features computed
from another run's candidates, or applied one file's merchant state twice. The one-slot local
pool did not prevent it either: it keeps tasks apart, not runs. And an erasure of a card between
a run's reading of a landed file and its append (or its staging read and its publish, or its
sync's read and write) let the card's rows back after the delete.

So an ingestion run claims a lease kept in the warehouse (``transform_lease``, one row;
``include/sql/12``-``14``) before it lists the landed files, and a teardown after its
online-store sync gives it back, also when a step between fails; an erasure holds it from its
delete to its sync (the tasks: :mod:`fraud_mlops.orchestration.lease`). The claim is one ``UPDATE`` of that row, on both targets (see 13 for why two
claims cannot both win). A holder whose DAG run is no longer queued or running (killed before
its teardown ran) is taken over; :func:`claim` asks Airflow for that run's state.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from fraud_mlops.settings import Settings
from fraud_mlops.sql_templates import SQL_FILES, render_sql
from fraud_mlops.warehouse.base import Warehouse


@dataclass(frozen=True)
class Holder:
    dag_id: str
    run_id: str
    claimed_at: Any = None

    def same_run(self, other: Holder | None) -> bool:
        return other is not None and (self.dag_id, self.run_id) == (other.dag_id, other.run_id)

    def __str__(self) -> str:
        return f"{self.dag_id} / {self.run_id} (since {self.claimed_at})"


#: The holder name of ``make erase-card`` (devtools/erase_card.py), which is no DAG: Airflow
#: counts no run of it, so a DAG run's claim would take its lease over at once. It is held for
#: as long as such a command may run, then taken over (the command was killed).
COMMAND_HOLDER = "make erase-card"
COMMAND_LEASE_MAX_AGE = timedelta(hours=1)


def holder_is_active(
    holder: Holder, runs_in_flight: Callable[[Holder], int], now: datetime | None = None
) -> bool:
    """Whether ``holder`` still holds the lease: its DAG run is queued or running
    (``runs_in_flight``: Airflow's count of that run in those states), or it is the local
    erasure command and claimed it less than :data:`COMMAND_LEASE_MAX_AGE` ago."""
    if holder.dag_id == COMMAND_HOLDER:
        claimed = holder.claimed_at
        if claimed is not None and claimed.tzinfo is None:
            claimed = claimed.replace(tzinfo=UTC)
        return claimed is not None and (now or datetime.now(UTC)) - claimed < COMMAND_LEASE_MAX_AGE
    return runs_in_flight(holder) > 0


def holder(warehouse: Warehouse, settings: Settings) -> Holder | None:
    """The run holding the lease, or ``None`` when it is free."""
    rows = warehouse.records(render_sql(SQL_FILES["lease_holder"], settings))
    if not rows:
        raise RuntimeError(
            f"the transform lease row is missing from {settings.dataset_ref}.transform_lease "
            "(00_setup.sql seeds it; setup_tables runs first in every ingestion run)"
        )
    held = [Holder(dag_id, run_id, claimed_at) for dag_id, run_id, claimed_at in rows if run_id is not None]
    return held[0] if held else None


#: Claims in one poke: another is needed only when the run that won the row between this run's
#: read and its UPDATE has given it back again before the read after.
CLAIM_ATTEMPTS = 3


def claim(
    warehouse: Warehouse, settings: Settings, me: Holder, is_active: Callable[[Holder], bool]
) -> Holder | None:
    """Claim the lease for ``me``; ``None`` if ``me`` holds it now, else the run that does.

    ``is_active(holder)``: whether the holder's DAG run is still queued or running. A holder
    that is not gave up the lease by dying, and is taken over.
    """
    for _ in range(CLAIM_ATTEMPTS):
        current = holder(warehouse, settings)
        if me.same_run(current):
            return None
        if current is not None and is_active(current):
            return current
        stale = current or Holder("", "")
        warehouse.execute(
            render_sql(SQL_FILES["lease_acquire"], settings),
            parameters={
                "dag_id": me.dag_id,
                "run_id": me.run_id,
                "stale_dag_id": stale.dag_id,
                "stale_run_id": stale.run_id,
            },
        )
        after = holder(warehouse, settings)
        if after is not None:
            return None if me.same_run(after) else after
    raise RuntimeError(f"the transform lease changed hands {CLAIM_ATTEMPTS} times during one claim")


def release(warehouse: Warehouse, settings: Settings, me: Holder) -> None:
    """Give the lease back if ``me`` holds it (nothing otherwise: a takeover, or no claim)."""
    warehouse.execute(
        render_sql(SQL_FILES["lease_release"], settings),
        parameters={"dag_id": me.dag_id, "run_id": me.run_id},
    )
