"""A small client of Airflow 3's REST API (``/api/v2``) for the demo and the end-to-end tests.

Standard library only. The local stack runs with ``simple_auth_manager_all_admins`` on
127.0.0.1, so requests need no token there.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from typing import Any

TERMINAL_RUN_STATES = {"success", "failed"}


#: How Airflow's API answers an error of its metadata DB (api_fastapi/common/exceptions.py).
DATABASE_ERROR = b'"reason":"Database error"'


class AirflowAPIError(RuntimeError):
    pass


class AirflowAPI:
    #: A request that can be repeated without changing its result (a GET, or a write of an
    #: absolute value such as pausing a DAG) is sent again when it times out, this many times in
    #: all: on a 2-core machine whose neighbours take the CPU the api-server has gone 30 s
    #: without an answer while tasks ran (a browser test's GET failed so, 2026-12-04, and a
    #: stack test's unpause, its PATCH). A trigger (POST) is sent once.
    ATTEMPTS = 3
    #: A repeatable request the api-server answered ``500 Database error`` is sent again after
    #: this pause: the local metadata DB is SQLite, and a write that waited out its 30 s lock
    #: behind another writer fails so (a demo's unpause on a loaded 2-core VM, 2026-12-07).
    BUSY_PAUSE_SECONDS = 2.0

    def __init__(self, base_url: str, timeout: float = 60):
        """``timeout``: more than the local metadata DB's 30 s lock wait
        (devtools/stack/sqlite.py), which a write behind the scheduler's may spend in full."""
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout

    def request(
        self, method: str, path: str, body: dict[str, Any] | None = None, *, idempotent: bool | None = None
    ) -> Any:
        """``idempotent`` (default: for GET, PUT and DELETE) lets a timed-out request be sent again."""
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(
            f"{self.base_url}/api/v2{path}",
            data=data,
            method=method,
            headers={"Content-Type": "application/json"},
        )
        repeatable = method in ("GET", "PUT", "DELETE") if idempotent is None else idempotent
        attempts = self.ATTEMPTS if repeatable else 1
        for attempt in range(1, attempts + 1):
            try:
                with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                    raw = resp.read()
                break
            except urllib.error.HTTPError as err:
                answer = err.read()[:500]
                if err.code == 500 and DATABASE_ERROR in answer and attempt < attempts:
                    # the metadata DB's write lock waited out (SQLite: one writer at a time)
                    print(f"[airflow-api] {method} {path}: the metadata DB was busy; asking again")
                    time.sleep(self.BUSY_PAUSE_SECONDS)
                    continue
                raise AirflowAPIError(f"{method} {path}: HTTP {err.code}: {answer!r}") from err
            except TimeoutError:
                if attempt == attempts:
                    raise
                print(f"[airflow-api] {method} {path} timed out after {self.timeout:.0f} s; asking again")
        return json.loads(raw) if raw else None

    def dag_ids(self) -> list[str]:
        return [d["dag_id"] for d in self.request("GET", "/dags?limit=100")["dags"]]

    def import_errors(self) -> list[dict[str, Any]]:
        return list(self.request("GET", "/importErrors")["import_errors"])

    def wait_for_dags(self, dag_ids: list[str], timeout: float = 180) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            errors = self.import_errors()
            if errors:
                raise AirflowAPIError(f"DAG import errors: {errors}")
            if set(dag_ids) <= set(self.dag_ids()):
                return
            time.sleep(1)
        raise TimeoutError(f"DAGs {dag_ids} not parsed after {timeout:.0f} s")

    def set_paused(self, dag_id: str, paused: bool) -> None:
        self.request("PATCH", f"/dags/{dag_id}", {"is_paused": paused}, idempotent=True)

    def trigger(self, dag_id: str, conf: dict[str, Any] | None = None) -> str:
        run = self.request("POST", f"/dags/{dag_id}/dagRuns", {"logical_date": None, "conf": conf or {}})
        return str(run["dag_run_id"])

    def runs(self, dag_id: str) -> list[dict[str, Any]]:
        return list(self.request("GET", f"/dags/{dag_id}/dagRuns?order_by=-run_after&limit=50")["dag_runs"])

    def run(self, dag_id: str, run_id: str) -> dict[str, Any]:
        return dict(self.request("GET", f"/dags/{dag_id}/dagRuns/{urllib.parse.quote(run_id, safe='')}"))

    def task_instances(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        quoted = urllib.parse.quote(run_id, safe="")
        return list(
            self.request("GET", f"/dags/{dag_id}/dagRuns/{quoted}/taskInstances?limit=200")["task_instances"]
        )

    def xcom(
        self, dag_id: str, run_id: str, task_id: str, key: str = "return_value", map_index: int = -1
    ) -> Any:
        quoted = urllib.parse.quote(run_id, safe="")
        entry = self.request(
            "GET",
            f"/dags/{dag_id}/dagRuns/{quoted}/taskInstances/{task_id}/xcomEntries/{key}?map_index={map_index}",
        )
        return entry["value"]

    def wait_for_run(
        self,
        dag_id: str,
        run_id: str,
        timeout: float = 900,
        on_progress: Callable[[dict[str, int]], None] | None = None,
    ) -> dict[str, Any]:
        """Poll until the run ends; reports task-state counts as they change."""
        deadline = time.monotonic() + timeout
        last: dict[str, int] = {}
        while time.monotonic() < deadline:
            run = self.run(dag_id, run_id)
            if on_progress:
                counts: dict[str, int] = {}
                for ti in self.task_instances(dag_id, run_id):
                    state = ti["state"] or "none"
                    counts[state] = counts.get(state, 0) + 1
                if counts != last:
                    on_progress(counts)
                    last = counts
            if run["state"] in TERMINAL_RUN_STATES:
                return run
            time.sleep(2)
        raise TimeoutError(f"{dag_id} run {run_id} did not finish in {timeout:.0f} s")

    def first_run_after(
        self, dag_id: str, predicate: Callable[[dict[str, Any]], bool], timeout: float
    ) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for run in self.runs(dag_id):
                if predicate(run):
                    return run
            time.sleep(1)
        raise TimeoutError(f"no matching {dag_id} run after {timeout:.0f} s")
