"""``make demo``: the whole system end to end on the local target, then everything stopped.

1. generate a day-rich batch of card transactions (and its oracle file, kept aside);
2. start the local stack (GCS + Pub/Sub emulators, Airflow 3) unless one is already running;
3. land the file and a corrupt file beside it in the landing bucket;
4. the deferrable GCS sensor fires; the ingestion DAG loads, transforms, checks, snapshots
   and syncs the online feature store; the corrupt file is quarantined with a reason;
5. the snapshot Asset schedules training (kfp.local), which gates, registers and deploys;
6. batch scoring runs once (rows written, score quantiles, model version);
7. the prediction function answers a few real requests;
8. monitoring: traffic with a drifted batch and a deliberately bad canary, one fraud_monitoring
   run (drift verdict and report, alerts, the canary rolled back), the dashboard written;
9. a summary is printed and the stack is stopped (if the demo started it).

Environment: ``DEMO_ROWS`` (default 300000), ``DEMO_FRAUD_RATE`` (default 0.01),
``DEMO_SEED`` (default: 42, or the next seed no earlier demo in this local directory landed, so
a second ``make demo`` has new transactions to ingest), ``DEMO_KEEP_STACK=1`` to leave the stack
running.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from devtools.demo.monitoring import MONITORING_DAG
from fraud_mlops.settings import get_settings

SENSOR_DAG = "fraud_ingest_sensor"
TRAINING_DAG = "fraud_training"


def _say(msg: str) -> None:
    print(f"\n==> {msg}", flush=True)


def _progress(counts: dict[str, int]) -> None:
    print("    tasks: " + ", ".join(f"{state} {n}" for state, n in sorted(counts.items())), flush=True)


def _wait_for_waiting_sensor_run(api: Any, timeout: float = 300) -> str:
    """The continuous DAG's current run, once its sensor is waiting (deferred) for files."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for run in api.runs(SENSOR_DAG):
            if run["state"] not in ("running", "queued"):
                continue
            for ti in api.task_instances(SENSOR_DAG, run["dag_run_id"]):
                if ti["task_id"] == "wait_for_landed_files" and ti["state"] in ("deferred", "running"):
                    return str(run["dag_run_id"])
        time.sleep(1)
    raise TimeoutError("the sensor DAG did not start waiting for files")


def unused_seed(data_dir: Path, first: int = 42) -> int:
    """The first seed from ``first`` whose batch no earlier demo wrote in ``data_dir``: the same
    seed gives the same file, which ingestion loads once (a re-landing has nothing new to
    transform, so it takes no snapshot and schedules no training)."""
    seed = first
    while (data_dir / f"transactions_seed{seed}.csv").exists():
        seed += 1
    return seed


def write_corrupt_file(path: Path) -> Path:
    """A file a broken exporter might send: a truncated row after a valid header."""
    from fraud_mlops.landing_schema import LANDING_COLUMNS

    path.write_text(",".join(LANDING_COLUMNS) + "\n" + "deadbeef,2026-10-02 10:00:00,4111111111111111\n")
    return path


def _busiest_card(landing: Any) -> str:
    return str(landing["card_number"].value_counts().index[0])


def _print_lookup(settings: Any, card_number: str) -> dict[str, Any]:
    from fraud_mlops import targets

    pseudonym = targets.pseudonymiser(settings)(card_number)
    lookup = targets.feature_store(settings).reader().fetch([pseudonym])
    row = lookup.found.get(pseudonym)
    if row is None:
        raise RuntimeError(f"card …{card_number[-4:]} not found in the online store (sync {lookup.sync_id})")
    shown = {
        k: row.values[k]
        for k in ("txn_count_24h", "amount_avg_7d", "merchants_seen", "seconds_since_prev_txn")
    }
    print(f"    card …{card_number[-4:]} (pseudonym {pseudonym[:12]}…), features of {row.feature_timestamp}, "
          f"sync {row.sync_id}: {shown}")  # fmt: skip
    return {"pseudonym": pseudonym, "sync_id": row.sync_id, "features": dict(row.values)}


def _wait_for_training(api: Any, predicate: Any, label: str) -> dict[str, Any]:
    from fraud_mlops.pipeline_runs.result import PipelineResult

    run = api.first_run_after(TRAINING_DAG, predicate, timeout=300)
    run_id = str(run["dag_run_id"])
    print(f"    {TRAINING_DAG} run {run_id} ({label})")
    run = api.wait_for_run(TRAINING_DAG, run_id, timeout=1800, on_progress=_progress)
    if run["state"] != "success":
        raise RuntimeError(f"training run {run_id} ended {run['state']}")
    outcome = api.xcom(TRAINING_DAG, run_id, "train_evaluate_deploy")
    print(PipelineResult(**outcome).summary())
    return dict(outcome)


