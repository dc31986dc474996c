"""Vertex Model Registry and Endpoint adapters: the exact GAPIC requests, clients mocked at the boundary."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from unittest import mock

import pytest
from google.api_core import exceptions
from google.cloud import aiplatform_v1 as v1
from google.protobuf import field_mask_pb2

from fraud_mlops.registry.backends import open_endpoint, open_registry, vertex_endpoint_uri
from fraud_mlops.registry.base import CHALLENGER, CHAMPION, ModelVersion
from fraud_mlops.registry.images import image_tag
from fraud_mlops.registry.serving_image import IMAGE_VERSIONS, IncompatibleModel
from fraud_mlops.registry.vertex import EndpointMissing, VertexEndpoint, VertexModelRegistry
from tests.vertex_registry import LookupRetry

LOCATION = "projects/fraud-prj/locations/europe-west4"
PARENT = f"{LOCATION}/models/fraud-detector"
ENDPOINT = f"{LOCATION}/endpoints/42"
ARTIFACT = "gs://fraud-prj-pipeline-root/run/register-model/registered_model"
SERVING_IMAGE = f"europe-west4-docker.pkg.dev/fraud-prj/fraud-images/model-server:{image_tag('model-server')}"
LABELS = {"snapshot": "training_snapshot_20260901t000000_abcd1234", "pipeline_run": "fraud-training-1"}


def _model_client() -> mock.MagicMock:
    return mock.create_autospec(v1.ModelServiceClient, instance=True)


def _register(
    registry: VertexModelRegistry,
    model_dir: Path,
    aliases: list[str],
    training_versions: dict[str, str] = IMAGE_VERSIONS,
) -> ModelVersion:
    return registry.register(
        "fraud-detector",
        model_dir,
        ARTIFACT,
        labels=LABELS,
        metadata={"threshold": 0.4, "training_versions": dict(training_versions)},
        aliases=aliases,
        description="accepted",
    )


def test_first_upload_creates_the_model_and_gives_it_both_aliases(tmp_path: Path) -> None:
    client = _model_client()
    client.list_models.return_value = []  # no model yet; nor does the list show the new one at once
    client.upload_model.return_value.result.return_value = v1.UploadModelResponse(
        model=PARENT, model_version_id="1"
    )
    client.get_model.side_effect = exceptions.NotFound("no alias")
    (tmp_path / "metadata.json").write_text(json.dumps({"threshold": 0.4}))

    version = _register(
        VertexModelRegistry("fraud-prj", "europe-west4", client), tmp_path, [CHAMPION, CHALLENGER]
    )

    # listed once, before the upload (none yet): the aliases go on the model the upload named
    assert client.list_models.call_args_list == [
        mock.call(
            request=v1.ListModelsRequest(parent=LOCATION, filter='display_name="fraud-detector"'),
            retry=LookupRetry(),
        )
    ]
    client.upload_model.assert_called_once_with(
        request=v1.UploadModelRequest(
            parent=LOCATION,
            model_id="fraud-detector",
            model=v1.Model(
                display_name="fraud-detector",
                artifact_uri=ARTIFACT,
                container_spec=v1.ModelContainerSpec(
                    image_uri=SERVING_IMAGE,
                    ports=[v1.Port(container_port=8080)],
                    predict_route="/predict",
                    health_route="/health",
                ),
                labels=LABELS,
                version_description="accepted",
            ),
        )
    )
    assert client.merge_version_aliases.call_args_list == [
        mock.call(
            request=v1.MergeVersionAliasesRequest(name=f"{PARENT}@1", version_aliases=[CHAMPION]),
            retry=LookupRetry(),
        ),
        mock.call(
            request=v1.MergeVersionAliasesRequest(name=f"{PARENT}@1", version_aliases=[CHALLENGER]),
            retry=LookupRetry(),
        ),
    ]
    assert version.version == "1" and version.resource_name == f"{PARENT}@1"
    assert json.loads((tmp_path / "metadata.json").read_text()) == {"threshold": 0.4, "model_version": "1"}


def test_next_upload_is_a_version_of_the_parent_and_the_alias_moves(tmp_path: Path) -> None:
    client = _model_client()
    client.list_models.return_value = [v1.Model(name=PARENT)]
    client.upload_model.return_value.result.return_value = v1.UploadModelResponse(
        model=PARENT, model_version_id="2"
    )
    client.get_model.return_value = v1.Model(name=PARENT, version_id="1", artifact_uri="gs://b/m1")

    registry = VertexModelRegistry(
        "fraud-prj", "europe-west4", client, serving_image="eu.gcr.io/x/sklearn:1.9"
    )
    _register(registry, tmp_path, [CHALLENGER])

    request = client.upload_model.call_args.kwargs["request"]
    assert request.parent_model == PARENT and request.model_id == ""
    assert request.model.container_spec.image_uri == "eu.gcr.io/x/sklearn:1.9"
    client.get_model.assert_called_with(name=f"{PARENT}@{CHALLENGER}", retry=LookupRetry())
    # one request: Model Registry takes an alias off the version that held it ("if you apply an
    # existing alias used by another model version, the alias is removed from that version");
    # two left a moment with no version holding it
    assert client.merge_version_aliases.call_args_list == [
        mock.call(
            request=v1.MergeVersionAliasesRequest(name=f"{PARENT}@2", version_aliases=[CHALLENGER]),
            retry=LookupRetry(),
        ),
    ]


def test_a_registered_version_is_served_from_a_copy_the_pipeline_roots_lifecycle_cannot_delete(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The pipeline root deletes a run's artifacts after a year; a champion can be older. With a
    store (the registry URI's ``?artifacts=``), the version's files are copied there, through
    the container's GCS FUSE mount, before the upload, and the version points at the copy."""
    fuse = tmp_path / "gcs"
    monkeypatch.setattr("fraud_mlops.registry.base.GCS_FUSE_ROOT", f"{fuse}/")
    run_dir = fuse / ARTIFACT.removeprefix("gs://")
    run_dir.mkdir(parents=True)
    (run_dir / "model.joblib").write_bytes(b"model bytes")
    (run_dir / "metadata.json").write_text(json.dumps({"threshold": 0.4}))
    client = _model_client()
    client.list_models.return_value = [v1.Model(name=PARENT)]
    client.upload_model.return_value.result.return_value = v1.UploadModelResponse(
        model=PARENT, model_version_id="5"
    )
    client.get_model.side_effect = exceptions.NotFound("no alias")
    with mock.patch("google.cloud.aiplatform_v1.ModelServiceClient", return_value=client):
        registry = open_registry(
            "vertexai://projects/fraud-prj/locations/europe-west4?artifacts=gs://fraud-prj-models"
        )
    assert isinstance(registry, VertexModelRegistry)

    version = _register(registry, run_dir, [CHALLENGER])

    kept = client.upload_model.call_args.kwargs["request"].model.artifact_uri
    assert kept.startswith("gs://fraud-prj-models/fraud-detector/") and kept != ARTIFACT
    assert version.artifact_uri == kept
    copy = fuse / kept.removeprefix("gs://")
    assert (copy / "model.joblib").read_bytes() == b"model bytes"
    assert json.loads((copy / "metadata.json").read_text()) == {"threshold": 0.4, "model_version": "5"}
    # a rerun of the same step writes the same folder, not a second copy
    _register(registry, run_dir, [CHALLENGER])
    assert client.upload_model.call_args.kwargs["request"].model.artifact_uri == kept


