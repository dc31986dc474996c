"""Parameter values of the training pipeline for the active target, and the run's outcome.

The compiled pipeline is one file; the two targets differ only in the values built here:
where the snapshot is (``bq://`` table or local Parquet), and where the registry and endpoint
live (Vertex AI or files under the local data folder).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fraud_mlops.registry.names import ENDPOINT_NAME, MODEL_NAME
from fraud_mlops.settings import Settings

COMPILED_PIPELINE = "fraud_training.yaml"


def snapshot_uri(settings: Settings, snapshot: str) -> str:
    if settings.is_local:
        return str(settings.snapshot_dir / f"{snapshot}.parquet")
    return f"bq://{settings.project}.{settings.dataset}.{snapshot}"


def registry_uri(settings: Settings) -> str:
    if settings.is_local:
        return str(settings.registry_dir)
    from fraud_mlops.registry.backends import vertex_registry_uri

    return vertex_registry_uri(settings.project, settings.region)


def endpoint_uri(settings: Settings, endpoint_name: str = ENDPOINT_NAME) -> str:
    if settings.is_local:
        return str(settings.local_dir / "endpoints" / f"{endpoint_name}.json")
    from fraud_mlops.registry.backends import vertex_endpoint_uri

    return vertex_endpoint_uri(settings.project, settings.region, endpoint_name)


def pipeline_parameters(settings: Settings, snapshot: str, **overrides: Any) -> dict[str, Any]:
    """Values for ``fraud_training``; ``overrides`` set tunables (model_type, min_pr_auc, canary_percent…)."""
    params: dict[str, Any] = {
        "snapshot_uri": snapshot_uri(settings, snapshot),
        "snapshot_name": snapshot,
        "registry_uri": registry_uri(settings),
        "endpoint_uri": endpoint_uri(settings),
        "model_name": MODEL_NAME,
    }
    params.update({k: v for k, v in overrides.items() if v is not None})
    return params


def newest_local_snapshot(settings: Settings) -> str:
    """Name of the newest local snapshot (names sort by their UTC timestamp)."""
    names = sorted(p.stem for p in settings.snapshot_dir.glob("training_snapshot_*.parquet"))
    if not names:
        raise FileNotFoundError(f"no training snapshot in {settings.snapshot_dir}; run the ingestion first")
    return names[-1]


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


def pipeline_yaml_path() -> Path:
    from fraud_mlops.paths import pipelines_dir

    return pipelines_dir() / COMPILED_PIPELINE
