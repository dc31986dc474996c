"""A file-backed model registry with Vertex's concepts: versions, aliases, labels, artifacts.

Layout under ``settings.registry_dir``::

    fraud-detector/
      registry.json          {"aliases": {"champion": "1", …}, "versions": {"1": {…}, …}}
      versions/1/            model.joblib + metadata.json (a copy: the registry owns it)
      rejections.jsonl       one line per challenger the gate turned down

The registry copies the artifact in, as Vertex keeps its own reference, so cleaning a pipeline
root never breaks a served model. Read-modify-write happens under an exclusive ``flock``, and
``registry.json`` is replaced atomically, so concurrent pipeline runs cannot lose a version.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fraud_mlops.registry.artifact import METADATA_FILE, write_metadata
from fraud_mlops.registry.base import ModelVersion, checked_alias

INDEX_FILE = "registry.json"


class LocalModelRegistry:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def _model_dir(self, model_name: str) -> Path:
        return self.root / model_name

    @contextlib.contextmanager
    def _locked(self, model_name: str) -> Iterator[dict[str, Any]]:
        """Hold the model's lock; yield its index; write it back atomically on success."""
        folder = self._model_dir(model_name)
        folder.mkdir(parents=True, exist_ok=True)
        with open(folder / ".lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            index = self._read_index(model_name)
            yield index
            _atomic_json(folder / INDEX_FILE, index)

    def _read_index(self, model_name: str) -> dict[str, Any]:
        path = self._model_dir(model_name) / INDEX_FILE
        if path.is_file():
            return json.loads(path.read_text())
        return {"model_name": model_name, "aliases": {}, "versions": {}}

    def _version(self, model_name: str, index: dict[str, Any], version: str) -> ModelVersion:
        entry = index["versions"][version]
        return ModelVersion(
            model_name=model_name,
            version=version,
            artifact_uri=entry["artifact_uri"],
            aliases=tuple(sorted(a for a, v in index["aliases"].items() if v == version)),
            labels=dict(entry.get("labels", {})),
            resource_name=str(self._model_dir(model_name) / "versions" / version),
        )

    def get(self, model_name: str, alias_or_version: str) -> ModelVersion | None:
        index = self._read_index(model_name)
        version = index["aliases"].get(alias_or_version, alias_or_version)
        if version not in index["versions"]:
            return None
        return self._version(model_name, index, version)

    def versions(self, model_name: str) -> list[ModelVersion]:
        index = self._read_index(model_name)
        return [self._version(model_name, index, v) for v in sorted(index["versions"], key=int)]

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
    ) -> ModelVersion:
        """Copy ``model_dir`` in as the next version; its ``metadata.json`` gains the version."""
        del artifact_uri  # the registry serves its own copy
        for alias in aliases:
            checked_alias(alias)
        with self._locked(model_name) as index:
            version = str(max((int(v) for v in index["versions"]), default=0) + 1)
            target = self._model_dir(model_name) / "versions" / version
            if target.exists():  # left over by a crash between copy and index write
                shutil.rmtree(target)
            shutil.copytree(model_dir, target, ignore=shutil.ignore_patterns(METADATA_FILE))
            write_metadata(target, {**metadata, "model_version": version})
            index["versions"][version] = {
                "artifact_uri": str(target),
                "labels": labels,
                "description": description,
                "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            }
            for alias in aliases:
                index["aliases"][alias] = version
            return self._version(model_name, index, version)

    def set_alias(self, model_name: str, alias: str, version: str) -> None:
        checked_alias(alias)
        with self._locked(model_name) as index:
            if version not in index["versions"]:
                raise KeyError(f"{model_name} has no version {version}")
            index["aliases"][alias] = version

    def remove_alias(self, model_name: str, alias: str, version: str | None = None) -> None:
        with self._locked(model_name) as index:
            if version is None or index["aliases"].get(alias) == version:
                index["aliases"].pop(alias, None)

    def record_rejection(self, model_name: str, record: dict[str, Any]) -> Path:
        path = self._model_dir(model_name) / "rejections.jsonl"
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a") as handle:
            handle.write(json.dumps(record, sort_keys=True, default=str) + "\n")
        return path

    def rejections(self, model_name: str) -> list[dict[str, Any]]:
        path = self._model_dir(model_name) / "rejections.jsonl"
        if not path.is_file():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _atomic_json(path: Path, data: dict[str, Any]) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    with os.fdopen(fd, "w") as handle:
        json.dump(data, handle, indent=2, sort_keys=True)
        handle.write("\n")
    os.replace(tmp, path)
