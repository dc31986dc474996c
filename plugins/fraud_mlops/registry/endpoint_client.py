"""Calling the deployed model through the endpoint, and saying which model answered.

* :class:`LocalEndpointClient` reads the local endpoint file (written by training's deploy and
  promote steps), loads each deployed version once, and routes every request by the traffic
  split, so a canary gets its share. A changed file (new deploy, promotion, rollback) is
  picked up on the next request: no restart.
* :class:`VertexEndpointClient` calls the Vertex endpoint's ``predict``; Vertex routes by the
  same split and reports the deployed model id and model version that answered.

Both run the same model server code (:mod:`.model_server`): locally in process, on Vertex in
the serving container. Both parse its prediction with :func:`answer_from`, into a
:class:`ModelAnswer`: probability, the model's own operating threshold, and the deployed model
id / model name / version that produced it. Provenance costs no extra call: the threshold and
model identity are part of every prediction, and Vertex's ``PredictResponse`` adds
``deployed_model_id``, ``model`` and ``model_version_id`` (no ``GetModel``, no bucket read).
"""

from __future__ import annotations

import logging
import math
import os
import random
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from fraud_mlops.registry.local_endpoint import DeployedModel
    from fraud_mlops.registry.model_server import ServedModel

log = logging.getLogger(__name__)


class NoModelDeployed(RuntimeError):
    """The endpoint serves no model (nothing deployed yet, or zero traffic everywhere)."""


#: How Vertex refuses a predict on an endpoint with no deployed model (FAILED_PRECONDITION, HTTP
#: 400): "Endpoint projects/…/endpoints/… doesn't have traffic_split." (as in
#: github.com/GoogleCloudPlatform/explainable_ai_sdk/issues/3). Vertex answers the model
#: server's own 4xx with FAILED_PRECONDITION too, its body as the message ("Prediction failed:
#: …", github.com/googleapis/python-aiplatform/issues/514 and /793): that one is the model's
#: failure, which the canary's error rules must count, not an empty endpoint.
NO_TRAFFIC_SPLIT = "doesn't have traffic_split"


class EndpointUnavailable(RuntimeError):
    """The endpoint did not answer in time, retries included (a 503 the caller may retry)."""


class ModelFailed(RuntimeError):
    """The model call failed: the deployed model the split chose raised, could not be loaded, or
    answered something that is not a model server prediction. Names that model when the
    endpoint says which one (locally always; on Vertex when it answered), so the prediction log
    charges the failure to it and the canary's error-rate rules see it; Vertex's own 500 names
    none (the canary policy counts those against the endpoint since the canary's deployment)."""

    def __init__(
        self,
        message: str,
        deployed_model_id: str | None = None,
        model_name: str | None = None,
        model_version: str | None = None,
    ) -> None:
        super().__init__(message)
        self.deployed_model_id = deployed_model_id
        self.model_name = model_name
        self.model_version = model_version


@dataclass(frozen=True)
class ModelAnswer:
    probability: float
    threshold: float
    deployed_model_id: str
    model_name: str
    model_version: str

    @property
    def is_fraud(self) -> bool:
        return self.probability >= self.threshold


class ModelClient(Protocol):
    def predict(self, row: Sequence[float]) -> ModelAnswer: ...


@dataclass(frozen=True)
class _Served:
    deployed_model_id: str
    model_name: str
    model_version: str
    traffic_percent: int
    model: ServedModel | None  # None: its artifact could not be loaded (load_error says why)
    load_error: str = ""

    def answer(self, row: Sequence[float]) -> ModelAnswer:
        """This deployed model's answer; ModelFailed naming it when it cannot give one."""
        if self.model is None:
            raise self._failed(self.load_error)
        try:
            return answer_from(self.model.predict_row(row), self.deployed_model_id)
        except Exception as exc:
            raise self._failed(f"{type(exc).__name__}: {exc}") from exc

    def _failed(self, why: str) -> ModelFailed:
        return ModelFailed(
            f"{self.deployed_model_id}: {why}", self.deployed_model_id, self.model_name, self.model_version
        )


#: A deployed model whose artifact could not be loaded is tried again after this long (a file
#: replaced in place, a passing I/O error), not only when the endpoint file changes.
RELOAD_FAILED_AFTER_SECONDS = 30.0


@dataclass(frozen=True)
class _EndpointView:
    signature: tuple[int, int, int] | None  # (inode, size, mtime_ns) of the file it came from
    models: tuple[_Served, ...]
    weights: tuple[int, ...]
    retry_at: float | None = None  # time.monotonic() from which a failed load is tried again


