"""What a model registry and an endpoint must offer the pipeline, on either target.

The concepts are Vertex AI's: one model (``fraud-detector``) with numbered versions, each an
artifact directory plus labels; aliases (``champion``, ``challenger``) point at versions; an
endpoint serves deployed versions under a traffic split. The local implementations keep the
same concepts in files, so the pipeline's components call one interface.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

CHAMPION = "champion"
CHALLENGER = "challenger"
PREVIOUS_CHAMPION = "previous-champion"  # kept on promotion: reverting it is one call
#: Set on the canary before a promotion or a rollback acts, removed once it is done: a try cut
#: short in between is finished by the next one, not decided again (monitoring/canary_apply.py)
PROMOTING = "canary-promoting"
ROLLING_BACK = "canary-rolling-back"
#: Both marks: while any version carries one, a verdict is under way (the canary task finishes
#: it; registration waits for it).
VERDICT_MARKS = (PROMOTING, ROLLING_BACK)
#: Vertex AI's format of a version alias (``Model.version_aliases`` in google.cloud.aiplatform_v1):
#: a lowercase letter first, then letters, digits and ``-``; no ``_``. Both registries check it,
#: so a name Vertex would refuse fails on the local target too.
ALIAS_FORMAT = re.compile(r"[a-z][a-zA-Z0-9-]{0,126}[a-z0-9]")
GCS_FUSE_ROOT = "/gcs/"  # Vertex pipeline containers mount gs://bucket/x at /gcs/bucket/x


@dataclass(frozen=True)
class ModelVersion:
    model_name: str
    version: str
    artifact_uri: str  # directory holding model.joblib + metadata.json
    aliases: tuple[str, ...] = ()
    labels: dict[str, str] = field(default_factory=dict)
    resource_name: str = ""  # Vertex: projects/…/models/ID@VERSION; local: the version folder

    def local_dir(self) -> Path:
        """Where the artifact can be read with file APIs (GCS FUSE path on Vertex)."""
        return file_path(self.artifact_uri)


def file_path(uri: str) -> Path:
    """``gs://bucket/x`` as Vertex pipeline containers mount it (``/gcs/bucket/x``); a local path as is."""
    if uri.startswith("gs://"):
        return Path(GCS_FUSE_ROOT + uri.removeprefix("gs://"))
    return Path(uri.removeprefix("file://"))


class ModelRegistry(Protocol):
    def get(self, model_name: str, alias_or_version: str) -> ModelVersion | None: ...

    def register(
        self,
        model_name: str,
        model_dir: Path,
        artifact_uri: str,
        *,
        labels: dict[str, str],
        metadata: dict[str, Any],
        aliases: list[str],
        description: str = "",
    ) -> ModelVersion: ...

    def set_alias(self, model_name: str, alias: str, version: str) -> None: ...

    def remove_alias(self, model_name: str, alias: str, version: str | None = None) -> None:
        """Take ``alias`` off the version holding it; with ``version``, only if that version holds
        it: training may have moved the alias on since the caller looked (a newer challenger
        registered while a canary's verdict was carried out keeps its alias)."""
        ...


class ModelEndpoint(Protocol):
    def is_deployed(self, version: ModelVersion) -> bool:
        """Whether ``version`` is deployed on the endpoint (at any traffic share)."""
        ...

    def deployed_since(self, version: ModelVersion) -> datetime | None:
        """When ``version`` was deployed on the endpoint (None: it is not, or the endpoint does
        not say): no answer of it can be older, so the canary's evidence reads from there."""
        ...

    def traffic_percent(self, version: ModelVersion) -> int:
        """``version``'s share of the endpoint's traffic, in percent (0: not deployed, no endpoint)."""
        ...

    def deploy_canary(
        self, version: ModelVersion, threshold: float, champion: ModelVersion | None, canary_percent: int
    ) -> dict[str, int]:
        """Deploy ``version``; return the resulting split keyed by model version."""
        ...

    def promote(self, version: ModelVersion, threshold: float) -> dict[str, int]: ...

    def rollback(self, canary: ModelVersion, champion: ModelVersion) -> dict[str, int]:
        """Take ``canary`` to 0 % (undeployed); ``champion`` serves 100 %."""
        ...


def hand_over_champion(registry: ModelRegistry, model_name: str, new: str, old: str) -> None:
    """The aliases after ``new`` took the endpoint from champion ``old``: ``old`` is kept as
    ``previous-champion`` (reverting is one call), ``new`` is ``champion``, and the ``challenger``
    alias goes last of the three: a hand-over cut short leaves it, so the canary is looked at
    again (a canary's promotion removes its mark after them: monitoring/canary_apply.py)."""
    registry.set_alias(model_name, PREVIOUS_CHAMPION, old)
    registry.set_alias(model_name, CHAMPION, new)
    registry.remove_alias(model_name, CHALLENGER, new)


def checked_alias(alias: str) -> str:
    """``alias``, if Vertex AI would accept it as a version alias; else ValueError."""
    if not ALIAS_FORMAT.fullmatch(alias):
        raise ValueError(f"{alias!r} is not a Vertex AI version alias ({ALIAS_FORMAT.pattern})")
    return alias


_LABEL_BAD = re.compile(r"[^a-z0-9_-]")


def label_value(value: str) -> str:
    """Vertex/BigQuery label rules: lowercase letters, digits, ``_`` and ``-``, at most 63 chars."""
    return _LABEL_BAD.sub("-", value.lower())[:63]


def labels_for(snapshot: str, pipeline_run: str, model_type: str) -> dict[str, str]:
    """Labels tying a model version to its training snapshot and pipeline run."""
    return {
        "snapshot": label_value(snapshot),
        "pipeline_run": label_value(pipeline_run),
        "model_type": label_value(model_type),
    }
