"""Drive the event-driven DAG of a running Airflow over its REST API (demo, bench, tests).

Airflow registers an asset's watcher trigger when it parses the DAG file, and only while the
DAG is unpaused. Unpausing alone therefore starts nothing until the next parse (up to the
``min_file_process_interval``); :func:`activate` asks for that parse at once and waits for the
watcher. Standard library plus the project's API client only.
"""

from __future__ import annotations

import time
import urllib.parse
from collections.abc import Collection
from typing import Any

from devtools.stack.airflow_api import AirflowAPI
from fraud_mlops.events.notification import LandingNotification, from_asset_event_extras
from fraud_mlops.events.watcher import ASSET_NAME

EVENTS_DAG = "fraud_ingest_events"


def _reparse(api: AirflowAPI, dag_id: str) -> None:
    token = api.request("GET", f"/dags/{dag_id}/details")["file_token"]
    api.request("PUT", f"/parseDagFile/{urllib.parse.quote(token, safe='')}")


def watcher_count(api: AirflowAPI) -> int:
    assets = api.request("GET", f"/assets?name_pattern={ASSET_NAME}&limit=10")["assets"]
    return sum(len(a.get("watchers") or []) for a in assets if a["name"] == ASSET_NAME)


def activate(api: AirflowAPI, dag_id: str = EVENTS_DAG, timeout: float = 180) -> None:
    """Unpause the event-driven DAG and wait until its Pub/Sub watcher is registered."""
    api.wait_for_dags([dag_id], timeout=timeout)
    api.set_paused(dag_id, False)
    _reparse(api, dag_id)
    deadline = time.monotonic() + timeout
    while watcher_count(api) == 0:
        if time.monotonic() > deadline:
            raise TimeoutError(f"no watcher on {ASSET_NAME} {timeout:.0f} s after unpausing {dag_id}")
        time.sleep(1)


def deactivate(api: AirflowAPI, dag_id: str = EVENTS_DAG, timeout: float = 180) -> None:
    """Pause the DAG and wait until its watcher stops pulling (notifications then wait in Pub/Sub)."""
    api.set_paused(dag_id, True)
    _reparse(api, dag_id)
    deadline = time.monotonic() + timeout
    while watcher_count(api) > 0:
        if time.monotonic() > deadline:
            raise TimeoutError(
                f"the watcher on {ASSET_NAME} still runs {timeout:.0f} s after pausing {dag_id}"
            )
        time.sleep(1)


def consumed_events(api: AirflowAPI, run_id: str, dag_id: str = EVENTS_DAG) -> list[dict[str, Any]]:
    """The asset events (with the Pub/Sub payload in ``extra``) that started a run."""
    quoted = urllib.parse.quote(run_id, safe="")
    return list(api.request("GET", f"/dags/{dag_id}/dagRuns/{quoted}/upstreamAssetEvents")["asset_events"])


def notifications_of_run(api: AirflowAPI, run_id: str, dag_id: str = EVENTS_DAG) -> list[LandingNotification]:
    return from_asset_event_extras(e.get("extra") or {} for e in consumed_events(api, run_id, dag_id))


def wait_for_object_run(
    api: AirflowAPI,
    object_name: str | Collection[str],
    *,
    exclude: set[str] | frozenset[str] = frozenset(),
    timeout: float = 120,
    dag_id: str = EVENTS_DAG,
) -> dict[str, Any]:
    """The first run (not in ``exclude``) started by a notification about ``object_name`` (or
    about any of several names: Pub/Sub does not promise the order of their notifications)."""
    wanted = {object_name} if isinstance(object_name, str) else set(object_name)
    checked: set[str] = set(exclude)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for run in sorted(api.runs(dag_id), key=lambda r: r["run_after"]):
            run_id = run["dag_run_id"]
            if run_id in checked or not run.get("start_date"):
                # Airflow 3.3's upstreamAssetEvents answers HTTP 500 while a run it lists has
                # no start date yet (the response model requires one): look once it started.
                continue
            checked.add(run_id)  # a run's events are fixed when it is created
            if wanted & {n.object_name for n in notifications_of_run(api, run_id, dag_id)}:
                return run
        time.sleep(0.5)
    raise TimeoutError(f"no {dag_id} run for {object_name} after {timeout:.0f} s")