@pytest.mark.parametrize(
    "trained",
    [
        {**IMAGE_VERSIONS, "scikit-learn": "1.5.2"},
        {k: v for k, v in IMAGE_VERSIONS.items() if k != "numpy"},
        {},
    ],
)
def test_a_model_trained_with_other_library_versions_is_refused_before_any_call(
    tmp_path: Path, trained: dict[str, str]
) -> None:
    client = _model_client()
    with pytest.raises(IncompatibleModel):
        _register(VertexModelRegistry("fraud-prj", "europe-west4", client), tmp_path, [CHAMPION], trained)
    assert client.mock_calls == []


def test_champion_lookup_resolves_the_alias_and_reads_through_gcs_fuse() -> None:
    client = _model_client()
    client.list_models.return_value = [v1.Model(name=PARENT)]
    client.get_model.return_value = v1.Model(
        name=PARENT,
        version_id="3",
        artifact_uri="gs://bucket/models/3",
        version_aliases=[CHAMPION],
        labels=LABELS,
    )
    champion = VertexModelRegistry("fraud-prj", "europe-west4", client).get("fraud-detector", CHAMPION)
    client.get_model.assert_called_once_with(name=f"{PARENT}@champion", retry=LookupRetry())
    assert champion == ModelVersion(
        "fraud-detector", "3", "gs://bucket/models/3", (CHAMPION,), LABELS, f"{PARENT}@3"
    )
    assert champion.local_dir() == Path("/gcs/bucket/models/3")


