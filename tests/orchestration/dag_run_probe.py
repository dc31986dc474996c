"""Run the training DAG once with ``dag.test()`` in a fresh Airflow home; print the outcome as JSON.

A subprocess of the slow DAG test: Airflow's settings and the metadata DB are per process.
"""

from __future__ import annotations

import json
import sys


def main() -> None:
    from airflow.dag_processing.dagbag import DagBag

    from fraud_mlops.settings import get_settings

    settings = get_settings()
    dag = DagBag(dag_folder=sys.argv[1]).get_dag("fraud_training")
    run = dag.test(run_conf=json.loads(sys.argv[2]) if len(sys.argv) > 2 else None)
    states = {ti.task_id: str(ti.state) for ti in run.get_task_instances()}
    import duckdb

    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        lineage = con.execute(
            "SELECT snapshot_name, model_version, gate_decision, dag_id, dag_run_id = ? FROM fraud.model_lineage",
            [run.run_id],
        ).fetchall()
    print("PROBE " + json.dumps({"state": str(run.state), "tasks": states, "lineage": lineage}))


if __name__ == "__main__":
    main()
