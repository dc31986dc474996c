"""Run a probe module (one DAG under ``dag.test()``) in a subprocess with a fresh Airflow home:
the local training and alert runs and the gcp DAG runs (tests/orchestration/) share it.

Airflow's settings and metadata database are per process, so each probe gets its own home
(``airflow db migrate``, ~3 s) and prints one ``PROBE <json>`` line, returned as a dict. A
probe that hangs (an emulator thread left running, a sensor rescheduling) is killed at the
timeout and its output shown.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from fraud_mlops.settings import REPO_ROOT

ANONYMOUS_GOOGLE_CONNECTION = json.dumps(
    {"conn_type": "google_cloud_platform", "extra": {"is_anonymous": True}}
)


def airflow_home(
    tmp_path: Path, env: dict[str, str], dags_folder: Path = REPO_ROOT / "dags"
) -> dict[str, str]:
    """The environment of a fresh, migrated Airflow home under ``tmp_path`` with ``env`` on top."""
    full = {
        **os.environ,
        "AIRFLOW_CONN_GOOGLE_CLOUD_DEFAULT": ANONYMOUS_GOOGLE_CONNECTION,
        **env,
        "AIRFLOW_HOME": str(tmp_path / "airflow"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags_folder),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "PYTHONPATH": os.pathsep.join([str(REPO_ROOT / "plugins"), str(REPO_ROOT)]),
    }
    airflow = str(Path(sys.executable).with_name("airflow"))
    subprocess.run([airflow, "db", "migrate"], env=full, check=True, capture_output=True, timeout=300)
    return full


def local_target_env(local_dir: Path) -> dict[str, str]:
    """The settings of a local-target probe whose state lives under ``local_dir``: the DuckDB
    warehouse there, through the connection the local operators use."""
    return {
        "MLOPS_TARGET": "local",
        "MLOPS_LOCAL_DIR": str(local_dir),
        "AIRFLOW_CONN_FRAUD_WAREHOUSE": json.dumps(
            {"conn_type": "duckdb", "host": str(local_dir / "warehouse" / "warehouse.duckdb")}
        ),
    }


def run_probe(module: str, env: dict[str, str], *args: str, timeout: float = 600) -> dict[str, Any]:
    """``python -m module *args`` → its ``PROBE`` line as a dict (the output shown on failure)."""
    try:
        proc = subprocess.run(
            [sys.executable, "-m", module, *args],
            env=env, cwd=REPO_ROOT, capture_output=True, text=True, timeout=timeout,
        )  # fmt: skip
    except subprocess.TimeoutExpired as exc:
        out, err = (
            (x.decode(errors="replace") if isinstance(x, bytes) else x or "")[-3000:]
            for x in (exc.stdout, exc.stderr)
        )
        pytest.fail(f"{module} did not finish in {timeout} s:\n{out}\n{err}")
    lines = [line for line in proc.stdout.splitlines() if line.startswith("PROBE ")]
    assert proc.returncode == 0 and lines, (proc.stdout[-3000:], proc.stderr[-3000:])
    return {**json.loads(lines[-1].removeprefix("PROBE ")), "_output": proc.stdout + proc.stderr}