def run_demo() -> dict[str, Any]:
    from devtools.generator.files import write_batch
    from devtools.generator.synth import DEMO_FRAUD_RATE, GeneratorConfig, generate
    from devtools.landing import land_file
    from devtools.stack import stack
    from devtools.stack.airflow_api import AirflowAPI

    settings = get_settings()
    rows = int(os.environ.get("DEMO_ROWS", "300000"))
    rate = float(os.environ.get("DEMO_FRAUD_RATE", str(DEMO_FRAUD_RATE)))
    data_dir = settings.local_dir / "demo"
    seed = int(os.environ["DEMO_SEED"]) if os.environ.get("DEMO_SEED") else unused_seed(data_dir)
    started_at = time.monotonic()
    result: dict[str, Any] = {}

    _say(f"Generating {rows:,} transactions (fraud rate {rate:.2%}, seed {seed})")
    t0 = time.perf_counter()
    batch = generate(GeneratorConfig(rows=rows, fraud_rate=rate, seed=seed))
    landing_path, oracle_path = write_batch(batch, data_dir / f"transactions_seed{seed}.csv")
    print(f"    {rows:,} rows in {time.perf_counter() - t0:.1f} s → {landing_path} (oracle: {oracle_path})")
    corrupt = write_corrupt_file(data_dir / "corrupt_export.csv")

    already_running = stack.StackState.load(settings) is not None and stack.status(settings).get("running")
    _say("Starting the local stack (GCS emulator, Pub/Sub emulator, Airflow api-server/scheduler/…)")
    state = stack.up(settings)
    try:
        api = AirflowAPI(state.api_url)
        # Every DAG the demo unpauses, parsed first: on a loaded machine the DAG processor may
        # register them minutes apart, and a run triggered on a DAG left paused never starts.
        api.wait_for_dags([SENSOR_DAG, TRAINING_DAG, MONITORING_DAG])
        print(f"    Airflow UI: {state.api_url}/dags/{SENSOR_DAG}")
        api.set_paused(SENSOR_DAG, False)
        api.set_paused(TRAINING_DAG, False)
        api.set_paused(MONITORING_DAG, False)  # its first scheduled run finishes while ingestion runs
        run_id = _wait_for_waiting_sensor_run(api)
        print(f"    {SENSOR_DAG} run {run_id} is waiting for files (deferred sensor)")

        _say("Landing the file and a corrupt export beside it")
        landed_at = time.monotonic()
        print("    " + land_file(landing_path))
        print("    " + land_file(corrupt))

        _say(f"Waiting for {SENSOR_DAG} to ingest")
        run = api.wait_for_run(SENSOR_DAG, run_id, timeout=1800, on_progress=_progress)
        tis = api.task_instances(SENSOR_DAG, run_id)
        not_green = [f"{t['task_id']}[{t['map_index']}]={t['state']}" for t in tis if t["state"] != "success"]
        summary = api.xcom(SENSOR_DAG, run_id, "summarise_run")
        if run["state"] == "success" and summary and summary["snapshot"] is None:
            raise RuntimeError(
                f"{landing_path.name} was ingested before (same content): the run had nothing new to "
                "transform, took no snapshot and scheduled no training. Land new data with another "
                "DEMO_SEED, or start afresh with `make clean`."
            )
        if run["state"] != "success" or not_green:
            raise RuntimeError(f"ingestion run {run_id} ended {run['state']}; not green: {not_green}")
        result["ingestion"] = summary
        result["ingestion_seconds"] = round(time.monotonic() - landed_at, 1)
        from fraud_mlops.orchestration.run_summary import format_summary

        print(
            f"    every task green ({len(tis)} task instances) in {result['ingestion_seconds']} s after landing"
        )
        print(format_summary(summary))

        known_card = _busiest_card(batch.landing)
        _say("Online feature lookup for a landed card")
        result["online_lookup"] = _print_lookup(settings, known_card)

        _say(f"Training: {TRAINING_DAG} was scheduled by the snapshot Asset")
        snapshot = summary["snapshot"]["snapshot_name"]
        result["training"] = _wait_for_training(api, lambda r: True, "first model")

        _say("Training again on worse data (shuffled labels): the gate must keep the champion")
        from devtools.snapshots import degraded_snapshot

        worse = degraded_snapshot(settings, snapshot)
        worse_run = api.trigger(TRAINING_DAG, conf={"snapshot": worse})
        result["training_worse_data"] = _wait_for_training(
            api, lambda r: r["dag_run_id"] == worse_run, "worse data"
        )

        _say("Batch scoring: the champion's model server scores every card into card_predictions")
        from devtools.demo.batch import run_batch_scoring

        result["batch_scoring"] = run_batch_scoring(api, _progress)

        _say("Prediction function: real requests against the deployed model")
        from devtools.demo.serving import run_demo_requests

        result["predictions"] = run_demo_requests(known_card)

        _say("Monitoring: a drifted batch and a bad canary → fraud_monitoring → verdicts, alerts, dashboard")
        from devtools.demo.monitoring import run_monitoring_demo

        cards = [str(c) for c in batch.landing["card_number"].drop_duplicates().head(500)]
        result["monitoring"] = run_monitoring_demo(api, settings, cards)
    finally:
        if already_running or os.environ.get("DEMO_KEEP_STACK") == "1":
            print(f"\n    stack left running: {state.api_url} (stop it with `make down`)")
        else:
            _say("Stopping the local stack")
            stack.down(settings)
    result["wall_seconds"] = round(time.monotonic() - started_at, 1)
    (settings.local_dir / "demo" / "summary.json").write_text(json.dumps(result, indent=2, default=str))
    _say(
        f"Demo finished in {result['wall_seconds']} s; summary in {settings.local_dir / 'demo' / 'summary.json'}"
    )
    return result


def main() -> int:
    try:
        run_demo()
    except Exception as err:  # a clear last line for make; the traceback is above
        import traceback

        traceback.print_exc()
        print(f"\nDEMO FAILED: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
