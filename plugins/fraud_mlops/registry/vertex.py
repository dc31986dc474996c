"""Vertex AI Model Registry and Endpoint adapters, on the GAPIC clients (``aiplatform_v1``).

The generated clients are the boundary the tests mock: every request is an explicit proto the
tests compare field for field. The same rules as the local registry apply: one model with
versions (``parent_model``), aliases moved explicitly (an alias is removed from its holder first,
``-alias``, so it can never be on two versions), and the canary traffic of :mod:`.traffic`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fraud_mlops.registry.base import ModelVersion, checked_alias, file_path
from fraud_mlops.registry.images import image_uri
from fraud_mlops.registry.model_server import DEFAULT_PORT, HEALTH_ROUTE, PREDICT_ROUTE
from fraud_mlops.registry.serving_image import IMAGE_VERSIONS, check_versions
from fraud_mlops.registry.traffic import canary_split, promote_split
from fraud_mlops.retries import lookup_retry

DEFAULT_MACHINE_TYPE = "n1-standard-2"

#: How long to wait for Vertex's long-running operations (upload, create endpoint, deploy,
#: undeploy). Left to ``Operation.result()``, google-api-core stops polling after 900 s
#: (``future.polling.DEFAULT_POLLING``) and raises while Vertex carries on: a deploy onto new
#: nodes can take longer, and the pipeline would fail with the canary already taking traffic.
#: Vertex bounds a deployment at 2 hours (``ModelContainerSpec.deployment_timeout``'s limit).
OPERATION_TIMEOUT_SECONDS = 2 * 60 * 60 + 10 * 60


def serving_container(image: str) -> Any:
    """The model server as Vertex runs it (docs/serving.md): port and routes it listens on.

    Vertex passes them back as ``AIP_HTTP_PORT``, ``AIP_HEALTH_ROUTE`` and ``AIP_PREDICT_ROUTE``
    (https://cloud.google.com/vertex-ai/docs/predictions/custom-container-requirements).
    """
    from google.cloud import aiplatform_v1

    return aiplatform_v1.ModelContainerSpec(
        image_uri=image,
        ports=[aiplatform_v1.Port(container_port=DEFAULT_PORT)],
        predict_route=PREDICT_ROUTE,
        health_route=HEALTH_ROUTE,
    )


def _location(project: str, region: str) -> str:
    return f"projects/{project}/locations/{region}"


def _client_options(region: str) -> dict[str, str]:
    return {"api_endpoint": f"{region}-aiplatform.googleapis.com"}


class VertexModelRegistry:
    """Model versions on Vertex AI, their artifacts kept in ``artifact_store`` (a ``gs://`` folder).

    As the local registry serves its own copy, a registered version's files are copied out of the
    pipeline run's folder before the upload: the pipeline root's lifecycle deletes run artifacts
    (after ``retention_days.pipeline_root``, a year by default), and a version must stay loadable
    as long as it is registered (a long-lived champion is read by every training run's gate and
    redeployed by a rollback). Without a store the version points at the run's folder.
    """

    def __init__(
        self, project: str, region: str, client: Any = None, serving_image: str = "", artifact_store: str = ""
    ) -> None:
        from google.cloud import aiplatform_v1

        self.artifact_store = artifact_store.rstrip("/")
        self.project, self.region = project, region
        self.parent = _location(project, region)
        self.client = client or aiplatform_v1.ModelServiceClient(client_options=_client_options(region))
        self._parents: dict[str, str] = {}  # model display name → its resource name, once found
        # The project's model server image (images/model_server), tagged with its pins and build
        # digest (registry/images.py).
        self.serving_image = serving_image or image_uri(project, region)

    def _parent_model(self, model_name: str) -> str | None:
        """The model's resource name (``None`` before its first upload), remembered once found:
        it never changes, and without it every alias read (the training wait reads two every
        30 s) listed the models first."""
        from google.cloud import aiplatform_v1

        if model_name not in self._parents:
            found = self.client.list_models(
                request=aiplatform_v1.ListModelsRequest(
                    parent=self.parent, filter=f'display_name="{model_name}"'
                ),
                retry=lookup_retry(),
            )
            name = next((m.name for m in found), None)
            if name is None:
                return None
            self._parents[model_name] = name
        return self._parents[model_name]

    def get(self, model_name: str, alias_or_version: str) -> ModelVersion | None:
        """The version an alias or number names, or ``None``. A read, retried on a ``503``,
        ``500`` or ``429`` for up to two minutes (:func:`~fraud_mlops.retries.lookup_retry`):
        ``GetModel`` and ``ListModels`` have no default retry, and the gate, the deploy, the
        canary task and the training wait's polls would each fail on one."""
        from google.api_core import exceptions

        parent_model = self._parent_model(model_name)
        if parent_model is None:
            return None
        try:
            model = self.client.get_model(name=f"{parent_model}@{alias_or_version}", retry=lookup_retry())
        except exceptions.NotFound:
            return None
        return _model_version(model_name, model)

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
        """Upload ``artifact_uri`` as a new version of ``model_name`` (the model is created once).

        Refused before any call when the model's ``training_versions`` differ from the serving
        image's pins (:class:`~fraud_mlops.registry.serving_image.IncompatibleModel`: Vertex would
        accept the upload and fail only when the server cannot unpickle it), or when an alias is
        one Vertex refuses (as the local registry checks them: no version uploaded without them).
        """
        from google.cloud import aiplatform_v1

        from fraud_mlops.registry.artifact import write_metadata

        check_versions(metadata.get("training_versions", {}), IMAGE_VERSIONS, what="the serving image")
        for alias in aliases:
            checked_alias(alias)
        if self.artifact_store:
            artifact_uri = self._keep(model_name, model_dir, artifact_uri)
            model_dir = file_path(artifact_uri)
        parent_model = self._parent_model(model_name)
        request = aiplatform_v1.UploadModelRequest(
            parent=self.parent,
            model=aiplatform_v1.Model(
                display_name=model_name,
                artifact_uri=artifact_uri,
                container_spec=serving_container(self.serving_image),
                labels=labels,
                version_description=description[:1000],
            ),
        )
        if parent_model:
            request.parent_model = parent_model
        else:
            request.model_id = model_name
        response = self.client.upload_model(request=request).result(timeout=OPERATION_TIMEOUT_SECONDS)
        version = str(response.model_version_id)
        # the model the upload made or added to: the aliases below need not list it (a list
        # that lagged a first upload would find no model for a version that exists)
        self._parents[model_name] = response.model
        meta_path = model_dir / "metadata.json"
        if meta_path.is_file():
            import json

            write_metadata(model_dir, {**json.loads(meta_path.read_text()), "model_version": version})
        for alias in aliases:
            self.set_alias(model_name, alias, version)
        return ModelVersion(
            model_name=model_name,
            version=version,
            artifact_uri=artifact_uri,
            aliases=tuple(aliases),
            labels=labels,
            resource_name=f"{response.model}@{version}",
        )

    def _keep(self, model_name: str, model_dir: Path, run_uri: str) -> str:
        """Copy the run's artifact into the store (through the container's GCS FUSE mount); its URI.

        The folder is named after the run's artifact URI (a rerun of the same step overwrites
        its own copy), since Vertex names the version only once the upload is done.
        """
        import hashlib
        import shutil

        kept = f"{self.artifact_store}/{model_name}/{hashlib.sha256(run_uri.encode()).hexdigest()[:20]}"
        shutil.copytree(model_dir, file_path(kept), dirs_exist_ok=True)
        return kept

    def set_alias(self, model_name: str, alias: str, version: str) -> None:
        from google.cloud import aiplatform_v1

        checked_alias(alias)
        parent_model = self._parent_model(model_name)
        if parent_model is None:
            raise KeyError(f"no model {model_name} in {self.parent}")
        # One request: "if you apply an existing alias used by another model version, the alias
        # is removed from that version" (https://cloud.google.com/vertex-ai/docs/model-registry/model-alias).
        # Taken off the holder first, in a request of its own, a try cut between the two left no
        # version with the alias: no champion, and a promotion no run would finish.
        holder = self.get(model_name, alias)
        if holder is None or holder.version != version:
            # retried: one 503 right after an upload failed the pipeline, and its Airflow retry
            # registered and deployed a second version; adding an alias a version holds changes
            # nothing, so a repeat of one that took effect is harmless
            self.client.merge_version_aliases(
                request=aiplatform_v1.MergeVersionAliasesRequest(
                    name=f"{parent_model}@{version}", version_aliases=[alias]
                ),
                retry=lookup_retry(),
            )

    def remove_alias(self, model_name: str, alias: str, version: str | None = None) -> None:
        from google.cloud import aiplatform_v1

        holder = self.get(model_name, alias)
        if holder is not None and (version is None or holder.version == version):
            # not retried: a repeat of a removal that took effect would name an alias the
            # version no longer holds; a failed call fails the caller, whose retry reads the holder again
            self.client.merge_version_aliases(
                request=aiplatform_v1.MergeVersionAliasesRequest(
                    name=holder.resource_name, version_aliases=[f"-{alias}"]
                )
            )


def _model_version(model_name: str, model: Any) -> ModelVersion:
    return ModelVersion(
        model_name=model_name,
        version=str(model.version_id),
        artifact_uri=model.artifact_uri,
        aliases=tuple(model.version_aliases),
        labels=dict(model.labels),
        resource_name=f"{model.name}@{model.version_id}",
    )


class EndpointMissing(RuntimeError):
    """The endpoint named by id does not exist: infra/ creates it, the pipeline does not."""


class VertexEndpoint:
    """A Vertex endpoint, by numeric id or by display name; canary rules of :mod:`.traffic`.

    ``endpoint_id`` (``MLOPS_ENDPOINT_ID``, which infra/ sets on Composer and on the prediction
    function) names the very endpoint the prediction function calls: read with ``GetEndpoint``,
    never created, so a deploy cannot land on another endpoint of the same display name (Vertex
    does not keep display names unique) that nothing predicts on. Without it, the endpoint is
    the first ``ListEndpoints`` match of ``endpoint_name`` and is created if none matches.
    """

    def __init__(
        self,
        project: str,
        region: str,
        endpoint_name: str,
        client: Any = None,
        machine_type: str = DEFAULT_MACHINE_TYPE,
        endpoint_id: str = "",
    ) -> None:
        from google.cloud import aiplatform_v1

        self.parent = _location(project, region)
        self.endpoint_name = endpoint_name
        self.endpoint_id = endpoint_id
        self.machine_type = machine_type
        self.client = client or aiplatform_v1.EndpointServiceClient(client_options=_client_options(region))

    def _existing(self) -> Any:
        """The endpoint, or None if there is none (a read: nothing is created)."""
        from google.api_core import exceptions
        from google.cloud import aiplatform_v1

        if self.endpoint_id:
            try:
                return self.client.get_endpoint(
                    request=aiplatform_v1.GetEndpointRequest(
                        name=f"{self.parent}/endpoints/{self.endpoint_id}"
                    ),
                    retry=lookup_retry(),  # no default retry: one 503 failed the deploy step
                )
            except exceptions.NotFound:
                return None
        found = self.client.list_endpoints(
            request=aiplatform_v1.ListEndpointsRequest(
                parent=self.parent, filter=f'display_name="{self.endpoint_name}"'
            ),
            retry=lookup_retry(),
        )
        return next(iter(found), None)

    def endpoint(self) -> Any:
        from google.cloud import aiplatform_v1

        existing = self._existing()
        if existing is not None:
            return existing
        if self.endpoint_id:
            raise EndpointMissing(
                f"endpoint {self.parent}/endpoints/{self.endpoint_id} (MLOPS_ENDPOINT_ID) does not exist: "
                "create it with infra/ (tofu apply), or correct MLOPS_ENDPOINT_ID"
            )
        return self.client.create_endpoint(
            request=aiplatform_v1.CreateEndpointRequest(
                parent=self.parent, endpoint=aiplatform_v1.Endpoint(display_name=self.endpoint_name)
            )
        ).result(timeout=OPERATION_TIMEOUT_SECONDS)

    def _deploy(self, endpoint: Any, version: ModelVersion, split: dict[str, int]) -> str:
        from google.cloud import aiplatform_v1

        deployed = aiplatform_v1.DeployedModel(
            model=version.resource_name,
            display_name=f"{version.model_name}-v{version.version}",
            dedicated_resources=aiplatform_v1.DedicatedResources(
                machine_spec=aiplatform_v1.MachineSpec(machine_type=self.machine_type),
                min_replica_count=1,
                max_replica_count=1,
            ),
        )
        response = self.client.deploy_model(
            request=aiplatform_v1.DeployModelRequest(
                endpoint=endpoint.name, deployed_model=deployed, traffic_split=split
            )
        ).result(timeout=OPERATION_TIMEOUT_SECONDS)
        return str(response.deployed_model.id)

    def _undeploy_all_but(self, endpoint: Any, keep: set[str]) -> None:
        from google.cloud import aiplatform_v1

        for deployed in endpoint.deployed_models:
            if deployed.id not in keep:
                self.client.undeploy_model(
                    request=aiplatform_v1.UndeployModelRequest(
                        endpoint=endpoint.name, deployed_model_id=deployed.id
                    )
                ).result(timeout=OPERATION_TIMEOUT_SECONDS)

    def is_deployed(self, version: ModelVersion) -> bool:
        """A read: an endpoint that does not exist (yet) serves nothing, and none is created."""
        endpoint = self._existing()
        return endpoint is not None and _deployed_id(endpoint, version) is not None

    def deployed_since(self, version: ModelVersion) -> datetime | None:
        """The ``DeployedModel``'s ``create_time`` (output only; set when the deployment began),
        the earliest if an undeploy cut short left two of the version. A read: no endpoint is
        created when there is none."""
        endpoint = self._existing()
        if endpoint is None:
            return None
        times = [
            datetime.fromtimestamp(deployed.create_time.timestamp(), UTC)
            for deployed in _deployments(endpoint, version)
            if deployed.create_time is not None
        ]
        return min(times, default=None)

    def traffic_percent(self, version: ModelVersion) -> int:
        """The endpoint's ``traffic_split`` share of ``version``'s deployment. A read: no endpoint
        is created when there is none."""
        endpoint = self._existing()
        if endpoint is None:
            return 0
        split = dict(endpoint.traffic_split)  # an undeploy cut short may leave two deployments
        return sum(int(split.get(deployed.id, 0)) for deployed in _deployments(endpoint, version))

    def deploy_canary(
        self, version: ModelVersion, threshold: float, champion: ModelVersion | None, canary_percent: int
    ) -> dict[str, int]:
        """Deploy beside the serving champion; ``threshold`` travels in the artifact's metadata.json."""
        endpoint = self.endpoint()
        champion_id = _deployed_id(endpoint, champion)
        if champion_id is not None and champion is not None and champion.version == version.version:
            # A re-run of the champion's own deploy (the first version is registered champion
            # before it): Vertex keys deployments by their own ids, so canary_split would put
            # a second copy of the version beside the first. As on the local endpoint, whose ids
            # are the versions', the one deployment takes all the traffic.
            return self.promote(version, threshold)
        del threshold
        split = canary_split("0", champion_id, canary_percent)  # "0" = the model being deployed
        new_id = self._deploy(endpoint, version, split)
        keep = {new_id} | ({champion_id} if champion_id and champion_id in split else set())
        self._undeploy_all_but(endpoint, keep)
        by_version = {new_id: version.version}
        if champion is not None and champion_id:
            by_version[champion_id] = champion.version
        return {by_version[new_id if k == "0" else k]: v for k, v in split.items()}

    def promote(self, version: ModelVersion, threshold: float) -> dict[str, int]:
        from google.cloud import aiplatform_v1
        from google.protobuf import field_mask_pb2

        del threshold
        endpoint = self.endpoint()
        deployed_id = _deployed_id(endpoint, version)
        if deployed_id is None:
            deployed_id = self._deploy(endpoint, version, promote_split("0"))
        else:
            self.client.update_endpoint(
                request=aiplatform_v1.UpdateEndpointRequest(
                    endpoint=aiplatform_v1.Endpoint(
                        name=endpoint.name, traffic_split=promote_split(deployed_id)
                    ),
                    update_mask=field_mask_pb2.FieldMask(paths=["traffic_split"]),
                ),
                retry=lookup_retry(),  # it sets the split: a repeat leaves what the first set
            )
        self._undeploy_all_but(endpoint, {deployed_id})
        return {version.version: 100}

    def rollback(self, canary: ModelVersion, champion: ModelVersion) -> dict[str, int]:
        """``UndeployModel`` of the canary with ``traffic_split`` {champion: 100} in the same request.

        Vertex undeploys a model only when no traffic points at it; the request's
        ``traffic_split`` overwrites the endpoint's first, so this is one atomic call.
        """
        from google.cloud import aiplatform_v1

        endpoint = self.endpoint()
        champion_id = _deployed_id(endpoint, champion)
        if champion_id is None:
            raise ValueError(
                f"champion v{champion.version} is not deployed on {endpoint.name}; not rolling back"
            )
        canary_id = _deployed_id(endpoint, canary)
        if canary_id is None:
            # gone already (an earlier try's undeploy, or a newer canary's deploy replaced it):
            # the split is the endpoint's as it is, which the rollback's alert reports
            return _split_by_version(endpoint)
        self.client.undeploy_model(
            request=aiplatform_v1.UndeployModelRequest(
                endpoint=endpoint.name,
                deployed_model_id=canary_id,
                traffic_split=promote_split(champion_id),
            )
        ).result(timeout=OPERATION_TIMEOUT_SECONDS)
        return {champion.version: 100}


def _deployments(endpoint: Any, version: ModelVersion | None) -> list[Any]:
    """The endpoint's ``DeployedModel``s of ``version`` (one, unless an undeploy was cut short)."""
    if version is None:
        return []
    model = version.resource_name.split("@")[0]
    return [
        deployed
        for deployed in endpoint.deployed_models
        if deployed.model == model and str(deployed.model_version_id) == version.version
    ]


def _split_by_version(endpoint: Any) -> dict[str, int]:
    """The endpoint's traffic split keyed by model version (deployments with traffic only)."""
    split = dict(endpoint.traffic_split)
    return {
        str(deployed.model_version_id): int(split[deployed.id])
        for deployed in endpoint.deployed_models
        if split.get(deployed.id)
    }


def _deployed_id(endpoint: Any, version: ModelVersion | None) -> str | None:
    found = _deployments(endpoint, version)
    return str(found[0].id) if found else None
