"""The pipeline's deploy step: a new version goes beside the champion, never in its place.

A champion the endpoint does not serve (its own deploy failed, or someone undeployed it) used
to leave the new version alone on the endpoint at 100 %: unproven, answering online while batch
scoring used ``@champion``, with no champion for a rollback to return to. Both targets: the local
registry and endpoint files for real; Vertex with its two GAPIC clients mocked at the boundary
and the exact requests asserted.
"""

from __future__ import annotations

import json
from pathlib import Path
from unittest import mock

import pytest
from google.cloud import aiplatform_v1 as v1
from google.protobuf import field_mask_pb2

from fraud_mlops.registry.artifact import MODEL_FILE
from fraud_mlops.registry.base import CHALLENGER, CHAMPION, PREVIOUS_CHAMPION
from fraud_mlops.registry.local_endpoint import LocalEndpoint, read_endpoint
from fraud_mlops.registry.local_registry import LocalModelRegistry
from fraud_mlops.registry.vertex import DEFAULT_MACHINE_TYPE
from fraud_mlops.training.steps import deploy_step
from tests.vertex_registry import LookupRetry, answer_aliases

MODEL = "fraud-detector"
LOCATION = "projects/fraud-prj/locations/europe-west4"
PARENT = f"{LOCATION}/models/{MODEL}"
ENDPOINT = f"{LOCATION}/endpoints/42"


def _artifact(folder: Path, threshold: float) -> Path:
    folder.mkdir(parents=True)
    (folder / MODEL_FILE).write_bytes(folder.name.encode())
    (folder / "metadata.json").write_text(json.dumps({"threshold": threshold}))
    return folder


def _registry(tmp_path: Path, *versions: tuple[str, str, float]) -> LocalModelRegistry:
    """A local registry holding ``(folder, alias, threshold)`` as versions 1, 2, …"""
    registry = LocalModelRegistry(tmp_path / "registry")
    for name, alias, threshold in versions:
        registry.register(
            MODEL, _artifact(tmp_path / name, threshold), str(tmp_path / name),
            labels={"snapshot": name}, metadata={"threshold": threshold}, aliases=[alias],
        )  # fmt: skip
    return registry


def _local(tmp_path: Path) -> tuple[LocalModelRegistry, LocalEndpoint]:
    registry = _registry(tmp_path, ("a", CHAMPION, 0.41), ("b", CHALLENGER, 0.42))
    return registry, LocalEndpoint(tmp_path / "endpoints" / "fraud-endpoint.json")


def test_a_champion_the_endpoint_lost_is_deployed_again_before_the_canary(tmp_path: Path) -> None:
    registry, endpoint = _local(tmp_path)
    assert not endpoint.path.exists()  # v1's deploy never happened

    split = deploy_step(str(registry.root), str(endpoint.path), MODEL, "2", 0.42, canary_percent=10)

    assert split == {"2": 10, "1": 90}
    served = {
        m.model_version: (m.traffic_percent, m.threshold)
        for m in read_endpoint(endpoint.path).deployed_models
    }
    assert served == {"2": (10, 0.42), "1": (90, 0.41)}  # the champion with its own threshold