def test_no_model_yet_means_no_champion() -> None:
    client = _model_client()
    client.list_models.return_value = []
    assert VertexModelRegistry("fraud-prj", "europe-west4", client).get("fraud-detector", CHAMPION) is None
    client.get_model.assert_not_called()


def test_the_model_is_listed_once_per_registry_and_looked_for_again_until_it_exists() -> None:
    """Its resource name never changes once made: the training wait's polls (two alias reads
    every 30 s) listed every model before each read. Not found is not remembered: the first
    upload makes it."""
    client = _model_client()
    client.list_models.side_effect = [[], [v1.Model(name=PARENT)]]
    client.get_model.return_value = v1.Model(name=PARENT, version_id="3", version_aliases=[CHAMPION])
    registry = VertexModelRegistry("fraud-prj", "europe-west4", client)

    assert registry.get("fraud-detector", CHAMPION) is None  # no model yet
    versions = [registry.get("fraud-detector", alias) for alias in (CHAMPION, CHALLENGER, "3")]

    assert [v.version for v in versions if v] == ["3"] * 3
    assert client.list_models.call_count == 2
    assert [c.kwargs["name"] for c in client.get_model.call_args_list] == [
        f"{PARENT}@{CHAMPION}", f"{PARENT}@{CHALLENGER}", f"{PARENT}@3"
    ]  # fmt: skip


def test_an_alias_vertex_refuses_is_refused_before_any_call() -> None:
    """``MergeVersionAliases`` takes ``[a-z][a-zA-Z0-9-]{0,126}[a-z0-9]``: ``previous_champion``
    would have failed a promotion after the traffic had moved (the alias is set last)."""
    client = _model_client()
    with pytest.raises(ValueError, match="not a Vertex AI version alias"):
        VertexModelRegistry("fraud-prj", "europe-west4", client).set_alias(
            "fraud-detector", "previous_champion", "1"
        )
    assert client.mock_calls == []


def test_a_registration_with_an_alias_vertex_refuses_uploads_nothing(tmp_path: Path) -> None:
    """As the local registry: refused before the upload, not after it (a version without its
    aliases would be left behind)."""
    client = _model_client()
    with pytest.raises(ValueError, match="not a Vertex AI version alias"):
        _register(
            VertexModelRegistry("fraud-prj", "europe-west4", client), tmp_path, [CHALLENGER, "Champion"]
        )
    assert client.mock_calls == []


def _version(number: str) -> ModelVersion:
    return ModelVersion("fraud-detector", number, f"gs://b/m{number}", resource_name=f"{PARENT}@{number}")


def _deployed(deployed_id: str, version: str) -> v1.DeployedModel:
    return v1.DeployedModel(id=deployed_id, model=PARENT, model_version_id=version)


def test_canary_deploys_beside_the_champion_and_undeploys_the_old_canary() -> None:
    client = mock.create_autospec(v1.EndpointServiceClient, instance=True)
    client.list_endpoints.return_value = [
        v1.Endpoint(name=ENDPOINT, deployed_models=[_deployed("111", "1"), _deployed("222", "2")])
    ]
    client.deploy_model.return_value.result.return_value = v1.DeployModelResponse(
        deployed_model=v1.DeployedModel(id="333")
    )
    endpoint = VertexEndpoint(
        "fraud-prj", "europe-west4", "fraud-endpoint", client, machine_type="n1-standard-4"
    )

    split = endpoint.deploy_canary(_version("3"), 0.4, _version("1"), canary_percent=10)

    client.list_endpoints.assert_called_once_with(
        request=v1.ListEndpointsRequest(parent=LOCATION, filter='display_name="fraud-endpoint"'),
        retry=LookupRetry(),  # one 503 on this read failed the deploy step
    )
    client.deploy_model.assert_called_once_with(
        request=v1.DeployModelRequest(
            endpoint=ENDPOINT,
            deployed_model=v1.DeployedModel(
                model=f"{PARENT}@3",
                display_name="fraud-detector-v3",
                dedicated_resources=v1.DedicatedResources(
                    machine_spec=v1.MachineSpec(machine_type="n1-standard-4"),
                    min_replica_count=1,
                    max_replica_count=1,
                ),
            ),
            traffic_split={"0": 10, "111": 90},
        )
    )
    client.undeploy_model.assert_called_once_with(
        request=v1.UndeployModelRequest(endpoint=ENDPOINT, deployed_model_id="222")
    )
    assert split == {"3": 10, "1": 90}


