"""The model server as Vertex AI runs it: a process on loopback, configured by ``AIP_*`` variables.

Requests are shaped as Vertex sends them (``{"instances": [...]}`` on ``AIP_PREDICT_ROUTE``;
health on ``AIP_HEALTH_ROUTE``). The server's real answer is then wrapped in a real
``aiplatform_v1.PredictResponse`` (as Vertex returns it, with ``deployed_model_id`` and
``model_version_id``) and parsed by the gcp function path, :class:`VertexEndpointClient`.
"""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from unittest import mock

import numpy as np
import pytest
from google.cloud import aiplatform_v1
from google.protobuf import json_format

from devtools.stack.config import free_port
from fraud_mlops.features import BATCH_INPUT_COLUMNS, FEATURE_NAMES
from fraud_mlops.registry.artifact import read_metadata, write_metadata
from fraud_mlops.registry.endpoint_client import VertexEndpointClient, answer_from
from fraud_mlops.registry.serving_image import IMAGE_VERSIONS, installed_versions
from fraud_mlops.settings import REPO_ROOT
from tests.serving.helpers import ServingRetry

from ..serving.helpers import feature_rows, train_model

THRESHOLD = 0.37
ENDPOINT = "projects/fraud-prj/locations/europe-west4/endpoints/4242"


@dataclass
class RunningServer:
    url: str
    process: subprocess.Popen[bytes]
    estimator: Any

    def get(self, route: str) -> tuple[int, dict[str, Any]]:
        try:
            with urllib.request.urlopen(self.url + route, timeout=10) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read())

    def post(self, route: str, body: bytes) -> tuple[int, dict[str, Any]]:
        request = urllib.request.Request(
            self.url + route, data=body, headers={"Content-Type": "application/json"}, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read())


def _model_dir(tmp: Path, **metadata: Any) -> tuple[Path, Any]:
    estimator = train_model(tmp, seed=11, threshold=THRESHOLD)
    write_metadata(
        tmp, {**read_metadata(tmp), "model_name": "fraud-detector", "model_version": "7", **metadata}
    )
    return tmp, estimator


