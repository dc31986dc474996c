"""The training DAG's tasks, on both targets.

    choose_snapshot → train_evaluate_deploy → record_model_lineage

``train_evaluate_deploy`` is the same compiled pipeline either way, run by the target's
pipeline runner (:mod:`fraud_mlops.pipeline_runs`): on gcp the provider's
``RunPipelineJobOperator`` submits it to Vertex AI Pipelines and waits deferred (no worker
slot held); locally one task runs it with ``kfp.local``. Heavy imports (kfp, scikit-learn,
the Vertex SDK) happen inside tasks, so parsing this module stays cheap.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

from airflow.sdk import Param, task

from fraud_mlops import targets
from fraud_mlops.orchestration.defaults import DEFAULT_ARGS as COMMON_DEFAULT_ARGS
from fraud_mlops.settings import Settings

DAG_ID = "fraud_training"

#: A retry reruns the whole pipeline: at worst one extra registered version, never a lost one.
DEFAULT_ARGS = {**COMMON_DEFAULT_ARGS, "retry_delay": timedelta(minutes=1)}

#: Tunables a manual run may override (the pipeline's own defaults apply when left empty).
TUNABLE_PARAMS = ("model_type", "canary_percent", "min_pr_auc", "min_roc_auc", "champion_tolerance")


def dag_params() -> dict[str, Param]:
    return {
        "snapshot": Param(
            "",
            type="string",
            description="Snapshot to train on; empty = the one that triggered the run, else the newest.",
        ),
        "model_type": Param(
            "hist_gradient_boosting",
            enum=["hist_gradient_boosting", "random_forest"],
            description="Gradient boosting (default) or the seed projects' random-forest baseline.",
        ),
        "canary_percent": Param(
            10, type="integer", minimum=0, maximum=100, description="Traffic for a new model."
        ),
        "min_pr_auc": Param(
            0.5, type="number", minimum=0, maximum=1, description="Gate: minimum test PR-AUC."
        ),
        "min_roc_auc": Param(
            0.85, type="number", minimum=0, maximum=1, description="Gate: minimum test ROC-AUC."
        ),
        "champion_tolerance": Param(
            0.0,
            type="number",
            minimum=0,
            maximum=1,
            description="Gate: PR-AUC the challenger may lose vs champion.",
        ),
    }


def snapshots_from_events(events: Mapping[Any, Sequence[Any]] | None) -> list[str]:
    """The snapshots the triggering events name (``extra["snapshot"]``), newest event first,
    each once; empty if the run was not asset-triggered. Airflow hands a run every event since
    the last one (events wait while a run is active: ``max_active_runs=1``)."""
    named: list[tuple[Any, str]] = []
    for asset_events in (events or {}).values():
        for event in asset_events:
            name = (getattr(event, "extra", None) or {}).get("snapshot")
            if name:
                named.append((getattr(event, "timestamp", None), str(name)))
    # newest first; events without a time last (a stable sort: the same time keeps their order)
    named.sort(key=lambda e: (e[0] is not None, e[0] if e[0] is not None else 0), reverse=True)
    return list(dict.fromkeys(name for _, name in named))


def snapshot_from_events(events: Mapping[Any, Sequence[Any]] | None) -> str | None:
    """The newest triggering event's ``extra["snapshot"]``, if the run was asset-triggered."""
    names = snapshots_from_events(events)
    return names[0] if names else None


