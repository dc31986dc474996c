"""What a training run decided, on either target: the lineage row and the logs are built from it."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class PipelineResult:
    """What a training run decided, on either target; the lineage row is built from it."""

    pipeline_run: str
    snapshot: str
    decision: str
    reason: str
    model_version: str
    champion_version: str
    metrics: dict[str, float] = field(default_factory=dict)
    traffic: dict[str, int] = field(default_factory=dict)
    wall_seconds: float = 0.0

    @classmethod
    def from_outputs(
        cls, outputs: dict[str, Any], snapshot: str, wall_seconds: float = 0.0
    ) -> PipelineResult:
        """From the pipeline's outputs (``PipelineOutputs`` in include/pipelines/fraud_training.py)."""
        return cls(
            pipeline_run=str(outputs["pipeline_run"]),
            snapshot=snapshot,
            decision=str(outputs["decision"]),
            reason=str(outputs["reason"]),
            model_version=str(outputs.get("model_version") or ""),
            champion_version=str(outputs.get("champion_version") or ""),
            metrics={k: float(v) for k, v in json.loads(outputs.get("metrics_json") or "{}").items()},
            traffic={k: int(v) for k, v in json.loads(outputs.get("traffic_json") or "{}").items()},
            wall_seconds=wall_seconds,
        )

    def summary(self) -> str:
        """Human-readable lines for logs and ``make demo``."""
        lines = [
            f"pipeline run   {self.pipeline_run}  ({self.wall_seconds:.1f} s)",
            f"snapshot       {self.snapshot}",
            "metrics        "
            + ", ".join(
                f"{k}={self.metrics[k]:.4f}"
                for k in ("pr_auc", "roc_auc", "precision", "recall", "f1", "threshold")
                if k in self.metrics
            ),
            f"gate           {self.decision}: {self.reason}",
        ]
        if self.model_version:
            lines.append(f"model version  {self.model_version}  traffic {self.traffic}")
        else:
            lines.append(
                f"model version  none registered; champion stays {self.champion_version or '(none)'}"
            )
        return "\n".join(lines)
