"""Run console_links_dag.py once with ``dag.test()``; print its task's links as JSON.

A subprocess of test_console_links.py (Airflow's settings and metadata DB are per process).
The links are read back as the API server reads them: from the serialized DAG's task, for the
finished task instance (``routes/public/extra_links.py``: ``task.get_extra_links(ti, name)``).
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.orchestration.probe_support import links, test_dag


def main() -> None:
    dag, run = test_dag(Path(__file__).with_name("console_links_dag.py"), "console_links_probe")
    (ti,) = run.get_task_instances()
    print("PROBE " + json.dumps({"state": str(ti.state), "links": links(dag, ti)}))


if __name__ == "__main__":
    main()