def _start(model_dir: Path, port: int) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "PYTHONPATH": f"{REPO_ROOT / 'plugins'}",
        "AIP_HTTP_PORT": str(port),
        "AIP_HEALTH_ROUTE": "/v1/endpoints/4242/deployedModels/1001",
        "AIP_PREDICT_ROUTE": "/v1/endpoints/4242/deployedModels/1001:predict",
        "AIP_STORAGE_URI": str(model_dir),
        "MODEL_SERVER_HOST": "127.0.0.1",  # Vertex: 0.0.0.0 inside the container
    }
    return subprocess.Popen(
        [sys.executable, "-m", "fraud_mlops.registry.model_server"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


HEALTH = "/v1/endpoints/4242/deployedModels/1001"
PREDICT = HEALTH + ":predict"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    model_dir, estimator = _model_dir(tmp_path_factory.mktemp("model"))
    port = free_port()
    process = _start(model_dir, port)
    running = RunningServer(f"http://127.0.0.1:{port}", process, estimator)
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise AssertionError(f"server exited: {process.stdout.read().decode()}")  # type: ignore[union-attr]
            try:
                if running.get(HEALTH)[0] == 200:
                    break
            except (urllib.error.URLError, ConnectionError):
                pass
            if time.monotonic() > deadline:
                raise AssertionError("the model server did not become healthy in 60 s")
            time.sleep(0.2)
        yield running
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_health_route_reports_the_loaded_model(server: RunningServer) -> None:
    assert server.get(HEALTH) == (200, {"status": "ok", "model_name": "fraud-detector", "model_version": "7"})


def test_vertex_shaped_request_gets_probabilities_decisions_and_the_model_version(
    server: RunningServer,
) -> None:
    rows = feature_rows(3, seed=21)
    rows[0, 4] = np.nan
    instances: list[Any] = [[None if math.isnan(v) else float(v) for v in row] for row in rows[:2]]
    instances.append({name: (None if math.isnan(v) else float(v)) for name, v in zip(FEATURE_NAMES, rows[2], strict=True)} | {"card_pseudonym": "abc"})  # fmt: skip

    status, body = server.post(PREDICT, json.dumps({"instances": instances}).encode())

    assert status == 200, body
    assert list(body) == ["predictions"]
    expected = server.estimator.predict_proba(rows)[:, 1]
    assert len(body["predictions"]) == 3
    for prediction, p in zip(body["predictions"], expected, strict=True):
        assert set(prediction) == {
            "fraud_probability",
            "decision",
            "threshold",
            "model_name",
            "model_version",
        }
        assert prediction["fraud_probability"] == pytest.approx(p, abs=1e-12)
        assert prediction["decision"] == (
            "fraud" if prediction["fraud_probability"] >= THRESHOLD else "legitimate"
        )
        assert (prediction["threshold"], prediction["model_name"], prediction["model_version"]) == (
            THRESHOLD,
            "fraud-detector",
            "7",
        )
    # One instance takes the compiled single-row path: the same probability.
    status, one = server.post(PREDICT, json.dumps({"instances": instances[:1]}).encode())
    assert status == 200
    assert one["predictions"][0]["fraud_probability"] == pytest.approx(expected[0], abs=1e-12)


def test_a_batch_input_row_as_vertex_sends_it_is_read_by_column_position(server: RunningServer) -> None:
    """Vertex AI batch prediction sends a BigQuery row as an array of its columns in table order
    (``InstanceConfig``'s default for BigQuery input): the card key and the feature time first,
    then the features (``BATCH_INPUT_COLUMNS``). How it writes numbers into JSON is not
    documented, so numbers as strings are read too (INT64s may come as strings)."""
    rows = feature_rows(2, seed=23)
    rows[1, 3] = np.nan
    batch_rows: list[Any] = [
        ["card-a", 1_761_850_171_000_000, *(None if math.isnan(v) else float(v) for v in rows[0])],
        ["card-b", "1761850171000000", *(None if math.isnan(v) else str(v) for v in rows[1])],
    ]
    assert len(batch_rows[0]) == len(BATCH_INPUT_COLUMNS) == len(FEATURE_NAMES) + 2

    status, body = server.post(PREDICT, json.dumps({"instances": batch_rows}).encode())

    assert status == 200, body
    expected = server.estimator.predict_proba(rows)[:, 1]
    got = [p["fraud_probability"] for p in body["predictions"]]
    assert got == pytest.approx(list(expected), abs=1e-12)
    # a string is a number only in a batch row, and only if it reads as one
    bad = ["card-c", "1", *["x"] * len(FEATURE_NAMES)]
    status, answer = server.post(PREDICT, json.dumps({"instances": [bad]}).encode())
    assert status == 400 and f"instance 0 {FEATURE_NAMES[0]} must be a number" in answer["error"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"not json", "not valid JSON"),
        (b'{"rows": []}', "instances"),
        (
            b'{"instances": [[1, 2]]}',
            f"has 2 values, expected {len(FEATURE_NAMES)} features or a batch input row of {len(BATCH_INPUT_COLUMNS)}",
        ),
        (b'{"instances": [{"amount": 1}]}', "lacks features"),
        (json.dumps({"instances": [["x"] * len(FEATURE_NAMES)]}).encode(), "must be a number"),
    ],
)
def test_bad_requests_are_400_with_a_reason(server: RunningServer, body: bytes, message: str) -> None:
    status, answer = server.post(PREDICT, body)
    assert status == 400 and message in answer["error"]


def test_unknown_routes_are_404(server: RunningServer) -> None:
    assert server.get("/predict")[0] == 404
    assert server.post("/health", b"{}")[0] == 404


