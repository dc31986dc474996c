"""The model server: one HTTP server for the Vertex AI endpoint, batch prediction and local serving.

Vertex AI's prebuilt scikit-learn containers call ``predict()`` (labels, not probabilities) and
load only models pickled with the scikit-learn their image pins. This server is the project's
own serving container instead (``images/model_server/Dockerfile``), obeying Vertex AI's
custom-container contract (https://cloud.google.com/vertex-ai/docs/predictions/custom-container-requirements):

* listens on ``0.0.0.0:$AIP_HTTP_PORT`` (default 8080);
* answers ``GET $AIP_HEALTH_ROUTE`` with 200 once the model is loaded (503 before);
* answers ``POST $AIP_PREDICT_ROUTE`` with ``{"instances": [...]}`` → ``{"predictions": [...]}``;
* loads the artifact (``model.joblib`` + ``metadata.json``) from ``$AIP_STORAGE_URI``.

An instance is one of:

* a list of the features in ``FEATURE_NAMES`` order (online requests, JSON ``null`` for missing);
* a list of a batch input row's columns in ``BATCH_INPUT_COLUMNS`` order: what Vertex AI batch
  prediction sends for a BigQuery row by default ("For ``bigquery`` […] the behavior is the same
  as ``array``. The order of columns is the same as defined in the […] table", InstanceConfig in
  google.cloud.aiplatform_v1); numbers may arrive as JSON strings there;
* an object with one key per feature (other keys are ignored).

Each prediction says, for that instance::

    {"fraud_probability": 0.0123, "decision": "legitimate", "threshold": 0.41,
     "model_name": "fraud-detector", "model_version": "3"}

so the caller learns the answering model and its operating threshold from the answer itself,
with no ``GetModel`` call or bucket read (docs/serving.md). Locally the endpoint client runs
the same :class:`ServedModel` in process (:class:`~fraud_mlops.registry.endpoint_client.LocalEndpointClient`)
and batch scoring calls :func:`predict_instances`, so both targets exercise this code.

The server refuses to load a model trained with other library versions than its own (the
pickle's scikit-learn must be the one that unpickles it): see :mod:`.serving_image`.
"""

from __future__ import annotations

import json
import logging
import math
import os
import sys
import tempfile
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from fraud_mlops.features import BATCH_INPUT_COLUMNS, FEATURE_NAMES
from fraud_mlops.registry.artifact import METADATA_FILE, MODEL_FILE, load_model, read_metadata
from fraud_mlops.registry.predictor import Predictor, compile_predictor
from fraud_mlops.registry.serving_image import check_versions, installed_versions

log = logging.getLogger(__name__)

DEFAULT_PORT = 8080  # Vertex's default when containerSpec.ports is empty
HEALTH_ROUTE = "/health"
PREDICT_ROUTE = "/predict"
MAX_BODY_BYTES = 10 * 1024 * 1024  # Vertex AI's online predict request limit is 1.5 MB; batch ≤ 10 MB


class BadInstance(ValueError):
    """An instance the server cannot turn into a feature vector (answered with HTTP 400)."""