def choose_snapshot(settings: Settings) -> Any:
    """Snapshot from the param, else the triggering asset event, else the newest one; and the
    pipeline's parameter values for it (``multiple_outputs``: ``["snapshot"]``, ``["parameters"]``)."""

    # in the warehouse pool: it reads model_lineage (locally the DuckDB file, one writer)
    @task(multiple_outputs=True, pool=settings.warehouse_pool)
    def choose_snapshot(**context: Any) -> dict[str, Any]:
        """Snapshot from the param, else the newest triggering event's that no other training
        run recorded lineage for, else the newest one. Events whose snapshots were all trained on
        skip the run: they came again (a cleared ingestion run takes its snapshot again), and one
        snapshot trains, registers and deploys once. By hand, with the param, it trains again."""
        from airflow.sdk.exceptions import AirflowSkipException

        from fraud_mlops.sql_templates import render_sql
        from fraud_mlops.training.lineage import SNAPSHOT_TRAINED_SQL_FILE, training_runs_on
        from fraud_mlops.training.pipeline_params import newest_snapshot, pipeline_parameters

        params = context["params"]
        from_event = None
        if not params.get("snapshot"):
            named = snapshots_from_events(context.get("triggering_asset_events"))
            sql = render_sql(SNAPSHOT_TRAINED_SQL_FILE, settings)
            warehouse = targets.warehouse(settings)
            trained = []
            for name in named:
                if training_runs_on(warehouse, sql, name, context["run_id"]) == 0:
                    from_event = name
                    break
                trained.append(name)
            if trained:
                print(f"trained on already (model_lineage), not again: {', '.join(trained)}")
            if named and from_event is None:
                raise AirflowSkipException(
                    f"every snapshot the events name was trained on already ({', '.join(named)}): the events "
                    "repeat (a cleared ingestion run sends its snapshot's again); nothing to train. To train "
                    "on one again, trigger fraud_training with its name as the snapshot parameter"
                )
        snapshot = params.get("snapshot") or from_event or newest_snapshot(settings)
        overrides = {k: params.get(k) for k in TUNABLE_PARAMS}
        parameters = pipeline_parameters(settings, snapshot, **overrides)
        print(f"training on snapshot {snapshot} with {parameters}")
        return {"snapshot": snapshot, "parameters": parameters}

    return choose_snapshot()


def train_evaluate_deploy(settings: Settings, parameters: Any) -> Any:
    """The compiled pipeline on the target's runner; returns the task's output ``XComArg``."""
    return targets.pipeline_runner(settings).run_operator(parameters)


def record_model_lineage(settings: Settings, outcome: Any, snapshot: Any) -> Any:
    """One ``model_lineage`` row: snapshot, pipeline run, model version, gate decision, metrics."""

    links = targets.console_links(settings)

    @links.task(("endpoint",), pool=settings.warehouse_pool)
    def record_model_lineage(outcome: dict[str, Any], snapshot: str, **context: Any) -> dict[str, str]:
        """One ``model_lineage`` row: snapshot, pipeline run, model version, gate decision, metrics."""
        from fraud_mlops.registry.names import MODEL_NAME
        from fraud_mlops.sql_templates import render_sql
        from fraud_mlops.training.lineage import (
            CHAMPION_SNAPSHOT_SQL_FILE,
            LINEAGE_SQL_FILE,
            champion_snapshot,
            keep_named_snapshot_sql,
            keep_snapshot_sql,
            lineage_row,
            other_champion,
            write_lineage,
        )

        links.record(context)  # the endpoint the pipeline deploys to, first: a failed run has it too
        result = targets.pipeline_runner(settings).result(outcome, snapshot)
        row = lineage_row(
            result,
            target=settings.target,
            model_name=MODEL_NAME,
            dag_id=context["dag"].dag_id,
            dag_run_id=context["run_id"],
        )
        warehouse = targets.warehouse(settings)
        render = lambda name, **extra: render_sql(name, settings, **extra)  # noqa: E731
        write_lineage(row, warehouse, render(LINEAGE_SQL_FILE))
        keep = keep_snapshot_sql(row, render)
        if keep is not None:  # a registered version keeps its training data as long as itself
            warehouse.execute(keep)
            print(
                f"snapshot {row.snapshot_name} kept {settings.model_retention_days} days for version {row.model_version}"
            )
        # ... and the champion still serving keeps its own, renewed by every run it serves through
        serving = champion_snapshot(row, warehouse, render(CHAMPION_SNAPSHOT_SQL_FILE))
        if serving is not None:
            warehouse.execute(keep_named_snapshot_sql(serving, render))
            print(
                f"snapshot {serving} kept {settings.model_retention_days} more days for champion version {row.champion_version}"
            )
        elif other_champion(row) is not None:
            print(f"champion version {row.champion_version}: no kept training snapshot in lineage to renew")
        print(result.summary())
        return row.parameters()

    return record_model_lineage(outcome, snapshot)
