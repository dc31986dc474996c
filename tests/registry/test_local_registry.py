"""The file-backed registry and the local endpoint file (the serving contract)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from fraud_mlops.registry.artifact import MODEL_FILE, read_metadata
from fraud_mlops.registry.base import (
    ALIAS_FORMAT,
    CHALLENGER,
    CHAMPION,
    PREVIOUS_CHAMPION,
    label_value,
    labels_for,
)
from fraud_mlops.registry.local_endpoint import (
    DeployedModel,
    EndpointState,
    LocalEndpoint,
    read_endpoint,
    write_endpoint,
)
from fraud_mlops.registry.local_registry import LocalModelRegistry

MODEL = "fraud-detector"


def _artifact(folder: Path, content: bytes = b"model-bytes") -> Path:
    folder.mkdir(parents=True)
    (folder / MODEL_FILE).write_bytes(content)
    (folder / "metadata.json").write_text("{}")
    return folder


def _register(registry: LocalModelRegistry, tmp_path: Path, name: str, aliases: list[str]):
    return registry.register(
        MODEL,
        _artifact(tmp_path / name, name.encode()),
        str(tmp_path / name),
        labels={"snapshot": name},
        metadata={"threshold": 0.4, "snapshot": name},
        aliases=aliases,
    )


def test_versions_count_up_and_own_a_copy_with_full_metadata(tmp_path: Path) -> None:
    registry = LocalModelRegistry(tmp_path / "registry")
    first = _register(registry, tmp_path, "a", [CHAMPION, CHALLENGER])
    second = _register(registry, tmp_path, "b", [CHALLENGER])

    assert (first.version, second.version) == ("1", "2")
    (tmp_path / "b" / MODEL_FILE).unlink()  # the source may vanish (pipeline root cleanup)
    assert (second.local_dir() / MODEL_FILE).read_bytes() == b"b"
    assert read_metadata(second.local_dir()) == {"threshold": 0.4, "snapshot": "b", "model_version": "2"}
    assert registry.get(MODEL, CHAMPION).version == "1"  # type: ignore[union-attr]
    assert registry.get(MODEL, CHALLENGER).version == "2"  # type: ignore[union-attr]
    assert registry.get(MODEL, "1").aliases == (CHAMPION,)  # type: ignore[union-attr]
    assert registry.get(MODEL, "7") is None and registry.get("other-model", CHAMPION) is None


def test_aliases_move_and_can_be_removed(tmp_path: Path) -> None:
    registry = LocalModelRegistry(tmp_path / "registry")
    _register(registry, tmp_path, "a", [CHAMPION])
    _register(registry, tmp_path, "b", [CHALLENGER])
    registry.set_alias(MODEL, CHAMPION, "2")
    registry.remove_alias(MODEL, CHALLENGER)
    assert [v.aliases for v in registry.versions(MODEL)] == [(), (CHAMPION,)]
    with pytest.raises(KeyError):
        registry.set_alias(MODEL, CHAMPION, "9")


def test_rejections_are_appended(tmp_path: Path) -> None:
    registry = LocalModelRegistry(tmp_path / "registry")
    registry.record_rejection(MODEL, {"reason": "too weak"})
    registry.record_rejection(MODEL, {"reason": "worse than champion"})
    assert [r["reason"] for r in registry.rejections(MODEL)] == ["too weak", "worse than champion"]


def test_labels_follow_vertex_rules() -> None:
    assert (
        label_value("training_snapshot_20260901T000000_ABCD1234")
        == "training_snapshot_20260901t000000_abcd1234"
    )
    assert labels_for("S.1", "fraud-training-2026-11-22-02-45-59-133159", "hist_gradient_boosting") == {
        "snapshot": "s-1",
        "pipeline_run": "fraud-training-2026-11-22-02-45-59-133159",
        "model_type": "hist_gradient_boosting",
    }
    assert len(label_value("x" * 100)) == 63


def test_first_deploy_takes_all_traffic_then_canaries_replace_each_other(tmp_path: Path) -> None:
    registry = LocalModelRegistry(tmp_path / "registry")
    endpoint = LocalEndpoint(tmp_path / "endpoints" / "fraud-endpoint.json")
    v1 = _register(registry, tmp_path, "a", [CHAMPION])
    v2 = _register(registry, tmp_path, "b", [CHALLENGER])
    v3 = _register(registry, tmp_path, "c", [CHALLENGER])

    assert endpoint.deploy_canary(v1, 0.41, None, 10) == {"1": 100}
    assert endpoint.deploy_canary(v2, 0.42, v1, 10) == {"2": 10, "1": 90}
    assert endpoint.deploy_canary(v3, 0.43, v1, 25) == {"3": 25, "1": 75}  # v2's canary is undeployed

    state = json.loads(endpoint.path.read_text())
    assert state["endpoint_name"] == "fraud-endpoint" and state["updated_at"].endswith("Z")
    assert [
        (m["model_version"], m["traffic_percent"], m["threshold"], m["model_name"])
        for m in state["deployed_models"]
    ] == [("3", 25, 0.43, MODEL), ("1", 75, 0.41, MODEL)]
    assert Path(state["deployed_models"][0]["artifact_uri"]) == v3.local_dir()
    assert (Path(state["deployed_models"][0]["artifact_uri"]) / MODEL_FILE).read_bytes() == b"c"

    assert endpoint.promote(v3, 0.43) == {"3": 100}
    assert [m.model_version for m in read_endpoint(endpoint.path).deployed_models] == ["3"]


def test_the_endpoint_says_when_each_version_was_deployed(tmp_path: Path) -> None:
    """What the canary's evidence reads from (Vertex: DeployedModel.create_time)."""
    registry = LocalModelRegistry(tmp_path / "registry")
    endpoint = LocalEndpoint(tmp_path / "endpoints" / "fraud-endpoint.json")
    v1 = _register(registry, tmp_path, "a", [CHAMPION])
    v2 = _register(registry, tmp_path, "b", [CHALLENGER])
    before = datetime.now(UTC).replace(microsecond=0)
    endpoint.deploy_canary(v1, 0.41, None, 10)
    first = endpoint.deployed_since(v1)
    endpoint.deploy_canary(v2, 0.42, v1, 10)
    assert first is not None and before <= first <= datetime.now(UTC)
    assert endpoint.deployed_since(v1) == first  # a canary beside it leaves the champion's time
    canary = endpoint.deployed_since(v2)
    assert canary is not None and first <= canary <= datetime.now(UTC)
    assert (endpoint.traffic_percent(v1), endpoint.traffic_percent(v2)) == (90, 10)
    endpoint.rollback(v2, v1)
    assert endpoint.deployed_since(v2) is None  # not deployed
    assert (endpoint.traffic_percent(v1), endpoint.traffic_percent(v2)) == (100, 0)
    # an endpoint file written before deployment times were kept: unknown, not an error
    state = json.loads(endpoint.path.read_text())
    for model in state["deployed_models"]:
        del model["deployed_at"]
    endpoint.path.write_text(json.dumps(state))
    assert endpoint.deployed_since(v1) is None


