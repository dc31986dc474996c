"""The ``fraud_monitoring`` DAG's tasks.

    append_prediction_log → check_drift → record_monitoring_metrics → refresh_reporting_views
                          ↘ apply_canary_decision

* ``append_prediction_log``: the target's staging (spool files locally; the log sink's view on
  gcp: ``93``, ``88``) appended to ``prediction_log``, batch scores too
  (:func:`fraud_mlops.prediction_log.append.append_staged`: ``98``, ``97``, ``83``, idempotent).
* ``check_drift``: skew, drift and prediction drift with Evidently (:mod:`fraud_mlops.monitoring.run`);
  an alert when drift starts or changes, and a daily reminder while it lasts
  (:mod:`fraud_mlops.monitoring.drift_alerts`).
* ``record_monitoring_metrics``: the per-feature figures into ``monitoring_metrics`` (85).
* ``refresh_reporting_views``: the dashboard's views (``87_reporting_views.sql``).
* ``apply_canary_decision``: prediction-log evidence (86) → ``decide`` → promote / hold /
  rollback through the registry seam; an alert for every rollback.

Local warehouse tasks share the one-slot ``warehouse`` pool (DuckDB allows one writer).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from airflow.sdk import Param, get_current_context, task

from fraud_mlops import assets, targets
from fraud_mlops.settings import Settings


def dag_params() -> dict[str, Param]:
    return {
        "current_start": Param(
            "",
            type="string",
            description="Start of the current window (RFC 3339); empty = end - current_hours.",
        ),
        "current_hours": Param(24, type="number", minimum=0, description="Length of the current window."),
        "reference_hours": Param(168, type="number", minimum=0, description="Reference window before it."),
        "drift_reminder_hours": Param(
            24,
            type="number",
            minimum=0,
            description="While the same checks stay flagged, alert again after this long; 0 = every flagged run.",
        ),
        "canary_policy": Param(
            {},
            type="object",
            description="Overrides of CanaryPolicy (e.g. min_elapsed_seconds, min_requests).",
        ),
    }


def append_prediction_log(settings: Settings) -> Any:
    @task(pool=settings.warehouse_pool)
    def append_prediction_log() -> dict[str, int]:
        """Staged prediction-log rows (and new batch scores) appended to ``prediction_log``."""
        from fraud_mlops.prediction_log.append import append_staged
        from fraud_mlops.sql_templates import render_sql

        log = targets.prediction_log(settings)
        warehouse = targets.warehouse(settings)
        staged = log.stage(warehouse)
        append_staged(warehouse, settings)
        log.staged()
        rows = warehouse.records(render_sql("89_prediction_log_rows.sql", settings))
        return {"staged": staged, "logged": int(rows[0][0])}

    return append_prediction_log()


def _windows(params: dict[str, Any], end: datetime) -> Any:
    from fraud_mlops.monitoring.windows import Windows

    start = params.get("current_start") or None
    return Windows.ending(
        end=end,
        current=timedelta(hours=float(params.get("current_hours", 24))),
        reference=timedelta(hours=float(params.get("reference_hours", 168))),
        current_start=datetime.fromisoformat(start.replace("Z", "+00:00")) if start else None,
    )


def check_drift(settings: Settings) -> Any:
    """On gcp the task page links to the run's reports in the Cloud Storage console."""

    links = targets.console_links(settings)

    @links.task(("reports",), pool=settings.warehouse_pool)
    def check_drift() -> dict[str, Any]:
        """Evidently's skew, drift and prediction-drift checks; HTML reports and result.json."""
        from dataclasses import replace
        from pathlib import Path

        from fraud_mlops.alerting.sinks import DRIFT
        from fraud_mlops.monitoring.drift_alerts import decide_run, drift_history, record_decision
        from fraud_mlops.monitoring.run import run_monitoring
        from fraud_mlops.orchestration.alerts import raise_alert

        context = get_current_context()
        params = dict(context["params"])
        now = datetime.now(UTC)
        remind_after = timedelta(hours=float(params.get("drift_reminder_hours", 24)))
        warehouse = targets.warehouse(settings)
        history = drift_history(warehouse, settings, now, context["run_id"], remind_after)
        result = run_monitoring(settings, context["run_id"], _windows(params, now))
        reports_dir = str(Path(result["result_file"]).parent)
        print(f"{result['verdict']}; reports and result.json in {reports_dir}")
        links.record(context, reports_dir=reports_dir)
        summary = {
            "drift_detected": result["drift_detected"],
            "flagged_checks": result["flagged_checks"],
            "verdict": result["verdict"],
            "result_file": result["result_file"],
            "reports": {name: c["report"] for name, c in result["checks"].items()},
            "windows": result["windows"],
        }
        decided = decide_run(history, result, now, remind_after)
        alert = decided.alert
        if history and history[0].flagged and not decided.state:
            print(
                f"drift cleared: the previous run ({history[0].run_id}) flagged {sorted(history[0].flagged)}"
            )
        if alert.alert and not raise_alert(
            DRIFT,
            f"{alert.reason}: {result['verdict']}",
            context,
            {k: summary[k] for k in ("flagged_checks", "reports")},
            # one run's decision: a retry after the alert went out (its record failed) repeats
            # it; a clear that decides otherwise (other checks flagged) alerts anew
            alert_id=f"{DRIFT}:{context['dag'].dag_id}:{context['run_id']}:{','.join(sorted(decided.state))}",
        ):
            # recorded as not announced: the next run announces it (a reminder is due at once)
            alert = replace(alert, alert=False, reason=f"{alert.reason} (the alert could not be sent)")
        summary["alert"] = {"raised": alert.alert, "reason": alert.reason}
        print(f"alert: {'raised' if alert.alert else 'not raised'} ({alert.reason})")
        record_decision(warehouse, settings, context["run_id"], now, decided.state, alert, decided.unjudged)
        return summary

    return check_drift()


