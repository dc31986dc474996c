"""A one-task DAG for console_links_probe.py: a task with the console links, on the target the
environment names (the probe runs it with ``MLOPS_TARGET=gcp``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from airflow.sdk import DAG

from fraud_mlops import targets
from fraud_mlops.settings import get_settings

MODEL_RESOURCE = "projects/fraud-project/locations/europe-west4/models/8765@3"

links = targets.console_links(get_settings())

with DAG("console_links_probe", schedule=None, start_date=datetime(2026, 1, 1)):

    @links.task(("endpoint", "model"))
    def act_on_the_endpoint(**context: Any) -> str:
        links.record(context, MODEL_RESOURCE)
        return "done"

    act_on_the_endpoint()