def test_the_gcp_function_path_parses_exactly_the_servers_answer(server: RunningServer) -> None:
    row = [float(v) for v in feature_rows(1, seed=22)[0]]
    row = [v if not math.isnan(v) else float("nan") for v in row]
    status, body = server.post(
        PREDICT, json.dumps({"instances": [[None if math.isnan(v) else v for v in row]]}).encode()
    )
    assert status == 200
    # What Vertex returns: the container's predictions plus which deployed model / version answered.
    response = json_format.ParseDict(
        {
            **body,
            "deployedModelId": "1001",
            "model": "projects/fraud-prj/locations/europe-west4/models/777",
            "modelVersionId": "7",
            "modelDisplayName": "fraud-detector",
        },
        aiplatform_v1.PredictResponse.pb(aiplatform_v1.PredictResponse()),
    )
    prediction_client = mock.create_autospec(aiplatform_v1.PredictionServiceClient, instance=True)
    prediction_client.predict.return_value = aiplatform_v1.PredictResponse.wrap(response)
    client = VertexEndpointClient(ENDPOINT, "europe-west4", prediction_client=prediction_client)

    answer = client.predict(row)

    assert prediction_client.mock_calls == [
        mock.call.predict(request=client.predict_request(row), retry=ServingRetry(5.0), timeout=5.0)
    ]
    assert answer.probability == body["predictions"][0]["fraud_probability"]
    assert (answer.threshold, answer.deployed_model_id, answer.model_name, answer.model_version) == (
        THRESHOLD,
        "1001",
        "fraud-detector",
        "7",
    )
    assert answer.is_fraud == (body["predictions"][0]["decision"] == "fraud")


@pytest.mark.parametrize(
    "prediction",
    [
        1,  # Vertex's prebuilt scikit-learn container: a predict() label, not a probability
        0.25,
        [0.9, 0.1],
        {"scores": [0.3, 0.7]},
        {"fraud_probability": 1.5, "threshold": 0.5, "model_name": "m", "model_version": "1"},
        {"fraud_probability": True, "threshold": 0.5, "model_name": "m", "model_version": "1"},
    ],
)
def test_other_containers_answers_are_refused_not_misread(prediction: Any) -> None:
    with pytest.raises(ValueError):
        answer_from(prediction, "1001")


def test_a_model_trained_with_other_versions_stops_the_server(tmp_path: Path) -> None:
    model_dir, _ = _model_dir(tmp_path, training_versions={**installed_versions(), "scikit-learn": "1.5.2"})
    process = _start(model_dir, free_port())
    out, _ = process.communicate(timeout=60)
    assert process.returncode != 0
    assert b"scikit-learn trained 1.5.2" in out


def _requirement_pins(text: str) -> dict[str, str]:
    return dict(re.findall(r"^([A-Za-z0-9_.-]+)==(\S+)$", text, flags=re.M))


def _lock_versions() -> dict[str, str]:
    import tomllib

    lock = tomllib.loads((REPO_ROOT / "uv.lock").read_text())
    return {p["name"]: p["version"] for p in lock["package"] if "version" in p}


def test_the_image_pins_equal_the_registry_check_and_the_lock() -> None:
    pins = _requirement_pins((REPO_ROOT / "images/model_server/requirements.txt").read_text())
    lock = _lock_versions()
    assert {k: pins[k] for k in IMAGE_VERSIONS} == IMAGE_VERSIONS
    assert all(lock[name] == version for name, version in pins.items()), (pins, lock)
    assert installed_versions() == IMAGE_VERSIONS  # so models trained here pass the check
    dockerfile = (REPO_ROOT / "images/model_server/Dockerfile").read_text()
    assert "images/model_server/requirements.txt" in dockerfile
    assert 'ENTRYPOINT ["python", "-m", "fraud_mlops.registry.model_server"]' in dockerfile


def test_a_model_that_fails_answers_500_not_a_dropped_connection(tmp_path: Path) -> None:
    """The predict route's own logic on a real loaded artifact that cannot score what it is sent
    (trained on five features, no feature list to refuse it at load): a 500 Vertex can pass on,
    not an exception that makes http.server drop the connection."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    from fraud_mlops.registry.artifact import save_model
    from fraud_mlops.registry.model_server import ServedModel, predict_body

    x = np.random.default_rng(0).normal(size=(200, 5))
    save_model(LogisticRegression().fit(x, (x[:, 0] > 0).astype(int)), tmp_path, {"threshold": 0.5})
    body = json.dumps({"instances": [[0.0] * len(FEATURE_NAMES)]}).encode()

    assert predict_body(ServedModel.load(tmp_path, "fraud-detector", "9"), body) == (
        500,
        {"error": "the model failed: ValueError"},
    )
