"""Run the compiled training pipeline on this machine with ``kfp.local``.

It runs the committed ``fraud_training.yaml`` — the file Vertex runs — not a re-declaration of
the pipeline. One adaptation: each task's ``pip install`` prelude is dropped, because
``SubprocessRunner(use_venv=False)`` would install into this very environment (the project's
venv has no pip, and the pins already equal the lock's versions; a test checks that). The
embedded project code, the task graph, the ``If``/``Else`` gate and the artifacts are unchanged.
"""

from __future__ import annotations

import logging
import time
import warnings
from dataclasses import asdict
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml

from fraud_mlops.pipeline_runs.base import TASK_ID, pipeline_yaml_path
from fraud_mlops.pipeline_runs.result import PipelineResult
from fraud_mlops.settings import Settings

log = logging.getLogger(__name__)


def without_pip_installs(pipeline_yaml: str) -> str:
    """The pipeline spec with every executor's ``sh -c '… pip install …' `` wrapper removed."""
    documents = list(yaml.safe_load_all(pipeline_yaml))
    spec = documents[0]
    for executor in spec["deploymentSpec"]["executors"].values():
        container = executor.get("container", {})
        command = container.get("command", [])
        if command[:2] == ["sh", "-c"] and len(command) > 3 and "pip install" in command[2]:
            container["command"] = command[3:]  # the wrapper ran "$0" "$@" = the rest
    return yaml.safe_dump_all(documents, sort_keys=False)


def run_pipeline_locally(
    parameters: dict[str, Any],
    pipeline_root: Path,
    pipeline_yaml: Path | None = None,
) -> PipelineResult:
    """Run the pipeline to completion in subprocesses; raise if any task fails."""
    from kfp import components, local

    text = (pipeline_yaml or pipeline_yaml_path()).read_text()
    pipeline = components.load_component_from_text(without_pip_installs(text))
    pipeline_root.mkdir(parents=True, exist_ok=True)
    local.init(
        runner=local.SubprocessRunner(use_venv=False),
        pipeline_root=str(pipeline_root),
        raise_on_error=True,
    )
    started = time.perf_counter()
    with warnings.catch_warnings():
        # kfp.local warns once per task that display names are a Vertex-only setting.
        warnings.filterwarnings("ignore", message=".*have no effect in the current local runner.*")
        task = pipeline(**parameters)
    elapsed = time.perf_counter() - started
    result = PipelineResult.from_outputs(
        dict(task.outputs), str(parameters.get("snapshot_name", "")), elapsed
    )
    log.info("training pipeline finished\n%s", result.summary())
    return result


class LocalPipelineRunner:
    """One Airflow task runs the whole pipeline (a subprocess per component, this venv)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def run_operator(self, parameters: Any) -> Any:
        from airflow.sdk import task

        @task(task_id=TASK_ID, execution_timeout=timedelta(hours=2))
        def train_evaluate_deploy(parameters: dict[str, Any], pipeline_root: str) -> dict[str, Any]:
            """The compiled pipeline run by kfp.local; artifacts under ``MLOPS_PIPELINE_ROOT``."""
            result = run_pipeline_locally(parameters, Path(pipeline_root))
            print(result.summary())
            return asdict(result)

        return train_evaluate_deploy(parameters, pipeline_root=self.settings.pipeline_root)

    def result(self, outcome: dict[str, Any], snapshot: str) -> PipelineResult:
        del snapshot  # the local outcome is the PipelineResult itself, snapshot included
        return PipelineResult(**outcome)
