"""Landing → run-started latency: the Pub/Sub AssetWatcher against the deferrable GCS sensor.

    PYTHONPATH=plugins:. .venv/bin/python bench/bench_trigger_latency.py [--landings 5] [--rows 300]

Starts its own local stack (GCS + Pub/Sub emulators, Airflow 3 api-server, scheduler,
dag-processor, triggerer) in a temporary ``MLOPS_LOCAL_DIR`` on free ports, then lands small
files one at a time, each only after the previous run finished, so nothing queues:

1. **watcher** (``fraud_ingest_events``, sensor DAG paused): landing publishes the bucket's
   notification to the Pub/Sub emulator; the watcher's trigger pulls it in the triggerer and
   the scheduler starts a run.
2. **sensor** (``fraud_ingest_sensor``, watcher paused): the continuous DAG's deferrable
   ``GCSObjectsWithPrefixExistenceSensor`` polls the prefix every ``MLOPS_SENSOR_POKE_SECONDS``.

Latency is measured from just before the landing call (upload + notification) to timestamps
Airflow records: for the watcher the asset event, the run's queued and start times; for the
sensor the moment its task finished (the sensor DAG's run is already running while it waits,
so this is its "run started"); for both, the start of ``validate_landed_files``, the
first task that reads the landed file, which is the like-for-like figure. One warm-up landing per mode is
not counted. Figures are printed, never asserted; the goal is a watcher p50 of 5 s or less.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from devtools.events import runs
from devtools.generator.files import write_landing_csv
from devtools.generator.synth import GeneratorConfig, generate
from devtools.landing import land_file
from devtools.stack.airflow_api import AirflowAPI
from devtools.stack.config import HOST, PORT_ENV
from devtools.stack.stack import down, up
from fraud_mlops.events.watcher import MAX_MESSAGES
from fraud_mlops.settings import Settings, settings_from_env

SENSOR_DAG = "fraud_ingest_sensor"
FIRST_TASK = "validate_landed_files"  # the first task that reads the landed file
WARM_UP_ROWS = 1_000  # dq.min_rows: the first snapshot needs this many training rows


def ts(value: str | None) -> float:
    if not value:
        raise ValueError("Airflow has not recorded this time")
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def task_times(api: AirflowAPI, dag_id: str, run_id: str) -> dict[str, dict[str, Any]]:
    return {t["task_id"]: t for t in api.task_instances(dag_id, run_id) if t["map_index"] == -1}


def make_file(folder: Path, index: int, rows: int, warm_up: bool) -> Path:
    """A small valid export; the warm-up one is big enough for the data-quality gate's minimum."""
    rows = max(rows, WARM_UP_ROWS) if warm_up else rows
    batch = generate(GeneratorConfig(rows=rows, fraud_rate=0.02, seed=10_000 + index, rows_per_card=10))
    return write_landing_csv(batch.landing, folder / f"bench_{index:03d}.csv", show_progress=False)


def land_for_watcher(api: AirflowAPI, settings: Settings, path: Path) -> dict[str, float]:
    started = time.time()
    land_file(path, settings=settings)
    run = runs.wait_for_object_run(api, settings.landing_prefix + path.name, timeout=300)
    run = api.wait_for_run(runs.EVENTS_DAG, run["dag_run_id"], timeout=900)
    if run["state"] != "success":
        raise RuntimeError(f"{runs.EVENTS_DAG} run {run['dag_run_id']} ended {run['state']}")
    (event,) = runs.consumed_events(api, run["dag_run_id"])
    tasks = task_times(api, runs.EVENTS_DAG, run["dag_run_id"])
    return {
        "asset event": ts(event["timestamp"]) - started,
        "run queued": ts(run["queued_at"]) - started,
        "run started": ts(run["start_date"]) - started,
        "file validation started": ts(tasks[FIRST_TASK]["start_date"]) - started,
        "run total": ts(run["end_date"]) - started,
    }


def waiting_sensor_run(api: AirflowAPI, timeout: float = 300) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for run in api.runs(SENSOR_DAG):
            if run["state"] != "running":
                continue
            sensor = task_times(api, SENSOR_DAG, run["dag_run_id"]).get("wait_for_landed_files")
            if sensor and sensor["state"] == "deferred":
                return str(run["dag_run_id"])
        time.sleep(0.5)
    raise TimeoutError("the sensor DAG did not start waiting")