def record_monitoring_metrics(settings: Settings) -> Any:
    return targets.warehouse(settings).sql_operator(
        "record_monitoring_metrics",
        "85_monitoring_metrics.sql",
        outlets=[assets.monitoring_metrics()],
        doc_md="This run's per-feature drift figures replace its earlier rows of monitoring_metrics.",
    )


def refresh_reporting_views(settings: Settings) -> Any:
    @task(pool=settings.warehouse_pool)
    def refresh_reporting_views() -> dict[str, Any]:
        """The fraud-ops reporting views (Looker Studio on gcp, `make dashboard` locally).

        Views over tables ingestion publishes appear once it has published them.
        """
        from fraud_mlops.monitoring import reporting

        published = reporting.refresh_reporting_views(targets.warehouse(settings), settings)
        print(f"reporting views refreshed; ingestion tables published: {published}")
        return published

    return refresh_reporting_views()


def apply_canary_decision(settings: Settings) -> Any:
    """On gcp the task page links to the endpoint and the canary's model in the console."""

    links = targets.console_links(settings)

    @links.task(("endpoint", "model"), pool=settings.warehouse_pool)
    def apply_canary_decision() -> dict[str, Any]:
        """PROMOTE / HOLD / ROLLBACK the canary from the prediction log's evidence."""
        from fraud_mlops.alerting.sinks import ROLLBACK
        from fraud_mlops.monitoring.canary_apply import (
            apply_decision,
            begun_decision,
            canary_pair,
            canary_sql_values,
            decide_from_rows,
            policy_from,
        )
        from fraud_mlops.orchestration.alerts import raise_alert
        from fraud_mlops.orchestration.training import DAG_ID as TRAINING_DAG_ID
        from fraud_mlops.registry.artifact import read_metadata
        from fraud_mlops.registry.backends import open_endpoint, open_registry
        from fraud_mlops.registry.base import VERDICT_MARKS
        from fraud_mlops.registry.names import MODEL_NAME
        from fraud_mlops.sql_templates import render_sql

        context = get_current_context()
        # A training run's pipeline registers and deploys outside any pool or lease: a verdict
        # carried out meanwhile could move traffic and aliases under its deploy (a promotion
        # whose champion the deploy redeploys, a rollback that leaves the new canary no
        # traffic). No verdict starts while one is in flight; a verdict begun before it (its
        # mark on the canary) is finished, as registration waits for it
        # (training.steps.wait_for_canary_verdict) and nothing is deployed before it.
        training = int(context["ti"].get_dr_count(dag_id=TRAINING_DAG_ID, states=["queued", "running"]))
        hold = {
            "verdict": "HOLD",
            "reasons": [
                f"{training} {TRAINING_DAG_ID} run(s) in flight may deploy a new canary: deciding after it"
            ],
        }
        registry = open_registry(targets.registry_uri(settings))
        if training and not any(registry.get(MODEL_NAME, mark) for mark in VERDICT_MARKS):
            links.record(context, "")
            return hold
        pair = canary_pair(registry, MODEL_NAME)
        links.record(context, pair[1].resource_name if pair else "")
        if pair is None:
            return {"verdict": "NO_CANARY", "reasons": ["no challenger is deployed beside the champion"]}
        champion, canary = pair
        endpoint = open_endpoint(targets.endpoint_uri(settings))
        evidence: dict[str, Any] | None = None
        decision = begun_decision(canary)  # a promotion or rollback cut short: finished, not redecided
        if decision is None and training:
            return hold
        if decision is None:
            values = canary_sql_values(champion.version, canary.version, endpoint.deployed_since(canary))
            sql = render_sql("86_canary_window.sql", settings, **values)
            rows = [tuple(r) for r in targets.warehouse(settings).records(sql)]
            policy = policy_from(
                dict(context["params"]).get("canary_policy") or None,
                shadow_pairs_logged=targets.endpoint_scores_shadow_pairs(settings),
            )
            read, decision = decide_from_rows(
                rows, champion.version, canary.version, policy,
                canary_traffic_percent=endpoint.traffic_percent(canary),
            )  # fmt: skip
            evidence = {
                "canary": read.canary.__dict__,
                "champion": read.champion.__dict__,
                "window": read.window.__dict__,
            }
        else:
            print(decision.reasons[0])

        def alert(outcome: dict[str, Any]) -> None:
            summary = f"canary {MODEL_NAME} v{canary.version} rolled back: " + "; ".join(decision.reasons)
            details = {"reasons": list(decision.reasons), "traffic": outcome["traffic"]}
            # one rollback per canary version, however many tries finish it
            if not raise_alert(
                ROLLBACK, summary, context, details, alert_id=f"{ROLLBACK}:{MODEL_NAME}:v{canary.version}"
            ):
                # the canary keeps its challenger alias and its mark: the retry finishes the
                # rollback and alerts (the rollback itself is done: it serves nothing)
                raise RuntimeError(f"the canary_rollback alert could not be sent: {summary}")

        outcome = apply_decision(
            decision,
            registry,
            endpoint,
            MODEL_NAME,
            canary.version,
            champion.version,
            lambda v: float(read_metadata(v.local_dir()).get("threshold", 0.5)),
            on_rollback=alert,
        )
        outcome["evidence"] = evidence
        return outcome

    return apply_canary_decision()