class LocalEndpointClient:
    """The local endpoint file, honoured per request; thread-safe, reloads on change."""

    def __init__(self, path: Path, rng: random.Random | None = None) -> None:
        self.path = Path(path)
        self._rng = rng or random.Random()
        self._rng_pid = os.getpid() if rng is not None else -1
        self._lock = threading.Lock()
        self._view = _EndpointView(signature=None, models=(), weights=())
        self._models: dict[tuple[str, int], ServedModel] = {}  # (artifact dir, model mtime)

    def _signature(self) -> tuple[int, int, int] | None:
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return None
        return (st.st_ino, st.st_size, st.st_mtime_ns)

    def current(self) -> _EndpointView:
        """The endpoint as the file says now (one stat per call; a reload when it changed)."""
        signature = self._signature()
        view = self._view
        if signature == view.signature and signature is not None and not _retry_due(view):
            return view
        with self._lock:
            if self._view.signature != signature or signature is None or _retry_due(self._view):
                self._view = self._load(signature)
            return self._view

    def _load(self, signature: tuple[int, int, int] | None) -> _EndpointView:
        from fraud_mlops.registry.local_endpoint import read_endpoint

        if signature is None:
            return _EndpointView(signature=None, models=(), weights=())
        state = read_endpoint(self.path)
        state.validate()
        served = tuple(self._served(m) for m in state.deployed_models if m.traffic_percent > 0)
        failed = any(m.model is None for m in served)
        retry_at = time.monotonic() + RELOAD_FAILED_AFTER_SECONDS if failed else None
        return _EndpointView(signature, served, tuple(m.traffic_percent for m in served), retry_at)

    def _served(self, deployed: DeployedModel) -> _Served:
        """One deployed model, loaded; one whose artifact cannot be loaded still takes its share
        of traffic and fails it, named (as a Vertex replica that cannot serve fails its share),
        instead of failing every call, the other models' included."""
        artifact_dir = Path(deployed.artifact_uri.removeprefix("file://"))
        served = _Served(
            deployed.deployed_model_id,
            deployed.model_name,
            deployed.model_version,
            deployed.traffic_percent,
            None,
        )
        try:
            model = self._model(artifact_dir, deployed.model_name, deployed.model_version)
        except Exception as exc:
            log.error("deployed model %s cannot be loaded: %s", deployed.deployed_model_id, exc)
            return replace(served, load_error=f"cannot be loaded: {type(exc).__name__}: {exc}")
        return replace(served, model=model)

    def _model(self, artifact_dir: Path, model_name: str, model_version: str) -> ServedModel:
        """The model server's own loader (version checks included), once per artifact file."""
        from fraud_mlops.registry.artifact import MODEL_FILE
        from fraud_mlops.registry.model_server import ServedModel

        key = (str(artifact_dir), os.stat(artifact_dir / MODEL_FILE).st_mtime_ns)
        if key not in self._models:
            self._models[key] = ServedModel.load(artifact_dir, model_name, model_version)
        return self._models[key]

    def choose(self) -> _Served:
        view = self.current()
        if not view.models:
            raise NoModelDeployed(f"no model deployed on {self.path}")
        if len(view.models) == 1:
            return view.models[0]
        if self._rng_pid != os.getpid():  # forked workers must not replay the same draws
            self._rng, self._rng_pid = random.Random(), os.getpid()
        return self._rng.choices(view.models, weights=view.weights)[0]

    def predict(self, row: Sequence[float]) -> ModelAnswer:
        return self.choose().answer(row)


