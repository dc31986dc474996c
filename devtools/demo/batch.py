"""The demo's batch scoring step: one run of ``fraud_batch_scoring`` after training, summarised."""

from __future__ import annotations

from typing import Any

BATCH_DAG = "fraud_batch_scoring"


def run_batch_scoring(api: Any, on_progress: Any = None) -> dict[str, Any]:
    """Trigger the DAG once, wait, and print rows written, score quantiles and model version."""
    run_id = api.trigger(BATCH_DAG)
    api.set_paused(BATCH_DAG, False)  # a triggered run of a paused DAG would never start
    try:
        print(f"    {BATCH_DAG} run {run_id}")
        run = api.wait_for_run(BATCH_DAG, run_id, timeout=900, on_progress=on_progress)
    finally:
        api.set_paused(BATCH_DAG, True)  # the demo wants one run, not the daily schedule
    if run["state"] != "success":
        raise RuntimeError(f"batch scoring run {run_id} ended {run['state']}")
    summary = dict(api.xcom(BATCH_DAG, run_id, "summarise_batch_scoring"))
    quantiles = ", ".join(f"{q:.4f}" for q in summary["score_quantiles"])
    print(
        f"    {summary['rows_written']:,} rows written to card_predictions by model version "
        f"{summary['model_versions']}; {summary['flagged_as_fraud']:,} flagged as fraud\n"
        f"    score min, quartiles, max: {quantiles}"
    )
    return summary
