"""DAG integrity check that `astro dev parse` runs inside the Astro image: every DAG imports.

The project's own, stricter DAG tests live under tests/; this one only needs the image.
"""

from __future__ import annotations

import os

from airflow.dag_processing.dagbag import DagBag


def test_every_dag_file_imports() -> None:
    bag = DagBag(dag_folder=os.environ.get("AIRFLOW__CORE__DAGS_FOLDER", "dags"))
    assert not bag.import_errors, bag.import_errors
    assert bag.dags, "no DAGs found"
