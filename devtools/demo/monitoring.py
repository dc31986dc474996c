"""The monitoring part of ``make demo`` (and helpers the canary stack test shares).

After serving: traffic with a drifted batch → ``fraud_monitoring`` → drift verdict, report path,
the alert raised; then a deliberately bad canary (it flags every transaction) is deployed,
served, judged and rolled back automatically while the champion keeps serving; last, the
fraud-ops dashboard is written.
"""

from __future__ import annotations

import time
from typing import Any

MONITORING_DAG = "fraud_monitoring"
TERMINAL = {"success", "failed"}


def unpause_and_settle(api: Any, dag_id: str = MONITORING_DAG, wait_for_first: float = 20.0) -> None:
    """Unpause the DAG and let the run its schedule creates on unpausing finish first.

    A time-scheduled DAG gets a run for its latest interval when unpaused; a run triggered with
    a demo's or test's conf must not race it (``max_active_runs=1`` would queue one behind it).
    """
    api.set_paused(dag_id, False)
    deadline = time.monotonic() + wait_for_first
    while time.monotonic() < deadline and not api.runs(dag_id):
        time.sleep(1)
    for run in api.runs(dag_id):
        if run["state"] not in TERMINAL:
            api.wait_for_run(dag_id, run["dag_run_id"], timeout=900)


def run_monitoring(api: Any, conf: dict[str, Any], timeout: float = 900) -> tuple[str, dict[str, Any]]:
    """Trigger ``fraud_monitoring`` with ``conf`` and wait; return the run id and its final state."""
    run_id = api.trigger(MONITORING_DAG, conf=conf)
    run = api.wait_for_run(MONITORING_DAG, run_id, timeout=timeout)
    return run_id, run
