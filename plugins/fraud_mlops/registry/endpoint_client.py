"""Calling the deployed model through the endpoint, and saying which model answered.

* :class:`LocalEndpointClient` reads the local endpoint file (written by training's deploy and
  promote steps), loads each deployed version once, and routes every request by the traffic
  split, so a canary gets its share. A changed file (new deploy, promotion, rollback) is
  picked up on the next request: no restart.
* :class:`VertexEndpointClient` calls the Vertex endpoint's ``predict``; Vertex routes by the
  same split and reports the deployed model id and model version that answered.

Both answer with a :class:`ModelAnswer`: probability, the model's own operating threshold, and
the deployed model id / model name / version that produced it.
"""

from __future__ import annotations

import json
import os
import random
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from fraud_mlops.registry.predictor import Predictor


class NoModelDeployed(RuntimeError):
    """The endpoint serves no model (nothing deployed yet, or zero traffic everywhere)."""


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
    threshold: float
    traffic_percent: int
    predictor: Predictor


@dataclass(frozen=True)
class _EndpointView:
    signature: tuple[int, int, int] | None  # (inode, size, mtime_ns) of the file it came from
    models: tuple[_Served, ...]
    weights: tuple[int, ...]


class LocalEndpointClient:
    """The local endpoint file, honoured per request; thread-safe, reloads on change."""

    def __init__(self, path: Path, rng: random.Random | None = None) -> None:
        self.path = Path(path)
        self._rng = rng or random.Random()
        self._rng_pid = os.getpid() if rng is not None else -1
        self._lock = threading.Lock()
        self._view = _EndpointView(signature=None, models=(), weights=())
        self._predictors: dict[tuple[str, int], Predictor] = {}  # (artifact dir, model mtime)

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
        if signature == view.signature and signature is not None:
            return view
        with self._lock:
            if self._view.signature != signature or signature is None:
                self._view = self._load(signature)
            return self._view

    def _load(self, signature: tuple[int, int, int] | None) -> _EndpointView:
        from fraud_mlops.registry.local_endpoint import read_endpoint

        if signature is None:
            return _EndpointView(signature=None, models=(), weights=())
        state = read_endpoint(self.path)
        state.validate()
        served = tuple(
            _Served(
                deployed_model_id=m.deployed_model_id,
                model_name=m.model_name,
                model_version=m.model_version,
                threshold=m.threshold,
                traffic_percent=m.traffic_percent,
                predictor=self._predictor(Path(m.artifact_uri.removeprefix("file://"))),
            )
            for m in state.deployed_models
            if m.traffic_percent > 0
        )
        return _EndpointView(signature, served, tuple(m.traffic_percent for m in served))

    def _predictor(self, artifact_dir: Path) -> Predictor:
        from fraud_mlops.registry.artifact import MODEL_FILE

        model_file = artifact_dir / MODEL_FILE
        key = (str(artifact_dir), os.stat(model_file).st_mtime_ns)
        if key not in self._predictors:
            import joblib

            from fraud_mlops.registry.predictor import compile_predictor

            self._predictors[key] = compile_predictor(joblib.load(model_file))
        return self._predictors[key]

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
        import numpy as np

        served = self.choose()
        probability = served.predictor.predict_one(np.asarray(row, dtype=np.float64))
        return ModelAnswer(
            probability=probability,
            threshold=served.threshold,
            deployed_model_id=served.deployed_model_id,
            model_name=served.model_name,
            model_version=served.model_version,
        )