def test_a_first_version_whose_deploy_failed_is_not_left_champion(tmp_path: Path, monkeypatch) -> None:
    """The first version ever is registered champion; its deploy fails (quota, an image the
    endpoint cannot pull). Left champion, it would be every later gate's bar, and a run the gate
    rejects would leave the endpoint serving nothing while its DAG run succeeds. The alias comes
    off (the version stays registered); the deploy's own error fails the step."""
    registry = _registry(tmp_path, ("a", CHAMPION, 0.41))
    endpoint_file = tmp_path / "endpoints" / "fraud-endpoint.json"

    def no_quota(self: LocalEndpoint, *args: object) -> dict[str, int]:
        raise RuntimeError("quota exceeded for n1-standard-2")

    monkeypatch.setattr(LocalEndpoint, "deploy_canary", no_quota)
    with pytest.raises(RuntimeError, match="quota exceeded"):
        deploy_step(str(registry.root), str(endpoint_file), MODEL, "1", 0.41, canary_percent=10)

    assert registry.get(MODEL, CHAMPION) is None
    assert registry.get(MODEL, "1") is not None

    # a deploy whose wait ran out may still finish (Vertex goes on): the alias stays
    registry.set_alias(MODEL, CHAMPION, "1")

    def still_deploying(self: LocalEndpoint, *args: object) -> dict[str, int]:
        raise TimeoutError("the DeployModel operation did not finish in 1800 s")

    monkeypatch.setattr(LocalEndpoint, "deploy_canary", still_deploying)
    with pytest.raises(TimeoutError):
        deploy_step(str(registry.root), str(endpoint_file), MODEL, "1", 0.41, canary_percent=10)
    assert registry.get(MODEL, CHAMPION).version == "1"

    # a champion that serves keeps its alias when a later deploy of it fails
    monkeypatch.undo()
    deploy_step(str(registry.root), str(endpoint_file), MODEL, "1", 0.41, canary_percent=10)
    monkeypatch.setattr(LocalEndpoint, "deploy_canary", no_quota)
    with pytest.raises(RuntimeError, match="quota exceeded"):
        deploy_step(str(registry.root), str(endpoint_file), MODEL, "1", 0.41, canary_percent=10)
    assert registry.get(MODEL, CHAMPION).version == "1"


def _deployed_model(version: str) -> v1.DeployedModel:
    return v1.DeployedModel(
        model=f"{PARENT}@{version}",
        display_name=f"{MODEL}-v{version}",
        dedicated_resources=v1.DedicatedResources(
            machine_spec=v1.MachineSpec(machine_type=DEFAULT_MACHINE_TYPE),
            min_replica_count=1,
            max_replica_count=1,
        ),
    )


def _vertex_deploy_step(
    tmp_path: Path,
    endpoint_states: list[v1.Endpoint],
    deployed_ids: list[str],
    canary_percent: int = 10,
    models: mock.MagicMock | None = None,
) -> tuple[dict[str, int], mock.MagicMock]:
    """Run the step against Vertex: v2 (challenger) beside v1 (champion); the endpoint client
    answers ``ListEndpoints`` with ``endpoint_states`` in turn and deploys as ``deployed_ids``."""
    from google.api_core import exceptions

    models = models or mock.create_autospec(v1.ModelServiceClient, instance=True)
    models.list_models.return_value = [v1.Model(name=PARENT)]
    champion_dir = _artifact(tmp_path / "v1", 0.37)  # a local path stands for the /gcs/ mount
    v2 = v1.Model(name=PARENT, version_id="2", artifact_uri="gs://b/m2", version_aliases=[CHALLENGER])
    champion = v1.Model(
        name=PARENT, version_id="1", artifact_uri=str(champion_dir), version_aliases=[CHAMPION]
    )
    known = {f"{PARENT}@2": v2, f"{PARENT}@{CHALLENGER}": v2, f"{PARENT}@{CHAMPION}": champion}

    def get_model(name: str, retry: object = None) -> v1.Model:
        assert retry == LookupRetry()
        if name not in known:
            raise exceptions.NotFound(name)  # what GetModel answers for an alias nobody holds
        return known[name]

    models.get_model.side_effect = get_model
    endpoints = mock.create_autospec(v1.EndpointServiceClient, instance=True)
    endpoints.list_endpoints.side_effect = [[state] for state in endpoint_states]
    endpoints.deploy_model.return_value.result.side_effect = [
        v1.DeployModelResponse(deployed_model=v1.DeployedModel(id=i)) for i in deployed_ids
    ]
    with (
        mock.patch.object(v1, "ModelServiceClient", return_value=models),
        mock.patch.object(v1, "EndpointServiceClient", return_value=endpoints),
    ):
        split = deploy_step(
            f"vertexai://{LOCATION}",
            f"vertexai://{LOCATION}/endpoints/fraud-endpoint",
            MODEL,
            "2",
            0.42,
            canary_percent,
        )
    return split, endpoints


SERVING_V1 = v1.Endpoint(
    name=ENDPOINT, deployed_models=[v1.DeployedModel(id="111", model=PARENT, model_version_id="1")]
)


