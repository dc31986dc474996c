"""The pipeline-run seam: one task that runs the compiled pipeline, and what it decided.

Both runners run the same file, ``include/pipelines/fraud_training.yaml``; they differ in where
(Vertex AI Pipelines or ``kfp.local``) and in the shape of the task's XCom, which
:meth:`PipelineRunner.result` turns into the same :class:`.result.PipelineResult`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

from fraud_mlops.pipeline_runs.result import PipelineResult

COMPILED_PIPELINE = "fraud_training.yaml"
TASK_ID = "train_evaluate_deploy"


def pipeline_yaml_path() -> Path:
    from fraud_mlops.paths import pipelines_dir

    return pipelines_dir() / COMPILED_PIPELINE


class PipelineRunner(Protocol):
    def run_operator(self, parameters: Any) -> Any:
        """Create the ``train_evaluate_deploy`` task in the current DAG; return its output ``XComArg``.

        ``parameters`` is the pipeline's parameter values (an ``XComArg`` resolved at run time).
        """
        ...

    def result(self, outcome: dict[str, Any], snapshot: str) -> PipelineResult:
        """The run's decision, metrics and model version from the task's XCom."""
        ...