def test_the_deployment_time_is_the_deployed_models_create_time() -> None:
    """DeployedModel.create_time (output only) of the endpoint ListEndpoints returns: no other call."""
    deployed_at = datetime(2026, 12, 4, 9, 15, 30, tzinfo=UTC)
    client = mock.create_autospec(v1.EndpointServiceClient, instance=True)
    client.list_endpoints.return_value = [
        v1.Endpoint(
            name=ENDPOINT,
            deployed_models=[
                _deployed("111", "1"),  # no create_time: the endpoint does not say
                v1.DeployedModel(id="333", model=PARENT, model_version_id="3", create_time=deployed_at),
            ],
        )
    ]
    endpoint = VertexEndpoint("fraud-prj", "europe-west4", "fraud-endpoint", client)
    assert endpoint.deployed_since(_version("3")) == deployed_at
    assert endpoint.deployed_since(_version("1")) is None
    assert endpoint.deployed_since(_version("2")) is None  # not deployed
    assert client.list_endpoints.call_args.kwargs == {
        "request": v1.ListEndpointsRequest(parent=LOCATION, filter='display_name="fraud-endpoint"'),
        "retry": LookupRetry(),
    }
    assert client.method_calls == [mock.call.list_endpoints(request=mock.ANY, retry=LookupRetry())] * 3
    # an undeploy cut short left two deployments of v3: the earlier one's time
    client.list_endpoints.return_value[0].deployed_models.append(
        v1.DeployedModel(
            id="334", model=PARENT, model_version_id="3", create_time=deployed_at.replace(hour=11)
        )
    )
    assert endpoint.deployed_since(_version("3")) == deployed_at
    # no endpoint yet: nothing deployed, and a read creates none
    client.list_endpoints.return_value = []
    assert endpoint.deployed_since(_version("3")) is None
    client.create_endpoint.assert_not_called()


def test_a_versions_traffic_share_is_read_from_the_endpoints_traffic_split() -> None:
    """What the canary's answer count is judged against: Endpoint.traffic_split is keyed by the
    DeployedModel's id; a version deployed with no traffic, or not at all, has 0."""
    client = mock.create_autospec(v1.EndpointServiceClient, instance=True)
    client.list_endpoints.return_value = [
        v1.Endpoint(
            name=ENDPOINT,
            deployed_models=[_deployed("111", "1"), _deployed("333", "3"), _deployed("444", "4")],
            traffic_split={"111": 90, "333": 10},
        )
    ]
    endpoint = VertexEndpoint("fraud-prj", "europe-west4", "fraud-endpoint", client)
    assert [endpoint.traffic_percent(_version(v)) for v in ("1", "3", "4", "2")] == [90, 10, 0, 0]
    assert client.method_calls == [mock.call.list_endpoints(request=mock.ANY, retry=LookupRetry())] * 4
    # an undeploy cut short left two deployments of v3 with traffic: its share is their sum
    endpoint_proto = client.list_endpoints.return_value[0]
    endpoint_proto.deployed_models.append(_deployed("334", "3"))
    endpoint_proto.traffic_split = {"111": 80, "333": 10, "334": 10}
    assert endpoint.traffic_percent(_version("3")) == 20
    client.list_endpoints.return_value = []  # no endpoint yet: nothing served, and none created
    assert endpoint.traffic_percent(_version("3")) == 0
    client.create_endpoint.assert_not_called()


def test_first_deploy_creates_the_endpoint_and_takes_all_traffic() -> None:
    client = mock.create_autospec(v1.EndpointServiceClient, instance=True)
    client.list_endpoints.return_value = []
    client.create_endpoint.return_value.result.return_value = v1.Endpoint(name=ENDPOINT)
    client.deploy_model.return_value.result.return_value = v1.DeployModelResponse(
        deployed_model=v1.DeployedModel(id="111")
    )
    split = VertexEndpoint("fraud-prj", "europe-west4", "fraud-endpoint", client).deploy_canary(
        _version("1"), 0.4, None, 10
    )
    client.create_endpoint.assert_called_once_with(
        request=v1.CreateEndpointRequest(parent=LOCATION, endpoint=v1.Endpoint(display_name="fraud-endpoint"))
    )
    assert client.deploy_model.call_args.kwargs["request"].traffic_split == {"0": 100}
    client.undeploy_model.assert_not_called()
    assert split == {"1": 100}


