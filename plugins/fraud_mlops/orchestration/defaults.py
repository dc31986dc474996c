"""What every DAG of the project shares: default arguments, SQL templating, tags.

DAG files import this at parse time: only settings and cheap modules here.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fraud_mlops.orchestration.alerts import FraudAlertNotifier
from fraud_mlops.orchestration.lease import require_transform_lease
from fraud_mlops.settings import Settings

OWNER = "fraud-mlops"

DEFAULT_ARGS: dict[str, Any] = {
    "owner": OWNER,
    "retries": 2,
    "retry_delay": timedelta(seconds=30),
    # every task's final failure (after its retries) raises an alert (orchestration/alerts.py)
    "on_failure_callback": [FraudAlertNotifier("task_failure")],
    # a task between a DAG's acquire_transform_lease and its teardown runs only while its run
    # holds the lease (a partial clear would run it without; orchestration/lease.py)
    "pre_execute": require_transform_lease,
}


def dag_defaults(settings: Settings, *tags: str, **overrides: Any) -> dict[str, Any]:
    """``DAG(...)`` keyword arguments: defaults, SQL search path and macros, one run at a time.

    ``tags`` name the DAG's family (``ingestion``, ``training``…); the target is always a tag,
    so the UI filters one deployment's DAGs at a glance. ``overrides`` replace any key.
    """
    from fraud_mlops.paths import sql_dir
    from fraud_mlops.sql_templates import airflow_macros

    kwargs: dict[str, Any] = {
        "default_args": DEFAULT_ARGS,
        "template_searchpath": [str(sql_dir())],
        "user_defined_macros": airflow_macros(settings),
        "max_active_runs": 1,
        "catchup": False,
        "tags": ["fraud", *tags, settings.target],
        "on_failure_callback": [FraudAlertNotifier("dag_failure")],
    }
    kwargs.update(overrides)
    return kwargs