class VertexEndpointClient:
    """A Vertex AI endpoint: ``predict`` for scores, the endpoint and model for provenance.

    The threshold of a model version travels in its artifact's ``metadata.json`` (training
    writes it there); it is read once per deployed model and cached, as is the endpoint's
    deployed-model → model version map, refreshed when an unknown deployed model answers.
    """

    def __init__(
        self,
        endpoint: str,
        region: str,
        prediction_client: Any | None = None,
        endpoint_client: Any | None = None,
        model_client: Any | None = None,
        read_metadata: Any | None = None,
        timeout_seconds: float = 5.0,
    ) -> None:
        self.endpoint = endpoint  # projects/P/locations/R/endpoints/ID
        self.region = region
        self.timeout_seconds = timeout_seconds
        self._prediction_client = prediction_client
        self._endpoint_client = endpoint_client
        self._model_client = model_client
        self._read_metadata = read_metadata or read_gcs_json
        self._deployed: dict[str, tuple[str, str, float]] = {}  # id → (model name, version, thr)
        self._lock = threading.Lock()

    @classmethod
    def for_endpoint(cls, project: str, region: str, endpoint_id: str | None = None) -> VertexEndpointClient:
        """The endpoint with numeric id ``endpoint_id``, or else the one named ``ENDPOINT_NAME``."""
        from fraud_mlops.registry.names import ENDPOINT_NAME

        client = cls(endpoint="", region=region)
        if endpoint_id:
            client.endpoint = vertex_endpoint_resource(project, region, endpoint_id)
            return client
        from google.cloud import aiplatform_v1

        found = client.endpoint_client.list_endpoints(
            request=aiplatform_v1.ListEndpointsRequest(
                parent=f"projects/{project}/locations/{region}", filter=f'display_name="{ENDPOINT_NAME}"'
            )
        )
        first = next(iter(found), None)
        if first is None:
            raise RuntimeError(f"no Vertex endpoint named {ENDPOINT_NAME}: set MLOPS_ENDPOINT_ID")
        client.endpoint = first.name
        return client

    def _options(self) -> dict[str, str]:
        return {"api_endpoint": f"{self.region}-aiplatform.googleapis.com"}

    @property
    def prediction_client(self) -> Any:
        if self._prediction_client is None:
            from google.cloud import aiplatform_v1

            self._prediction_client = aiplatform_v1.PredictionServiceClient(client_options=self._options())
        return self._prediction_client

    @property
    def endpoint_client(self) -> Any:
        if self._endpoint_client is None:
            from google.cloud import aiplatform_v1

            self._endpoint_client = aiplatform_v1.EndpointServiceClient(client_options=self._options())
        return self._endpoint_client

    @property
    def model_client(self) -> Any:
        if self._model_client is None:
            from google.cloud import aiplatform_v1

            self._model_client = aiplatform_v1.ModelServiceClient(client_options=self._options())
        return self._model_client

    def predict_request(self, row: Sequence[float]) -> Any:
        """One instance: the feature list in ``FEATURE_NAMES`` order, JSON null where missing."""
        from google.cloud import aiplatform_v1

        request = aiplatform_v1.PredictRequest(endpoint=self.endpoint)
        # proto-plus refuses list values in the constructor; extend() marshals them to Value
        request.instances.extend([[None if v != v else float(v) for v in row]])  # type: ignore[list-item]
        return request

    def predict(self, row: Sequence[float]) -> ModelAnswer:
        from google.api_core import exceptions

        try:
            response = self.prediction_client.predict(
                request=self.predict_request(row), timeout=self.timeout_seconds
            )
        except exceptions.FailedPrecondition as exc:  # Vertex: endpoint has no deployed model
            raise NoModelDeployed(str(exc)) from exc
        if not response.deployed_model_id:
            raise NoModelDeployed(f"{self.endpoint} answered without a deployed model")
        name, version, threshold = self._provenance(str(response.deployed_model_id))
        return ModelAnswer(
            probability=probability_of(response.predictions[0]),
            threshold=threshold,
            deployed_model_id=str(response.deployed_model_id),
            model_name=name,
            model_version=str(response.model_version_id or version),
        )

    def _provenance(self, deployed_model_id: str) -> tuple[str, str, float]:
        known = self._deployed.get(deployed_model_id)
        if known is not None:
            return known
        with self._lock:
            endpoint = self.endpoint_client.get_endpoint(name=self.endpoint)
            for deployed in endpoint.deployed_models:
                if deployed.id in self._deployed:
                    continue
                resource = f"{deployed.model}@{deployed.model_version_id}"
                model = self.model_client.get_model(name=resource)
                metadata = self._read_metadata(f"{model.artifact_uri.rstrip('/')}/metadata.json")
                self._deployed[str(deployed.id)] = (
                    str(model.display_name),
                    str(deployed.model_version_id),
                    float(metadata["threshold"]),
                )
        if deployed_model_id not in self._deployed:
            raise NoModelDeployed(f"deployed model {deployed_model_id} is not on {self.endpoint}")
        return self._deployed[deployed_model_id]


def probability_of(prediction: Any) -> float:
    """P(fraud) from one prediction: ``[p0, p1]``, ``{"scores"|"probabilities": [...]}`` or ``p``."""
    if hasattr(prediction, "items"):
        for key in ("probabilities", "scores"):
            if key in prediction:
                return probability_of(prediction[key])
        raise ValueError(f"prediction has no probabilities: keys {sorted(prediction)}")
    if isinstance(prediction, str | bytes):
        raise ValueError("prediction is text, not a probability")
    if hasattr(prediction, "__len__"):
        values = [float(v) for v in prediction]
        if len(values) != 2:
            raise ValueError(f"expected [P(legit), P(fraud)], got {len(values)} values")
        return values[1]
    return float(prediction)


def read_gcs_json(uri: str) -> dict[str, Any]:
    from google.cloud import storage  # type: ignore[attr-defined]

    bucket, _, name = uri.removeprefix("gs://").partition("/")
    return json.loads(storage.Client().bucket(bucket).blob(name).download_as_bytes())  # type: ignore[no-any-return]


def vertex_endpoint_resource(project: str, region: str, endpoint_id: str) -> str:
    return f"projects/{project}/locations/{region}/endpoints/{endpoint_id}"
