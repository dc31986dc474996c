"""Fill a DagBag in a fresh interpreter and print what the integrity tests check, as JSON.

Run as a subprocess so each target (MLOPS_TARGET) and the module-import check start clean.
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any

# Modules no DAG file may pull in at parse time. duckdb is the local warehouse operator's own
# import (~0.4 s) and so allowed. On gcp the provider's Vertex AI operators import
# google-cloud-aiplatform (and pandas) themselves; that cost is measured by bench/, not banned.
HEAVY_MODULES = {
    "local": ("sklearn", "kfp", "google.cloud.aiplatform", "vertexai", "faker", "matplotlib", "pandas"),
    "gcp": ("sklearn", "kfp", "faker", "matplotlib"),
}


def main() -> None:
    dags_folder = sys.argv[1]
    heavy = HEAVY_MODULES[os.environ.get("MLOPS_TARGET", "local")]
    before = set(sys.modules)
    import airflow.sdk  # noqa: F401 - shared cost, excluded from the DAG files' own
    from airflow.dag_processing.dagbag import DagBag

    started = time.perf_counter()
    bag = DagBag(dag_folder=dags_folder)
    cold = time.perf_counter() - started
    loaded = set(sys.modules) - before
    from fraud_mlops.orchestration.lease import in_lease_scope

    out = {
        "import_errors": {k: str(v) for k, v in bag.import_errors.items()},
        "cold_seconds": cold,
        "heavy_modules": sorted({m for m in loaded for h in heavy if m == h or m.startswith(h + ".")}),
        "dags": {
            dag_id: {
                "fileloc": dag.fileloc,
                "tags": sorted(dag.tags),
                "tasks": {
                    t.task_id: {
                        "owner": t.owner,
                        "retries": t.retries,
                        "type": t.task_type,
                        "downstream": sorted(t.downstream_task_ids),
                        "setup": t.is_setup,
                        "teardown": t.is_teardown,
                        "pre_execute": _pre_execute(t),
                        "in_lease_scope": in_lease_scope(t),
                    }
                    for t in dag.tasks
                },
                "doc_md": bool(dag.doc_md),
            }
            for dag_id, dag in bag.dags.items()
        },
    }
    print("PROBE " + json.dumps(out))


def _pre_execute(task: Any) -> str | None:
    """The name of the function the task runs before its ``execute`` (a mapped task keeps it in
    its partial arguments until it is expanded)."""
    hook = (
        task.partial_kwargs.get("pre_execute") if hasattr(task, "partial_kwargs") else task._pre_execute_hook
    )
    return getattr(hook, "__qualname__", None)


if __name__ == "__main__":
    main()
