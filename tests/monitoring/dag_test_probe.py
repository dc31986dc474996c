"""Run one DAG file with ``dag.test()`` in a fresh Airflow home; print its run state as JSON."""

from __future__ import annotations

import json
import sys


def main() -> None:
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=sys.argv[1])
    dag = bag.get_dag(sys.argv[2])
    run = dag.test(run_conf=json.loads(sys.argv[3]) if len(sys.argv) > 3 else None)
    states = {ti.task_id: str(ti.state) for ti in run.get_task_instances()}
    print("PROBE " + json.dumps({"state": str(run.state), "tasks": states, "run_id": run.run_id}))


if __name__ == "__main__":
    main()