def test_on_vertex_the_champion_is_deployed_at_100_then_the_canary_beside_it(tmp_path: Path) -> None:
    empty = v1.Endpoint(name=ENDPOINT)
    split, endpoints = _vertex_deploy_step(tmp_path, [empty, empty, SERVING_V1], ["111", "222"])

    assert [c.kwargs["request"] for c in endpoints.deploy_model.call_args_list] == [
        v1.DeployModelRequest(
            endpoint=ENDPOINT, deployed_model=_deployed_model("1"), traffic_split={"0": 100}
        ),
        v1.DeployModelRequest(
            endpoint=ENDPOINT, deployed_model=_deployed_model("2"), traffic_split={"0": 10, "111": 90}
        ),
    ]
    endpoints.undeploy_model.assert_not_called()
    assert split == {"2": 10, "1": 90}


def test_on_vertex_a_serving_champion_is_not_deployed_again(tmp_path: Path) -> None:
    split, endpoints = _vertex_deploy_step(tmp_path, [SERVING_V1, SERVING_V1], ["222"])

    assert [c.kwargs["request"] for c in endpoints.deploy_model.call_args_list] == [
        v1.DeployModelRequest(
            endpoint=ENDPOINT, deployed_model=_deployed_model("2"), traffic_split={"0": 10, "111": 90}
        ),
    ]
    endpoints.update_endpoint.assert_not_called()
    endpoints.undeploy_model.assert_not_called()
    assert split == {"2": 10, "1": 90}


def test_on_vertex_a_full_rollout_does_not_deploy_the_champion_it_replaces(tmp_path: Path) -> None:
    """canary_percent=100 undeploys the champion at once: deploying it first would be a deploy
    of up to two hours thrown away."""
    empty = v1.Endpoint(name=ENDPOINT)
    split, endpoints = _vertex_deploy_step(tmp_path, [empty], ["222"], canary_percent=100)

    assert [c.kwargs["request"] for c in endpoints.deploy_model.call_args_list] == [
        v1.DeployModelRequest(
            endpoint=ENDPOINT, deployed_model=_deployed_model("2"), traffic_split={"0": 100}
        ),
    ]
    assert split == {"2": 100}


def test_a_full_rollout_makes_the_new_version_champion_on_the_local_target(tmp_path: Path) -> None:
    """The old champion leaves the endpoint: left a challenger, the new version would be judged
    against a champion serving nothing, and a rollback would have nothing to return to."""
    registry, endpoint = _local(tmp_path)
    endpoint.promote(registry.get(MODEL, "1"), 0.41)  # v1 serves

    split = deploy_step(str(registry.root), str(endpoint.path), MODEL, "2", 0.42, canary_percent=100)

    assert split == {"2": 100}
    assert [m.model_version for m in read_endpoint(endpoint.path).deployed_models] == ["2"]
    assert registry.get(MODEL, CHAMPION).version == "2"
    assert registry.get(MODEL, PREVIOUS_CHAMPION).version == "1"
    assert registry.get(MODEL, CHALLENGER) is None


def test_a_canary_keeps_the_champion_alias_where_it_is(tmp_path: Path) -> None:
    registry, endpoint = _local(tmp_path)
    endpoint.promote(registry.get(MODEL, "1"), 0.41)

    deploy_step(str(registry.root), str(endpoint.path), MODEL, "2", 0.42, canary_percent=10)

    assert (registry.get(MODEL, CHAMPION).version, registry.get(MODEL, CHALLENGER).version) == ("1", "2")
    assert registry.get(MODEL, PREVIOUS_CHAMPION) is None


def test_on_vertex_a_full_rollout_moves_the_aliases_after_the_traffic(tmp_path: Path) -> None:
    models = mock.create_autospec(v1.ModelServiceClient, instance=True)
    split, _ = _vertex_deploy_step(tmp_path, [SERVING_V1], ["222"], canary_percent=100, models=models)

    assert split == {"2": 100}

    assert [c.kwargs["request"] for c in models.merge_version_aliases.call_args_list] == [
        v1.MergeVersionAliasesRequest(name=f"{PARENT}@1", version_aliases=[PREVIOUS_CHAMPION]),
        v1.MergeVersionAliasesRequest(name=f"{PARENT}@2", version_aliases=[CHAMPION]),  # moved off v1
        v1.MergeVersionAliasesRequest(name=f"{PARENT}@2", version_aliases=[f"-{CHALLENGER}"]),
    ]