def test_an_endpoint_named_by_id_is_read_with_get_endpoint_and_never_listed_or_created() -> None:
    """MLOPS_ENDPOINT_ID: the deploy lands on the endpoint the prediction function calls."""
    client = mock.create_autospec(v1.EndpointServiceClient, instance=True)
    client.get_endpoint.return_value = v1.Endpoint(name=ENDPOINT, deployed_models=[_deployed("111", "1")])
    client.deploy_model.return_value.result.return_value = v1.DeployModelResponse(
        deployed_model=v1.DeployedModel(id="333")
    )
    with mock.patch("google.cloud.aiplatform_v1.EndpointServiceClient", return_value=client):
        endpoint = open_endpoint("vertexai://projects/fraud-prj/locations/europe-west4/endpoints/42")

    split = endpoint.deploy_canary(_version("3"), 0.4, _version("1"), canary_percent=10)

    client.get_endpoint.assert_called_once_with(
        request=v1.GetEndpointRequest(name=ENDPOINT), retry=LookupRetry()
    )
    assert client.deploy_model.call_args.kwargs["request"].endpoint == ENDPOINT
    assert client.deploy_model.call_args.kwargs["request"].traffic_split == {"0": 10, "111": 90}
    client.list_endpoints.assert_not_called()
    client.create_endpoint.assert_not_called()
    assert split == {"3": 10, "1": 90}


def test_an_endpoint_id_that_does_not_exist_fails_the_deploy_and_reads_as_nothing_deployed() -> None:
    client = mock.create_autospec(v1.EndpointServiceClient, instance=True)
    client.get_endpoint.side_effect = exceptions.NotFound("Endpoint `42` not found.")
    endpoint = VertexEndpoint("fraud-prj", "europe-west4", "", client, endpoint_id="42")

    with pytest.raises(EndpointMissing, match=r"endpoints/42 \(MLOPS_ENDPOINT_ID\) does not exist"):
        endpoint.deploy_canary(_version("1"), 0.4, None, 10)
    assert endpoint.deployed_since(_version("1")) is None
    assert (
        client.method_calls
        == [mock.call.get_endpoint(request=v1.GetEndpointRequest(name=ENDPOINT), retry=LookupRetry())] * 2
    )
    # anything but NotFound is Vertex's answer to pass on (a missing grant is not "no endpoint")
    client.get_endpoint.side_effect = exceptions.PermissionDenied("aiplatform.endpoints.get")
    with pytest.raises(exceptions.PermissionDenied):
        endpoint.deployed_since(_version("1"))


def test_the_endpoint_parameter_names_mlops_endpoint_id_when_it_is_set() -> None:
    from fraud_mlops import targets
    from fraud_mlops.settings import settings_from_env

    env = {"MLOPS_TARGET": "gcp", "GCP_PROJECT": "fraud-prj", "GCP_REGION": "europe-west4"}
    assert targets.endpoint_uri(settings_from_env({**env, "MLOPS_ENDPOINT_ID": "42"})) == (
        "vertexai://projects/fraud-prj/locations/europe-west4/endpoints/42"
    )
    assert targets.endpoint_uri(settings_from_env(env)) == (
        "vertexai://projects/fraud-prj/locations/europe-west4/endpoints/fraud-endpoint"
    )
    with pytest.raises(ValueError, match="a Vertex endpoint id is a number"):
        vertex_endpoint_uri("fraud-prj", "europe-west4", "fraud-endpoint", "fraud-endpoint")
    with pytest.raises(ValueError, match="would read as an endpoint id"):
        vertex_endpoint_uri("fraud-prj", "europe-west4", "2026")


def test_promote_moves_all_traffic_and_undeploys_the_rest() -> None:
    client = mock.create_autospec(v1.EndpointServiceClient, instance=True)
    client.list_endpoints.return_value = [
        v1.Endpoint(name=ENDPOINT, deployed_models=[_deployed("111", "1"), _deployed("333", "3")])
    ]
    assert VertexEndpoint("fraud-prj", "europe-west4", "fraud-endpoint", client).promote(
        _version("3"), 0.4
    ) == {"3": 100}
    client.update_endpoint.assert_called_once_with(
        request=v1.UpdateEndpointRequest(
            endpoint=v1.Endpoint(name=ENDPOINT, traffic_split={"333": 100}),
            update_mask=field_mask_pb2.FieldMask(paths=["traffic_split"]),
        ),
        retry=LookupRetry(),  # it sets the split: a repeat after a 503 leaves what the first set
    )
    client.undeploy_model.assert_called_once_with(
        request=v1.UndeployModelRequest(endpoint=ENDPOINT, deployed_model_id="111")
    )


