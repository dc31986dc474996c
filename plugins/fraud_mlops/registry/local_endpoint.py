"""The local endpoint: which model versions serve, with what share of traffic and threshold.

This JSON file is the contract between training (writes it on deploy/promote) and the local
prediction function (reads it per request or on change). It mirrors a Vertex endpoint: deployed
models with ids and a traffic split summing to 100. Writes go to a temp file then
``os.replace``, so a reader never sees half a file.

Layout (``settings.local_dir / "endpoints" / "fraud-endpoint.json"``)::

    {"endpoint_name": "fraud-endpoint", "updated_at": "2026-…Z",
     "deployed_models": [{"deployed_model_id": "…", "model_name": "fraud-detector",
                          "model_version": "2", "artifact_uri": "/abs/dir",
                          "traffic_percent": 90, "threshold": 0.41,
                          "deployed_at": "2026-…Z"}, …]}
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fraud_mlops.registry.base import ModelVersion
from fraud_mlops.registry.names import ENDPOINT_NAME
from fraud_mlops.registry.traffic import canary_split, promote_split


def endpoint_path(local_dir: Path, endpoint_name: str = ENDPOINT_NAME) -> Path:
    return local_dir / "endpoints" / f"{endpoint_name}.json"


@dataclass(frozen=True)
class DeployedModel:
    deployed_model_id: str
    model_name: str
    model_version: str
    artifact_uri: str
    traffic_percent: int
    threshold: float
    deployed_at: str | None = None  # RFC 3339, UTC; files written before it have none


@dataclass(frozen=True)
class EndpointState:
    endpoint_name: str
    updated_at: str
    deployed_models: tuple[DeployedModel, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        return {
            "endpoint_name": self.endpoint_name,
            "updated_at": self.updated_at,
            "deployed_models": [asdict(m) for m in self.deployed_models],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EndpointState:
        return cls(
            endpoint_name=str(data["endpoint_name"]),
            updated_at=str(data["updated_at"]),
            deployed_models=tuple(
                DeployedModel(
                    deployed_model_id=str(m["deployed_model_id"]),
                    model_name=str(m["model_name"]),
                    model_version=str(m["model_version"]),
                    artifact_uri=str(m["artifact_uri"]),
                    traffic_percent=int(m["traffic_percent"]),
                    threshold=float(m["threshold"]),
                    deployed_at=m.get("deployed_at"),
                )
                for m in data.get("deployed_models", [])
            ),
        )

    def validate(self) -> None:
        if self.deployed_models and sum(m.traffic_percent for m in self.deployed_models) != 100:
            raise ValueError(f"traffic of {self.endpoint_name} does not sum to 100: {self.deployed_models}")
        if any(not 0 <= m.traffic_percent <= 100 for m in self.deployed_models):
            raise ValueError(f"traffic percents of {self.endpoint_name} must be within 0..100")

    def by_version(self, model_version: str) -> DeployedModel | None:
        return next((m for m in self.deployed_models if m.model_version == model_version), None)


def empty_endpoint(endpoint_name: str = ENDPOINT_NAME) -> EndpointState:
    return EndpointState(endpoint_name=endpoint_name, updated_at=_now())


def read_endpoint(path: Path) -> EndpointState:
    """The endpoint's state; an endpoint never deployed to has no models (not an error)."""
    if not path.is_file():
        return empty_endpoint(path.stem)
    return EndpointState.from_dict(json.loads(path.read_text()))


def write_endpoint(path: Path, state: EndpointState) -> EndpointState:
    """Validate and write atomically (temp file in the same folder, then ``os.replace``)."""
    state = replace(state, updated_at=_now())
    state.validate()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as handle:
            json.dump(state.to_dict(), handle, indent=2)
            handle.write("\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return state


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


class LocalEndpoint:
    """Deploys registry versions to the endpoint file with the canary rules of :mod:`.traffic`."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def state(self) -> EndpointState:
        return read_endpoint(self.path)

    def is_deployed(self, version: ModelVersion) -> bool:
        return self.state().by_version(version.version) is not None

    def deployed_since(self, version: ModelVersion) -> datetime | None:
        deployed = self.state().by_version(version.version)
        if deployed is None or deployed.deployed_at is None:
            return None
        return datetime.fromisoformat(deployed.deployed_at.replace("Z", "+00:00"))

    def traffic_percent(self, version: ModelVersion) -> int:
        deployed = self.state().by_version(version.version)
        return 0 if deployed is None else deployed.traffic_percent

    def deploy_canary(
        self, version: ModelVersion, threshold: float, champion: ModelVersion | None, canary_percent: int
    ) -> dict[str, int]:
        current = self.state()
        serving_champion = current.by_version(champion.version) if champion is not None else None
        new = _deployed(version, threshold)
        split = canary_split(
            new.deployed_model_id,
            serving_champion.deployed_model_id if serving_champion else None,
            canary_percent,
        )
        return self._apply(current, [new, *current.deployed_models], split)

    def promote(self, version: ModelVersion, threshold: float) -> dict[str, int]:
        current = self.state()
        existing = current.by_version(version.version)
        promoted = existing or _deployed(version, threshold)
        return self._apply(
            current, [promoted, *current.deployed_models], promote_split(promoted.deployed_model_id)
        )

    def rollback(self, canary: ModelVersion, champion: ModelVersion) -> dict[str, int]:
        """The canary leaves the endpoint (0 %); the serving champion takes 100 %."""
        current = self.state()
        serving = current.by_version(champion.version)
        if serving is None:
            raise ValueError(f"champion v{champion.version} is not deployed on {self.path}; not rolling back")
        del canary  # every model but the champion leaves: one challenger at a time (see .traffic)
        return self._apply(current, list(current.deployed_models), promote_split(serving.deployed_model_id))

    def _apply(
        self, current: EndpointState, candidates: list[DeployedModel], split: dict[str, int]
    ) -> dict[str, int]:
        kept: dict[str, DeployedModel] = {}
        for model in candidates:
            if model.deployed_model_id in split and model.deployed_model_id not in kept:
                kept[model.deployed_model_id] = replace(model, traffic_percent=split[model.deployed_model_id])
        state = write_endpoint(self.path, replace(current, deployed_models=tuple(kept.values())))
        return {m.model_version: m.traffic_percent for m in state.deployed_models}


def _deployed(version: ModelVersion, threshold: float) -> DeployedModel:
    return DeployedModel(
        deployed_model_id=f"{version.model_name}-v{version.version}",
        model_name=version.model_name,
        model_version=version.version,
        artifact_uri=str(version.local_dir()),
        traffic_percent=0,
        threshold=float(threshold),
        deployed_at=_now(),
    )
