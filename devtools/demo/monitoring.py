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


def _post(url: str, payload: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    from devtools.demo.serving import post_json

    status, body = post_json(url, payload)
    return status, body if isinstance(body, dict) else {}


def deploy_bad_canary(settings: Any, percent: int = 30) -> tuple[Any, Any]:
    """The champion's own model with threshold 0: it flags every transaction as fraud."""
    from fraud_mlops.registry.artifact import read_metadata
    from fraud_mlops.registry.base import CHALLENGER, CHAMPION
    from fraud_mlops.registry.local_endpoint import LocalEndpoint, endpoint_path
    from fraud_mlops.registry.local_registry import LocalModelRegistry
    from fraud_mlops.registry.names import MODEL_NAME

    registry = LocalModelRegistry(settings.registry_dir)
    champion = registry.get(MODEL_NAME, CHAMPION)
    if champion is None:
        raise RuntimeError("no champion to put a canary beside")
    metadata = {
        **read_metadata(champion.local_dir()),
        "threshold": 0.0,
        "note": "demo: deliberately bad canary",
    }
    bad = registry.register(MODEL_NAME, champion.local_dir(), champion.artifact_uri, labels={"demo": "bad-canary"},
                            metadata=metadata, aliases=[CHALLENGER])  # fmt: skip
    split = LocalEndpoint(endpoint_path(settings.local_dir)).deploy_canary(bad, 0.0, champion, percent)
    return champion, (bad, split)


DRIFT_MERCHANTS = ("Luxury Watches Online", "Electronics Outlet 24", "Gift Cards Express")


def send_traffic(url: str, cards: list[str], n: int, seed: int, amounts: Any = None) -> dict[str, int]:
    """``n`` requests for random known cards; with ``amounts(rng)``, each request is a new
    transaction (an amount and a merchant: the function scores a transaction whole) whose
    amounts come from another distribution (drift)."""
    import random

    rng = random.Random(seed)
    answered: dict[str, int] = {}
    for _ in range(n):
        payload: dict[str, Any] = {"card_number": rng.choice(cards)}
        if amounts is not None:
            payload["amount"] = round(amounts(rng), 2)
            payload["merchant"] = rng.choice(DRIFT_MERCHANTS)
        status, body = _post(url, payload)
        key = f"v{body['model']['version']}" if status == 200 else str(status)
        answered[key] = answered.get(key, 0) + 1
    return answered


#: per window: drift figures need ~1000 rows a side (min_rows; docs/monitoring.md)
N_REQUESTS = 1000

#: the demo's evidence bar: a few hundred requests in a minute instead of hours of traffic
DEMO_CANARY_POLICY = {"min_requests": 100, "min_requests_for_rollback": 30, "min_elapsed_seconds": 30,
                      "min_shadow_pairs": 20}  # fmt: skip


def run_monitoring_demo(api: Any, settings: Any, cards: list[str]) -> dict[str, Any]:
    """Traffic with a drifted batch and a bad canary → one fraud_monitoring run → what it did."""
    import json
    from datetime import UTC, datetime

    from devtools.dashboard import write_dashboard
    from devtools.function_server import start_function_server

    result: dict[str, Any] = {}
    started = time.monotonic()
    champion, (bad, split) = deploy_bad_canary(settings)
    print(f"    deployed a deliberately bad canary: v{bad.version} (threshold 0: flags everything), "
          f"traffic {split}; champion v{champion.version}")  # fmt: skip
    env = {"MLOPS_LOCAL_DIR": str(settings.local_dir)}  # the function unwraps the local keyset
    with start_function_server(env=env) as server:
        normal = send_traffic(server.url, cards, N_REQUESTS, seed=1)
        drift_start = datetime.now(UTC)
        drifted = send_traffic(
            server.url, cards, N_REQUESTS, seed=2, amounts=lambda r: r.lognormvariate(6.5, 0.5)
        )
        print(
            f"    sent {N_REQUESTS} requests {normal}, then a drifted batch of {N_REQUESTS} (amounts ~700 instead of ~30) "
            f"{drifted}"
        )
        time.sleep(1.5)  # the function's background writers flush every second
        conf = {"current_start": drift_start.isoformat(), "reference_hours": 1,
                "canary_policy": DEMO_CANARY_POLICY}  # fmt: skip
        run_id, run = run_monitoring(api, conf)
        if run["state"] != "success":
            raise RuntimeError(f"{MONITORING_DAG} run {run_id} ended {run['state']}")
        drift = api.xcom(MONITORING_DAG, run_id, "check_drift")
        canary = api.xcom(MONITORING_DAG, run_id, "apply_canary_decision")
        print(f"    {MONITORING_DAG} run {run_id}:")
        print(f"    drift verdict: {drift['verdict']}")
        print(
            f"    drift alert: {'raised' if drift['alert']['raised'] else 'not raised'} ({drift['alert']['reason']})"
        )
        print(f"    drift report: {drift['reports']['drift']}  (result: {drift['result_file']})")
        print(f"    canary verdict: {canary['verdict']} → traffic {canary.get('traffic')}")
        for reason in canary.get("reasons", []):
            print(f"      - {reason}")
        after = send_traffic(server.url, cards, 20, seed=3)
        print(f"    the champion keeps serving: 20 more requests answered by {after}")
    alerts_file = settings.local_dir / "alerts" / "alerts.jsonl"
    alerts = (
        [json.loads(line) for line in alerts_file.read_text().splitlines()] if alerts_file.is_file() else []
    )
    recent = [a for a in alerts if a.get("run_id") == run_id]
    print(f"    alerts raised ({alerts_file}):")
    for alert in recent:
        print(f"      [{alert['severity']}] {alert['kind']}: {alert['summary'][:160]}")
    dashboard = write_dashboard(settings)
    print(f"    fraud-ops dashboard: {dashboard}")
    result["seconds"] = round(time.monotonic() - started, 1)
    print(f"    monitoring step: {result['seconds']} s")
    result.update(drift=drift, canary=canary, alerts=recent, dashboard=str(dashboard), answered_after=after)
    return result