@pytest.mark.parametrize(
    ("uri", "kind"),
    [
        ("vertexai://projects/fraud-prj/locations/europe-west4", "VertexModelRegistry"),
        (
            "vertexai://projects/fraud-prj/locations/europe-west4?artifacts=gs://fraud-prj-models",
            "VertexModelRegistry",
        ),
        ("/tmp/registry", "LocalModelRegistry"),
        ("file:///tmp/registry", "LocalModelRegistry"),
    ],
)
def test_registry_backend_follows_the_uri(uri: str, kind: str) -> None:
    with mock.patch("google.cloud.aiplatform_v1.ModelServiceClient"):
        assert type(open_registry(uri)).__name__ == kind


def test_endpoint_uri_names_project_region_and_display_name() -> None:
    with mock.patch("google.cloud.aiplatform_v1.EndpointServiceClient") as client_class:
        endpoint = open_endpoint(
            "vertexai://projects/fraud-prj/locations/europe-west4/endpoints/fraud-endpoint"
        )
    assert isinstance(endpoint, VertexEndpoint) and endpoint.endpoint_name == "fraud-endpoint"
    client_class.assert_called_once_with(
        client_options={"api_endpoint": "europe-west4-aiplatform.googleapis.com"}
    )
    with pytest.raises(ValueError, match="endpoints/ID or NAME"):
        open_endpoint("vertexai://projects/fraud-prj/locations/europe-west4")


class _Clock:
    """``time`` as google-api-core's polling sees it, advanced by its own sleeps."""

    def __init__(self) -> None:
        self.now = 0.0

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def _deploy_finishing_at(clock: _Clock, seconds: float, deployed_id: str) -> object:
    """A real ``google.api_core.operation.Operation`` for ``DeployModel`` that Vertex reports done
    ``seconds`` after it started (``GetOperation`` answers read the clock)."""
    from google.api_core import operation
    from google.longrunning import operations_pb2

    def refresh(retry: object = None) -> operations_pb2.Operation:
        done = operations_pb2.Operation(name="op/1", done=clock.now >= seconds)
        if done.done:
            response = v1.DeployModelResponse(deployed_model=v1.DeployedModel(id=deployed_id))
            done.response.Pack(v1.DeployModelResponse.pb(response))
        return done

    return operation.Operation(
        operations_pb2.Operation(name="op/1"),
        refresh,
        lambda: None,
        result_type=v1.DeployModelResponse,
        metadata_type=v1.DeployModelOperationMetadata,
    )


def test_a_deploy_longer_than_the_clients_15_minute_default_is_waited_for() -> None:
    """google-api-core stops polling an operation after 900 s by default and raises while Vertex
    carries on; a first deploy onto new nodes may take longer. The endpoint waits as long as
    Vertex may take (up to its 2-hour deployment limit), on the real polling code."""
    clock = _Clock()
    client = mock.create_autospec(v1.EndpointServiceClient, instance=True)
    client.list_endpoints.return_value = [v1.Endpoint(name=ENDPOINT, deployed_models=[_deployed("111", "1")])]
    endpoint = VertexEndpoint("fraud-prj", "europe-west4", "fraud-endpoint", client)

    with (
        mock.patch("google.api_core.retry.retry_unary.time", clock),
        mock.patch("google.api_core.retry.retry_base.time", clock),
    ):
        client.deploy_model.return_value = _deploy_finishing_at(clock, 40 * 60, "222")
        with pytest.raises(TimeoutError, match="timeout of 900"):  # waiting with the default
            client.deploy_model.return_value.result()  # type: ignore[attr-defined]
        assert 14 * 60 < clock.now < 16 * 60

        clock.now = 0.0
        client.deploy_model.return_value = _deploy_finishing_at(clock, 40 * 60, "222")
        assert endpoint.deploy_canary(_version("2"), 0.4, _version("1"), canary_percent=10) == {
            "2": 10,
            "1": 90,
        }
    assert clock.now >= 40 * 60