def land_for_sensor(api: AirflowAPI, settings: Settings, path: Path) -> dict[str, float]:
    run_id = waiting_sensor_run(api)
    started = time.time()
    land_file(path, settings=settings)
    run = api.wait_for_run(SENSOR_DAG, run_id, timeout=900)
    if run["state"] != "success":
        raise RuntimeError(f"{SENSOR_DAG} run {run_id} ended {run['state']}")
    tasks = task_times(api, SENSOR_DAG, run_id)
    return {
        "sensor fired": ts(tasks["wait_for_landed_files"]["end_date"]) - started,
        "file validation started": ts(tasks[FIRST_TASK]["start_date"]) - started,
        "run total": ts(run["end_date"]) - started,
    }


def measure(
    label: str, landings: int, make: Callable[[int, bool], Path], land: Callable[[Path], dict[str, float]]
) -> list[dict[str, float]]:
    print(f"[bench] {label}: warm-up landing", flush=True)
    land(make(0, True))
    out = []
    for i in range(1, landings + 1):
        sample = land(make(i, False))
        print(
            f"[bench] {label} landing {i}/{landings}: "
            + ", ".join(f"{k} {v:.1f} s" for k, v in sample.items())
        )
        out.append(sample)
    return out


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def report(label: str, samples: list[dict[str, float]]) -> None:
    print(f"\n{label} (n={len(samples)}; seconds after the landing call)")
    print(f"  {'':24} {'p50':>7} {'p90':>7} {'min':>7} {'max':>7}")
    for key in samples[0]:
        values = [s[key] for s in samples]
        p50 = statistics.median(values)
        print(f"  {key:24} {p50:7.2f} {quantile(values, 0.9):7.2f} {min(values):7.2f} {max(values):7.2f}")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--landings", type=int, default=5, help="measured landings per mode (plus one warm-up)"
    )
    parser.add_argument("--rows", type=int, default=300, help="rows per landed file")
    parser.add_argument("--poke-seconds", type=int, default=5, help="the sensor's MLOPS_SENSOR_POKE_SECONDS")
    parser.add_argument("--keep", action="store_true", help="keep the stack's folder (logs) afterwards")
    args = parser.parse_args()

    local_dir = Path(tempfile.mkdtemp(prefix="bench-trigger-"))
    env = {
        "MLOPS_TARGET": "local",
        "MLOPS_LOCAL_DIR": str(local_dir),
        "MLOPS_SENSOR_POKE_SECONDS": str(args.poke_seconds),
    }
    os.environ.update(env)
    for var in PORT_ENV.values():
        os.environ.pop(var, None)
    settings = settings_from_env(env)
    files = local_dir / "files"
    files.mkdir()
    print(f"[bench] starting a local stack in {local_dir}", flush=True)
    state = up(settings)
    os.environ["STORAGE_EMULATOR_HOST"] = f"http://{HOST}:{state.ports.gcs}"
    try:
        api = AirflowAPI(state.api_url)
        api.wait_for_dags([runs.EVENTS_DAG, SENSOR_DAG])

        runs.activate(api)
        watcher = measure(
            "watcher", args.landings, lambda i, warm: make_file(files, i, args.rows, warm),
            lambda p: land_for_watcher(api, settings, p),
        )  # fmt: skip
        runs.deactivate(api)

        api.set_paused(SENSOR_DAG, False)
        sensor = measure(
            "sensor", args.landings, lambda i, warm: make_file(files, 100 + i, args.rows, warm),
            lambda p: land_for_sensor(api, settings, p),
        )  # fmt: skip
        api.set_paused(SENSOR_DAG, True)
    finally:
        down(settings)
    if not args.keep:
        shutil.rmtree(local_dir, ignore_errors=True)  # kept (with its logs) when the bench failed

    print(f"\n=== landing → run started, {args.rows}-row files, one local stack, one process")
    print(f"watcher: Pub/Sub pull answers at once (return_immediately=True), poke {settings.watcher_poll_seconds} s after an empty pull, "
          f"max_messages={MAX_MESSAGES}; sensor: deferrable, poke {args.poke_seconds} s")  # fmt: skip
    report("watcher (fraud_ingest_events)", watcher)
    report("sensor (fraud_ingest_sensor)", sensor)
    w_first = statistics.median(s["file validation started"] for s in watcher)
    s_first = statistics.median(s["file validation started"] for s in sensor)
    w_started = statistics.median(s["run started"] for s in watcher)
    print(
        f"\nwatcher run started p50: {w_started:.2f} s (goal ≤ 5 s: {'met' if w_started <= 5 else 'NOT met'})"
    )
    print(f"file validation started p50: watcher {w_first:.2f} s, sensor {s_first:.2f} s "
          f"(sensor / watcher = {s_first / w_first:.2f}x)")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
