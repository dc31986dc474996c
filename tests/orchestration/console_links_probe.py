"""Run console_links_dag.py once with ``dag.test()``; print its task's links as JSON.

A subprocess of test_console_links.py (Airflow's settings and metadata DB are per process).
The links are read back as the API server reads them: from the serialized DAG's task, for the
finished task instance (``routes/public/extra_links.py``: ``task.get_extra_links(ti, name)``).
"""

from __future__ import annotations

import json
from pathlib import Path


def main() -> None:
    from airflow.dag_processing.dagbag import DagBag
    from airflow.serialization.serialized_objects import DagSerialization

    bag = DagBag(dag_folder=str(Path(__file__).with_name("console_links_dag.py")))
    assert not bag.import_errors, bag.import_errors
    dag = bag.get_dag("console_links_probe")
    run = dag.test()
    (ti,) = run.get_task_instances()
    task = DagSerialization.from_dict(DagSerialization.to_dict(dag)).get_task(ti.task_id)
    links = {name: task.get_extra_links(ti, name) for name in sorted(task.extra_links)}
    print("PROBE " + json.dumps({"state": str(ti.state), "links": links}))


if __name__ == "__main__":
    main()