def test_a_rerun_of_the_first_versions_deploy_deploys_it_once_on_both_targets(tmp_path: Path) -> None:
    """The first version is registered champion before its deploy; the step run again (a retry,
    a re-run of the pipeline task) leaves it alone at 100 %: locally the endpoint keys a
    deployment by version, and on Vertex, which keys it by its own id, no second copy is deployed
    beside the first."""
    registry = _registry(tmp_path, ("a", CHAMPION, 0.41))
    endpoint_file = tmp_path / "endpoints" / "fraud-endpoint.json"
    for _ in range(2):
        split = deploy_step(str(registry.root), str(endpoint_file), MODEL, "1", 0.41, canary_percent=10)
        assert split == {"1": 100}
    assert [m.model_version for m in read_endpoint(endpoint_file).deployed_models] == ["1"]

    models = mock.create_autospec(v1.ModelServiceClient, instance=True)
    models.list_models.return_value = [v1.Model(name=PARENT)]
    champion = v1.Model(name=PARENT, version_id="1", artifact_uri="gs://b/m1", version_aliases=[CHAMPION])
    models.get_model.return_value = champion  # v1 by number and by its alias
    endpoints = mock.create_autospec(v1.EndpointServiceClient, instance=True)
    endpoints.list_endpoints.return_value = [SERVING_V1]
    with (
        mock.patch.object(v1, "ModelServiceClient", return_value=models),
        mock.patch.object(v1, "EndpointServiceClient", return_value=endpoints),
    ):
        split = deploy_step(
            f"vertexai://{LOCATION}", f"vertexai://{LOCATION}/endpoints/fraud-endpoint", MODEL, "1", 0.41, 10
        )

    assert split == {"1": 100}
    endpoints.deploy_model.assert_not_called()
    endpoints.update_endpoint.assert_called_once_with(
        request=v1.UpdateEndpointRequest(
            endpoint=v1.Endpoint(name=ENDPOINT, traffic_split={"111": 100}),
            update_mask=field_mask_pb2.FieldMask(paths=["traffic_split"]),
        ),
        retry=LookupRetry(),
    )
    endpoints.undeploy_model.assert_not_called()


def test_on_vertex_a_first_version_whose_endpoint_id_is_missing_is_not_left_champion(tmp_path: Path) -> None:
    """MLOPS_ENDPOINT_ID names an endpoint that does not exist: the deploy fails, and reading
    whether the version serves (it cannot) takes its champion alias off, rather than failing
    the same way and leaving a champion that never served."""
    from google.api_core import exceptions

    from fraud_mlops.registry.vertex import EndpointMissing

    models = mock.create_autospec(v1.ModelServiceClient, instance=True)
    models.list_models.return_value = [v1.Model(name=PARENT)]
    aliases = {CHAMPION: "1"}
    answer_aliases(models, PARENT, aliases, str(_artifact(tmp_path / "v1", 0.41)).replace("v1", "v{}"))
    endpoints = mock.create_autospec(v1.EndpointServiceClient, instance=True)
    endpoints.get_endpoint.side_effect = exceptions.NotFound("Endpoint `42` not found.")
    with (
        mock.patch.object(v1, "ModelServiceClient", return_value=models),
        mock.patch.object(v1, "EndpointServiceClient", return_value=endpoints),
        pytest.raises(EndpointMissing),
    ):
        deploy_step(f"vertexai://{LOCATION}", f"vertexai://{LOCATION}/endpoints/42", MODEL, "1", 0.41, 10)

    assert aliases == {}  # MergeVersionAliases(-champion) on v1
    endpoints.create_endpoint.assert_not_called()
    endpoints.deploy_model.assert_not_called()