def test_endpoint_file_is_validated_and_replaced_atomically(tmp_path: Path) -> None:
    path = tmp_path / "endpoints" / "fraud-endpoint.json"
    assert read_endpoint(path).deployed_models == ()  # never deployed: empty, not an error
    model = DeployedModel("fraud-detector-v1", MODEL, "1", "/m/1", 60, 0.5)
    with pytest.raises(ValueError, match="sum to 100"):
        write_endpoint(path, EndpointState("fraud-endpoint", "", (model,)))
    assert not path.exists()
    written = write_endpoint(
        path,
        EndpointState("fraud-endpoint", "", (model.__class__(**{**model.__dict__, "traffic_percent": 100}),)),
    )
    assert read_endpoint(path) == written
    assert sorted(p.name for p in path.parent.iterdir()) == ["fraud-endpoint.json"]  # no temp files left


def test_aliases_vertex_would_refuse_are_refused_here_too(tmp_path: Path) -> None:
    """Vertex AI's alias format (no ``_``, lowercase first): a name only the local registry
    took would fail the first promotion on gcp, after traffic had already moved."""
    registry = LocalModelRegistry(tmp_path / "registry")
    _register(registry, tmp_path, "1", [CHAMPION])
    for alias in (CHAMPION, CHALLENGER, PREVIOUS_CHAMPION):
        assert ALIAS_FORMAT.fullmatch(alias), alias
    for bad in ("previous_champion", "Champion", "9lives", "x", "champion-"):
        with pytest.raises(ValueError, match="not a Vertex AI version alias"):
            registry.set_alias(MODEL, bad, "1")
    with pytest.raises(ValueError, match="not a Vertex AI version alias"):
        _register(registry, tmp_path, "2", ["previous_champion"])
    assert [v.version for v in registry.versions(MODEL)] == ["1"]