@dataclass(frozen=True)
class ServedModel:
    """One loaded model version: predictor, its threshold and identity from ``metadata.json``."""

    estimator: Any
    predictor: Predictor
    threshold: float
    model_name: str
    model_version: str

    @classmethod
    def load(cls, artifact_dir: Path, model_name: str = "", model_version: str = "") -> ServedModel:
        """Load and check an artifact folder; ``model_*`` fill in what metadata lacks."""
        metadata = read_metadata(artifact_dir)
        if "threshold" not in metadata:
            raise ValueError(f"{artifact_dir / METADATA_FILE} has no threshold: not a registered model")
        check_versions(metadata.get("training_versions", {}), installed_versions(), what="this server")
        names = metadata.get("feature_names")
        if names is not None and tuple(names) != FEATURE_NAMES:
            raise ValueError("the model was trained on other features than this server sends")
        estimator = load_model(artifact_dir)
        return cls(
            estimator=estimator,
            predictor=compile_predictor(estimator),
            threshold=float(metadata["threshold"]),
            model_name=str(metadata.get("model_name") or model_name),
            model_version=str(metadata.get("model_version") or model_version),
        )

    def answer(self, probability: float) -> dict[str, Any]:
        return {
            "fraud_probability": probability,
            "decision": "fraud" if probability >= self.threshold else "legitimate",
            "threshold": self.threshold,
            "model_name": self.model_name,
            "model_version": self.model_version,
        }

    def predict_row(self, row: Sequence[float]) -> dict[str, Any]:
        """One feature vector (``FEATURE_NAMES`` order, NaN = missing): the online hot path."""
        import numpy as np

        return self.answer(self.predictor.predict_one(np.asarray(row, dtype=np.float64)))

    def predict(self, instances: Sequence[Any]) -> list[dict[str, Any]]:
        """Vertex's ``instances`` → ``predictions``, one per instance, in order."""
        import numpy as np

        rows = [instance_vector(instance, i) for i, instance in enumerate(instances)]
        if len(rows) == 1:
            return [self.predict_row(rows[0])]
        if not rows:
            return []
        scores = self.estimator.predict_proba(np.asarray(rows, dtype=np.float64))[:, 1]
        return [self.answer(float(p)) for p in scores]


#: Where each feature sits in a batch input row (see the module docstring).
_BATCH_POSITIONS = tuple(BATCH_INPUT_COLUMNS.index(name) for name in FEATURE_NAMES)


def _number(value: Any, where: str, *, text: bool = False) -> float:
    """A feature value: a JSON number or null; with ``text``, a number written as a string too
    (a batch row: how Vertex writes a BigQuery number into JSON is not documented)."""
    if value is None:
        return math.nan
    if text and isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            raise BadInstance(f"{where} must be a number or null") from None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise BadInstance(f"{where} must be a number or null")
    return float(value)


def instance_vector(instance: Any, index: int = 0) -> list[float]:
    """A list of features, a batch input row or an object keyed by feature → the model's row."""
    if isinstance(instance, Mapping):
        missing = [name for name in FEATURE_NAMES if name not in instance]
        if missing:
            raise BadInstance(f"instance {index} lacks features: {', '.join(missing[:5])}")
        return [_number(instance[name], f"instance {index} {name}") for name in FEATURE_NAMES]
    if isinstance(instance, list | tuple):
        if len(instance) == len(FEATURE_NAMES):
            return [_number(v, f"instance {index} value {j}") for j, v in enumerate(instance)]
        if len(instance) == len(BATCH_INPUT_COLUMNS):
            return [
                _number(instance[j], f"instance {index} {BATCH_INPUT_COLUMNS[j]}", text=True)
                for j in _BATCH_POSITIONS
            ]
        raise BadInstance(
            f"instance {index} has {len(instance)} values, expected {len(FEATURE_NAMES)} features "
            f"or a batch input row of {len(BATCH_INPUT_COLUMNS)} columns"
        )
    raise BadInstance(f"instance {index} must be a list of features or an object keyed by feature")


def predict_body(model: ServedModel | None, body: bytes) -> tuple[int, dict[str, Any]]:
    """The predict route without HTTP: status and JSON for a request body."""
    if model is None:
        return 503, {"error": "model not loaded"}
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        return 400, {"error": "the body is not valid JSON"}
    if not isinstance(data, dict) or not isinstance(data.get("instances"), list):
        return 400, {"error": 'send {"instances": [...]}'}
    try:
        return 200, {"predictions": model.predict(data["instances"])}
    except BadInstance as exc:
        return 400, {"error": str(exc)}
    except Exception as exc:  # the model itself failed: an answer, not a dropped connection
        log.exception("prediction failed")
        return 500, {"error": f"the model failed: {type(exc).__name__}"}


# --- fetching the artifact -------------------------------------------------------------------


