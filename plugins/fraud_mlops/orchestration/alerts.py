"""Alerts through Airflow's notifier interface: failures, data quality, drift and rollbacks.

:class:`FraudAlertNotifier` is a ``BaseNotifier``: every DAG of the project has one as its
``on_failure_callback`` and one in its tasks' default ``on_failure_callback``
(:mod:`.defaults`), and the monitoring tasks call :func:`raise_alert` when drift crosses its
threshold or a canary is rolled back. Where the alert goes is the target's
:func:`fraud_mlops.targets.alert_sink`. A failing sink is logged and swallowed: an alert must
never turn a success into a failure, nor hide the original error.
"""

from __future__ import annotations

import logging
from typing import Any

from airflow.sdk import BaseNotifier

from fraud_mlops.settings import get_settings

log = logging.getLogger(__name__)

#: tasks whose failure is a data-quality failure (the ASSERTs of 50_quality_checks.sql)
DATA_QUALITY_TASKS = frozenset({"check_data_quality"})


class FraudAlertNotifier(BaseNotifier):
    """``kind`` ``task_failure`` (the task's failure; data-quality tasks are told apart) or ``dag_failure``."""

    template_fields = ("summary",)

    def __init__(self, kind: str = "task_failure", summary: str = "") -> None:
        super().__init__()
        self.kind = kind
        self.summary = summary

    def notify(self, context: Any) -> None:
        from fraud_mlops.alerting.sinks import DATA_QUALITY, TASK_FAILURE

        ti = context.get("ti") or context.get("task_instance")
        task_id = getattr(ti, "task_id", None)
        kind = DATA_QUALITY if self.kind == TASK_FAILURE and task_id in DATA_QUALITY_TASKS else self.kind
        exception = context.get("exception")
        summary = self.summary or _default_summary(kind, context, task_id, exception)
        details: dict[str, Any] = {}
        if exception is not None:
            details["exception"] = f"{type(exception).__name__}: {str(exception)[:2000]}"
        if ti is not None:
            details["try_number"] = getattr(ti, "try_number", None)
        raise_alert(kind, summary, context, details, task_id=task_id)


def _default_summary(kind: str, context: Any, task_id: str | None, exception: Any) -> str:
    dag_id = _dag_id(context)
    where = f"{dag_id}.{task_id}" if task_id else str(dag_id)
    cause = f": {type(exception).__name__}: {str(exception)[:300]}" if exception is not None else ""
    return f"{kind.replace('_', ' ')} in {where}{cause}"


def _dag_id(context: Any) -> str | None:
    dag = context.get("dag")
    if dag is not None:
        return str(dag.dag_id)
    run = context.get("dag_run")
    return str(run.dag_id) if run is not None else None


def raise_alert(
    kind: str,
    summary: str,
    context: Any = None,
    details: dict[str, Any] | None = None,
    task_id: str | None = None,
    severity: str = "ERROR",
    alert_id: str | None = None,
) -> bool:
    """Send one alert to the active target's sink; whether it went out (never raises).

    ``alert_id`` names the event, the same on every try of the task that alerts: a try that
    alerted and then failed is retried and alerts again, and the sink or its receiver drops the
    repeat (``alerting.sinks``). It is prefixed with the target and project, so two deployments
    sending to one receiver never drop each other's. Without it each alert is its own."""
    from fraud_mlops import targets
    from fraud_mlops.alerting.sinks import Alert

    context = context or {}
    run = context.get("dag_run")
    ti = context.get("ti")
    try:
        settings = get_settings()
        alert = Alert(
            kind=kind,
            summary=summary,
            severity=severity,
            dag_id=_dag_id(context),
            run_id=getattr(run, "run_id", None) or context.get("run_id"),
            task_id=task_id or getattr(ti, "task_id", None),
            details=details or {},
            **({"alert_id": f"{settings.target}:{settings.project}:{alert_id}"} if alert_id else {}),
        )
        targets.alert_sink(settings).send(alert)
    except Exception:
        log.exception("could not send the %s alert: %s", kind, summary)
        return False
    log.warning("ALERT %s: %s", kind, summary)
    return True
