"""DAG parse cost, per target: cold DagBag fill (imports included) and each file's own work.

Each file's own work is measured as a second DagBag fill of that file in the same process, so
shared imports are already loaded; a trivial one-task DAG measured the same way is the
baseline. Goals: warm per file ≤ 0.05 s; cold local fill ≤ 2.5 s.
Each target runs in a fresh interpreter. Usage: ``python bench/bench_parse.py``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import _common

TRIVIAL_DAG = """
from datetime import datetime
from airflow.sdk import DAG, task
with DAG(dag_id="trivial", schedule=None, start_date=datetime(2026, 1, 1)):
    @task
    def hello():
        return 1
    hello()
"""
REPEATS = 5


def measure() -> dict:
    import airflow.sdk  # noqa: F401 - excluded from the DAG files' own cost
    from airflow.dag_processing.dagbag import DagBag

    dags = _common.REPO_ROOT / "dags"
    t0 = time.perf_counter()
    bag = DagBag(dag_folder=str(dags))
    cold = time.perf_counter() - t0
    assert not bag.import_errors, bag.import_errors
    per_file: dict[str, float] = {}
    for path in sorted(dags.glob("*.py")):
        samples = []
        for _ in range(REPEATS):
            t0 = time.perf_counter()
            DagBag(dag_folder=str(path))
            samples.append(time.perf_counter() - t0)
        per_file[path.name] = sorted(samples)[REPEATS // 2]
    with tempfile.TemporaryDirectory() as tmp:
        trivial = Path(tmp) / "trivial.py"
        trivial.write_text(TRIVIAL_DAG)
        DagBag(dag_folder=str(trivial))
        samples = []
        for _ in range(REPEATS):
            t0 = time.perf_counter()
            DagBag(dag_folder=str(trivial))
            samples.append(time.perf_counter() - t0)
    return {
        "cold": cold,
        "per_file": per_file,
        "trivial": sorted(samples)[REPEATS // 2],
        "dags": len(bag.dags),
    }


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        print("RESULT " + json.dumps(measure()))
        return
    results = {}
    for target in ("local", "gcp"):
        with tempfile.TemporaryDirectory() as home:
            env = {
                **os.environ, "MLOPS_TARGET": target, "AIRFLOW_HOME": home, "MLOPS_LOCAL_DIR": home,
                "AIRFLOW__CORE__LOAD_EXAMPLES": "False", "GCP_PROJECT": "bench-project",
                "PYTHONPATH": os.pathsep.join([str(_common.REPO_ROOT / "plugins"), str(_common.REPO_ROOT)]),
            }  # fmt: skip
            out = subprocess.run(
                [sys.executable, __file__, "--child"], env=env, capture_output=True, text=True, check=True
            ).stdout
            results[target] = json.loads(
                next(line for line in out.splitlines() if line.startswith("RESULT "))[7:]
            )
    print("DAG parse time (median of 5 warm fills per file; cold = first fill with imports)")
    rows = []
    for target, r in results.items():
        for name, seconds in r["per_file"].items():
            ratio = seconds / r["trivial"]
            rows.append(
                (
                    target,
                    name,
                    f"{seconds:.4f} s",
                    f"{ratio:.1f}x trivial",
                    "ok" if seconds <= 0.05 else "OVER 0.05 s",
                )
            )
        rows.append((target, "(trivial one-task DAG)", f"{r['trivial']:.4f} s", "1.0x", "baseline"))
    print(_common.table(rows, ("target", "file", "warm parse", "vs baseline", "goal ≤ 0.05 s")))
    print()
    for target, r in results.items():
        goal = (
            " (goal ≤ 2.5 s: " + ("met" if r["cold"] <= 2.5 else "NOT met") + ")" if target == "local" else ""
        )
        print(f"cold DagBag fill, {target}: {r['cold']:.2f} s for {r['dags']} DAGs{goal}")


if __name__ == "__main__":
    main()