def fetch_artifact(storage_uri: str, into: Path) -> Path:
    """The artifact folder: ``gs://`` is downloaded into ``into``, a path is used as it is."""
    if not storage_uri.startswith("gs://"):
        return Path(storage_uri.removeprefix("file://"))
    from google.cloud import storage  # type: ignore[attr-defined]

    bucket_name, _, prefix = storage_uri.removeprefix("gs://").partition("/")
    bucket = storage.Client().bucket(bucket_name)
    into.mkdir(parents=True, exist_ok=True)
    for name in (MODEL_FILE, METADATA_FILE):
        bucket.blob(f"{prefix.rstrip('/')}/{name}".lstrip("/")).download_to_filename(str(into / name))
    return into


# --- the HTTP server ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ServerConfig:
    """The ``AIP_*`` variables Vertex AI sets in the container (defaults for local runs)."""

    host: str
    port: int
    health_route: str
    predict_route: str
    storage_uri: str
    model_name: str = ""
    model_version: str = ""

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ServerConfig:
        env = os.environ if env is None else env
        storage_uri = env.get("AIP_STORAGE_URI", "")
        if not storage_uri:
            raise SystemExit("AIP_STORAGE_URI is not set: the model server needs the model's artifact")
        return cls(
            host=env.get("MODEL_SERVER_HOST", "0.0.0.0"),
            port=int(env.get("AIP_HTTP_PORT", DEFAULT_PORT)),
            health_route=env.get("AIP_HEALTH_ROUTE", HEALTH_ROUTE),
            predict_route=env.get("AIP_PREDICT_ROUTE", PREDICT_ROUTE),
            storage_uri=storage_uri,
            model_name=env.get("AIP_MODEL_NAME", ""),  # hints only: metadata.json wins
            model_version=env.get("AIP_MODEL_VERSION", ""),
        )


class ModelHTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        self.model: ServedModel | None = None
        super().__init__((config.host, config.port), _Handler)

    def load(self) -> None:
        with tempfile.TemporaryDirectory(prefix="model_") as tmp:
            artifact = fetch_artifact(self.config.storage_uri, Path(tmp))
            self.model = ServedModel.load(artifact, self.config.model_name, self.config.model_version)


class _Handler(BaseHTTPRequestHandler):
    server: ModelHTTPServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        log.debug(format, *args)

    def _send(self, status: int, body: dict[str, Any]) -> None:
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def do_GET(self) -> None:
        if self.path != self.server.config.health_route:
            self._send(404, {"error": f"no route {self.path}"})
        elif self.server.model is None:
            self._send(503, {"status": "loading"})
        else:
            model = self.server.model
            self._send(
                200, {"status": "ok", "model_name": model.model_name, "model_version": model.model_version}
            )

    def do_POST(self) -> None:
        if self.path != self.server.config.predict_route:
            self._send(404, {"error": f"no route {self.path}"})
            return
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY_BYTES:
            self._send(413, {"error": f"the body exceeds {MAX_BODY_BYTES} bytes"})
            return
        status, body = predict_body(self.server.model, self.rfile.read(length))
        self._send(status, body)


def serve(config: ServerConfig) -> None:
    """Listen first (Vertex's liveness probe is a TCP connect), load in the background; serve.

    Health answers 503 until the model is loaded; a model that cannot load stops the server
    with an error (Vertex then reports the deployment as failed instead of serving nothing).
    """
    server = ModelHTTPServer(config)
    failure: list[BaseException] = []

    def load() -> None:
        try:
            server.load()
        except BaseException as exc:
            failure.append(exc)
            threading.Thread(target=server.shutdown, daemon=True).start()

    threading.Thread(target=load, name="load-model", daemon=True).start()
    sys.stderr.write(
        json.dumps({"severity": "INFO", "message": f"model server on {config.host}:{config.port}"}) + "\n"
    )
    try:
        server.serve_forever()
    finally:
        server.server_close()
    if failure:
        raise SystemExit(f"the model did not load: {failure[0]!r}")


def main() -> None:
    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    serve(ServerConfig.from_env())


if __name__ == "__main__":
    main()