class VertexEndpointClient:
    """A Vertex AI endpoint serving the model server container: one ``Predict`` per request.

    Everything the answer needs is in the response: the model server's prediction carries
    probability, threshold, model name and version; Vertex adds which deployed model and
    model version answered. The service account needs ``aiplatform.endpoints.predict`` only
    (docs/least_privilege.md, "Run-time API calls").
    """

    def __init__(
        self,
        endpoint: str,
        region: str,
        prediction_client: Any | None = None,
        timeout_seconds: float = 5.0,
    ) -> None:
        self.endpoint = endpoint  # projects/P/locations/R/endpoints/ID
        self.region = region
        self.timeout_seconds = timeout_seconds
        self._prediction_client = prediction_client

    @classmethod
    def for_endpoint(cls, project: str, region: str, endpoint_id: str | None = None) -> VertexEndpointClient:
        """The endpoint with numeric id ``endpoint_id`` (``MLOPS_ENDPOINT_ID``, set by infra/).

        No lookup by display name: that would be a ``ListEndpoints`` call at project level,
        which the inference account is not granted (it may predict on this endpoint only).
        """
        if not endpoint_id:
            raise RuntimeError(
                "set MLOPS_ENDPOINT_ID to the Vertex endpoint's numeric id (infra/ outputs it)"
            )
        return cls(endpoint=vertex_endpoint_resource(project, region, endpoint_id), region=region)

    def _options(self) -> dict[str, str]:
        return {"api_endpoint": f"{self.region}-aiplatform.googleapis.com"}

    @property
    def prediction_client(self) -> Any:
        if self._prediction_client is None:
            from google.cloud import aiplatform_v1

            self._prediction_client = aiplatform_v1.PredictionServiceClient(client_options=self._options())
        return self._prediction_client

    def predict_request(self, row: Sequence[float]) -> Any:
        """One instance: the feature list in ``FEATURE_NAMES`` order, JSON null where missing."""
        from google.cloud import aiplatform_v1

        request = aiplatform_v1.PredictRequest(endpoint=self.endpoint)
        # proto-plus refuses list values in the constructor; extend() marshals them to Value
        request.instances.extend([[None if v != v else float(v) for v in row]])  # type: ignore[list-item]
        return request

    def predict(self, row: Sequence[float]) -> ModelAnswer:
        from google.api_core import exceptions

        from fraud_mlops.retries import serving_retry, unanswered_errors

        try:
            response = self.prediction_client.predict(
                request=self.predict_request(row),
                retry=serving_retry(self.timeout_seconds),  # Predict has no default retry
                timeout=self.timeout_seconds,
            )
        except exceptions.FailedPrecondition as exc:
            if NO_TRAFFIC_SPLIT in str(exc):
                raise NoModelDeployed(str(exc)) from exc
            # the model server's own refusal (a 4xx of the container: an instance it cannot read)
            raise ModelFailed(f"{self.endpoint}: {exc}") from exc
        except unanswered_errors() as exc:
            raise EndpointUnavailable(f"{self.endpoint}: {exc}") from exc
        except exceptions.InternalServerError as exc:  # 500: the call failed; Vertex names no model
            raise ModelFailed(f"{self.endpoint}: {exc}") from exc
        if not response.deployed_model_id:
            raise NoModelDeployed(f"{self.endpoint} answered without a deployed model")
        try:
            if len(response.predictions) != 1:
                raise ValueError(f"expected one prediction, got {len(response.predictions)}")
            answer = answer_from(_plain(response.predictions[0]), str(response.deployed_model_id))
        except (ValueError, TypeError) as exc:  # Vertex said which deployed model gave this answer
            raise ModelFailed(
                f"{response.deployed_model_id}: {exc}",
                str(response.deployed_model_id),
                str(response.model_display_name) or None,
                str(response.model_version_id) or None,
            ) from exc
        # Vertex's own record of what answered wins over the artifact's (a copy may predate
        # the version number being written into it).
        return ModelAnswer(
            probability=answer.probability,
            threshold=answer.threshold,
            deployed_model_id=answer.deployed_model_id,
            model_name=str(response.model_display_name or answer.model_name),
            model_version=str(response.model_version_id or answer.model_version),
        )


def _retry_due(view: _EndpointView) -> bool:
    return view.retry_at is not None and time.monotonic() >= view.retry_at


def _plain(value: Any) -> Any:
    """proto-plus's Struct/ListValue views → dict/list (``MapComposite`` is not a dict)."""
    if hasattr(value, "items"):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, str | bytes | int | float | bool) or value is None:
        return value
    return [_plain(v) for v in value]


def answer_from(prediction: Any, deployed_model_id: str) -> ModelAnswer:
    """One prediction of the model server (:mod:`.model_server`) → :class:`ModelAnswer`.

    Only that shape is accepted: a bare number or a ``[p0, p1]`` pair would be another
    container's output (Vertex's prebuilt scikit-learn image answers ``predict()`` labels, 0
    or 1, which are not probabilities), and is refused rather than misread.
    """
    if not isinstance(prediction, dict):
        raise ValueError(f"not a model server prediction: {type(prediction).__name__}")
    missing = {"fraud_probability", "threshold", "model_name", "model_version"} - set(prediction)
    if missing:
        raise ValueError(f"the prediction lacks {sorted(missing)}: is the model server deployed?")
    probability = prediction["fraud_probability"]
    if isinstance(probability, bool) or not isinstance(probability, int | float):
        raise ValueError("fraud_probability is not a number")
    probability = float(probability)
    if not (0.0 <= probability <= 1.0) or math.isnan(probability):
        raise ValueError(f"fraud_probability {probability} is outside [0, 1]")
    return ModelAnswer(
        probability=probability,
        threshold=float(prediction["threshold"]),
        deployed_model_id=deployed_model_id,
        model_name=str(prediction["model_name"]),
        model_version=str(prediction["model_version"]),
    )


def vertex_endpoint_resource(project: str, region: str, endpoint_id: str) -> str:
    return f"projects/{project}/locations/{region}/endpoints/{endpoint_id}"
