"""The gcp serving path, with Vertex AI mocked at its client classes.

Responses are real protos; every request the code sends is compared field for field. The
predictions have the model server's shape (tests/registry/test_model_server.py shows the real
server answering it); provenance needs no call besides ``Predict``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any
from unittest import mock

import pytest
from google.api_core import exceptions
from google.cloud import aiplatform_v1
from google.protobuf import struct_pb2, timestamp_pb2

from fraud_mlops.feature_store.records import OnlineStoreNotReady
from fraud_mlops.feature_store.vertex import VertexOnlineStore
from fraud_mlops.features import FEATURE_NAMES, FEATURES, CardState
from fraud_mlops.registry.endpoint_client import VertexEndpointClient
from fraud_mlops.serving.http import build_service
from fraud_mlops.settings import settings_from_env
from tests.fake_kms import FakeCloudKms

from .helpers import ServingRetry, local_pseudonymiser

PROJECT, REGION = "fraud-prj", "europe-west4"
FEATURE_VIEW = (
    f"projects/{PROJECT}/locations/{REGION}/featureOnlineStores/fraud_online_store/featureViews/card_features"
)
ENDPOINT = f"projects/{PROJECT}/locations/{REGION}/endpoints/4242"
MODEL = f"projects/{PROJECT}/locations/{REGION}/models/777"
CARD = "4111111111111111"
API = {"api_endpoint": f"{REGION}-aiplatform.googleapis.com"}


def _function_env(kms_env: dict[str, str]) -> dict[str, str]:
    """The deployed function's environment on gcp (the endpoint id spares a ListEndpoints)."""
    return {
        "MLOPS_TARGET": "gcp",
        "GCP_PROJECT": PROJECT,
        "GCP_REGION": REGION,
        "MLOPS_ENDPOINT_ID": "4242",
        **kms_env,
    }


def _values() -> dict[str, float | int | None]:
    out: dict[str, float | int | None] = {}
    for i, f in enumerate(FEATURES):
        out[f.name] = (i + 1) if f.bq_type == "INT64" else (i + 0.25)
    out["amount_avg_7d"] = None  # a NULL in BigQuery: absent from the response
    return out


def _feature_response(
    values: dict[str, Any], *, timestamp: bool = True
) -> aiplatform_v1.FetchFeatureValuesResponse:
    pair = aiplatform_v1.FetchFeatureValuesResponse.FeatureNameValuePairList.FeatureNameValuePair
    pairs = []
    for name, value in values.items():
        if value is None:
            continue
        if isinstance(value, int):
            pairs.append(pair(name=name, value=aiplatform_v1.FeatureValue(int64_value=value)))
        else:
            pairs.append(pair(name=name, value=aiplatform_v1.FeatureValue(double_value=value)))
    if timestamp:
        pairs.append(
            pair(
                name="feature_timestamp", value=aiplatform_v1.FeatureValue(int64_value=1_763_800_000_123_456)
            )
        )
    return aiplatform_v1.FetchFeatureValuesResponse(
        key_values=aiplatform_v1.FetchFeatureValuesResponse.FeatureNameValuePairList(features=pairs)
    )


def _response_written_at(seconds: int, **values: float | str) -> aiplatform_v1.FetchFeatureValuesResponse:
    """Features as Vertex answers them with its write time (``generate_time``) on each, and no
    ``feature_timestamp``: numbers as doubles, text as strings."""
    pair = aiplatform_v1.FetchFeatureValuesResponse.FeatureNameValuePairList.FeatureNameValuePair
    written = aiplatform_v1.FeatureValue.Metadata(generate_time=timestamp_pb2.Timestamp(seconds=seconds))
    kinds = {str: "string_value", float: "double_value"}
    return aiplatform_v1.FetchFeatureValuesResponse(
        key_values=aiplatform_v1.FetchFeatureValuesResponse.FeatureNameValuePairList(
            features=[
                pair(
                    name=name,
                    value=aiplatform_v1.FeatureValue(**{kinds[type(value)]: value}, metadata=written),
                )
                for name, value in values.items()
            ]
        )
    )


def _expected_fetch(entity_id: str) -> aiplatform_v1.FetchFeatureValuesRequest:
    return aiplatform_v1.FetchFeatureValuesRequest(
        feature_view=FEATURE_VIEW,
        data_key=aiplatform_v1.FeatureViewDataKey(key=entity_id),
        data_format=aiplatform_v1.FeatureViewDataFormat.KEY_VALUE,
    )


THRESHOLDS = {"3": 0.42, "4": 0.55}


def _predict_response(
    p_fraud: float, deployed_model_id: str = "1001", version: str = "3"
) -> aiplatform_v1.PredictResponse:
    """Vertex's answer around one model server prediction (registry/model_server.py)."""
    threshold = THRESHOLDS[version]
    prediction = {
        "fraud_probability": p_fraud,
        "decision": "fraud" if p_fraud >= threshold else "legitimate",
        "threshold": threshold,
        "model_name": "fraud-detector",
        "model_version": version,
    }
    response = aiplatform_v1.PredictResponse(
        deployed_model_id=deployed_model_id,
        model=MODEL,
        model_version_id=version,
        model_display_name="fraud-detector",
    )
    response.predictions.extend([prediction])  # type: ignore[list-item]
    return response


@pytest.fixture
def kms(tmp_path: Any) -> Iterator[tuple[FakeCloudKms, dict[str, str], Any]]:
    """Cloud KMS (client class mocked), the gcp keyset settings, and the keyset's pseudonym function."""
    fake = FakeCloudKms()
    keyset = fake.gcp_keyset(_local_keys(tmp_path))
    with fake.patched():
        yield fake, fake.env(keyset), local_pseudonymiser(tmp_path / "keys")


def _local_keys(tmp_path: Any) -> Any:
    local_pseudonymiser(tmp_path / "keys")  # creates the keyset the gcp wrapping re-wraps
    return tmp_path / "keys"


@pytest.fixture
def clients(kms: Any) -> Iterator[dict[str, mock.MagicMock]]:
    """Every Google client the serving path could build; only the expected ones may be called."""
    with (
        mock.patch("google.cloud.aiplatform_v1.FeatureOnlineStoreServiceClient") as features,
        mock.patch("google.cloud.aiplatform_v1.FeatureOnlineStoreAdminServiceClient") as feature_admin,
        mock.patch("google.cloud.aiplatform_v1.PredictionServiceClient") as prediction,
        mock.patch("google.cloud.aiplatform_v1.EndpointServiceClient") as endpoints,
        mock.patch("google.cloud.aiplatform_v1.ModelServiceClient") as models,
        mock.patch("google.cloud.storage.Client") as storage,
    ):
        yield {
            "features": features,
            "feature_admin": feature_admin,
            "prediction": prediction,
            "endpoints": endpoints,
            "models": models,
            "storage": storage,
            "kms_env": kms[1],  # type: ignore[dict-item]
            "pseudonymise": kms[2],
        }


def test_vertex_lookup_sends_the_exact_request_and_parses_values(clients: dict[str, mock.MagicMock]) -> None:
    settings = settings_from_env({"MLOPS_TARGET": "gcp", "GCP_PROJECT": PROJECT, "GCP_REGION": REGION})
    client = clients["features"].return_value
    client.fetch_feature_values.return_value = _feature_response(_values())

    row = VertexOnlineStore(settings).fetch_one("abc123")

    clients["features"].assert_called_once_with(client_options=API)
    client.fetch_feature_values.assert_called_once_with(
        request=_expected_fetch("abc123"), retry=ServingRetry(2.0), timeout=2.0
    )
    assert row is not None
    assert row.values == _values()
    assert all(type(row.values[n]) is type(v) for n, v in _values().items() if v is not None)
    assert row.feature_timestamp.isoformat() == "2025-11-22T08:26:40.123456+00:00"
    assert len(row.vector()) == len(FEATURE_NAMES)


def test_vertex_lookup_reads_the_card_state_from_array_values(clients: dict[str, mock.MagicMock]) -> None:
    settings = settings_from_env({"MLOPS_TARGET": "gcp", "GCP_PROJECT": PROJECT, "GCP_REGION": REGION})
    pair = aiplatform_v1.FetchFeatureValuesResponse.FeatureNameValuePairList.FeatureNameValuePair
    response = _feature_response(_values())
    ints, doubles, strings = aiplatform_v1.Int64Array, aiplatform_v1.DoubleArray, aiplatform_v1.StringArray
    response.key_values.features.extend(
        [
            pair(
                name="recent_times", value=aiplatform_v1.FeatureValue(int64_array_value=ints(values=[10, 20]))
            ),
            pair(
                name="recent_amounts",
                value=aiplatform_v1.FeatureValue(double_array_value=doubles(values=[1.5, 2.5])),
            ),
            pair(
                name="merchant_names",
                value=aiplatform_v1.FeatureValue(string_array_value=strings(values=["a", "b"])),
            ),
            pair(
                name="merchant_first_times",
                value=aiplatform_v1.FeatureValue(int64_array_value=ints(values=[10, 20])),
            ),
            pair(
                name="merchant_first_counts",
                value=aiplatform_v1.FeatureValue(int64_array_value=ints(values=[1, 2])),
            ),
        ]
    )  # previous_time absent: BigQuery NULL
    clients["features"].return_value.fetch_feature_values.return_value = response
    row = VertexOnlineStore(settings).fetch_one("abc123")
    assert row is not None and row.state == CardState(
        [10, 20], [1.5, 2.5], None, ["a", "b"], [10, 20], [1, 2]
    )


def test_vertex_lookup_answers_unknown_cards_explicitly(clients: dict[str, mock.MagicMock]) -> None:
    settings = settings_from_env({"MLOPS_TARGET": "gcp", "GCP_PROJECT": PROJECT, "GCP_REGION": REGION})
    client = clients["features"].return_value
    client.fetch_feature_values.side_effect = lambda request, retry, timeout: (
        _feature_response(_values()) if request.data_key.key == "known" else _raise_not_found()
    )
    lookup = VertexOnlineStore(settings).fetch(["known", "nobody", "known"])
    assert set(lookup.found) == {"known"}
    assert lookup.unknown == ("nobody",)
    assert client.fetch_feature_values.call_count == 2
    # NOT_FOUND is also what a missing view answers: the view itself was asked for, once
    clients["feature_admin"].assert_called_once_with(client_options=API)
    clients["feature_admin"].return_value.get_feature_view.assert_called_once_with(
        name=FEATURE_VIEW, retry=ServingRetry(2.0), timeout=2.0
    )


def test_a_vertex_answer_holding_none_of_the_models_features_is_not_scored_as_nans(
    clients: dict[str, mock.MagicMock],
) -> None:
    """A view whose columns are not the model's answers each card with none of its features:
    every one would be a NaN, a real-looking score; it is the store not being ready (503)."""
    settings = settings_from_env({"MLOPS_TARGET": "gcp", "GCP_PROJECT": PROJECT, "GCP_REGION": REGION})
    client = clients["features"].return_value
    client.fetch_feature_values.return_value = _feature_response({"amount_eur": 12.5})  # and its timestamp
    with pytest.raises(
        OnlineStoreNotReady, match=r"none of the model's features, only \['amount_eur', 'feature_timestamp'\]"
    ):
        VertexOnlineStore(settings).fetch_one("abc123")
    # one feature present, the others NULL (absent): a row, NaNs where NULL
    client.fetch_feature_values.return_value = _feature_response({FEATURE_NAMES[0]: 1.0})
    row = VertexOnlineStore(settings).fetch_one("abc123")
    assert row is not None and row.values[FEATURE_NAMES[0]] == 1.0
    assert all(row.values[name] is None for name in FEATURE_NAMES[1:])


def _raise_not_found() -> None:
    raise exceptions.NotFound("entity not found")


def test_vertex_endpoint_client_sends_the_exact_predict_request(clients: dict[str, mock.MagicMock]) -> None:
    clients["prediction"].return_value.predict.return_value = _predict_response(0.61, "1002", "4")
    client = VertexEndpointClient(endpoint=ENDPOINT, region=REGION)
    row = [float(i) for i in range(len(FEATURE_NAMES))]
    row[5] = float("nan")

    answer = client.predict(row)

    expected = aiplatform_v1.PredictRequest(endpoint=ENDPOINT)
    expected.instances.append(
        struct_pb2.Value(
            list_value=struct_pb2.ListValue(
                values=[
                    struct_pb2.Value(null_value=struct_pb2.NULL_VALUE)
                    if i == 5
                    else struct_pb2.Value(number_value=i)
                    for i in range(len(FEATURE_NAMES))
                ]
            )
        )
    )
    clients["prediction"].assert_called_once_with(client_options=API)
    clients["prediction"].return_value.predict.assert_called_once_with(
        request=expected, retry=ServingRetry(5.0), timeout=5.0
    )
    assert (answer.probability, answer.threshold, answer.is_fraud) == (0.61, 0.55, True)
    assert (answer.deployed_model_id, answer.model_name, answer.model_version) == (
        "1002",
        "fraud-detector",
        "4",
    )
    # Provenance came with the answer: no GetEndpoint, no GetModel, no metadata.json read.
    for name in ("endpoints", "models", "storage"):
        assert clients[name].mock_calls == [], name


def test_the_gcp_function_needs_the_endpoint_id(kms: Any) -> None:
    _, env, _ = kms
    with pytest.raises(RuntimeError, match="MLOPS_ENDPOINT_ID"):
        build_service({"MLOPS_TARGET": "gcp", "GCP_PROJECT": PROJECT, "GCP_REGION": REGION, **env})


def test_no_model_on_the_vertex_endpoint_is_a_503(clients: dict[str, mock.MagicMock]) -> None:
    """Vertex's refusal of a predict on an endpoint with nothing deployed (its message)."""
    clients["prediction"].return_value.predict.side_effect = exceptions.FailedPrecondition(
        f"Endpoint {ENDPOINT} doesn't have traffic_split."
    )
    clients["features"].return_value.fetch_feature_values.return_value = _feature_response(_values())
    service = build_service(_function_env(clients["kms_env"]))
    reply = service.handle(json.dumps({"card_number": CARD}).encode(), request_id="r1")
    assert (reply.status, reply.body["error"]) == (503, "no_model_deployed")


def test_the_model_servers_refusal_is_the_models_error_not_an_empty_endpoint(
    clients: dict[str, mock.MagicMock],
) -> None:
    """Vertex answers the container's own 4xx (a version that cannot read the feature list it is
    sent) as FAILED_PRECONDITION too, the container's body as its message: a model_error, which
    the canary's error rules count, not no_model_deployed."""
    clients["prediction"].return_value.predict.side_effect = exceptions.FailedPrecondition(
        '"Prediction failed: instance 0 has 40 values, expected 41"'
    )
    clients["features"].return_value.fetch_feature_values.return_value = _feature_response(_values())
    service = build_service(_function_env(clients["kms_env"]))

    reply = service.handle(json.dumps({"card_number": CARD}).encode(), request_id="r1")

    assert (reply.status, reply.body["error"]) == (500, "model_error")
    assert (
        reply.log_fields["cause"]
        == f'{ENDPOINT}: 400 "Prediction failed: instance 0 has 40 values, expected 41"'
    )


def test_gcp_prediction_end_to_end(clients: dict[str, mock.MagicMock]) -> None:
    clients["features"].return_value.fetch_feature_values.return_value = _feature_response(_values())
    clients["prediction"].return_value.predict.return_value = _predict_response(0.2, "1001")
    service = build_service(_function_env(clients["kms_env"]))

    reply = service.handle(json.dumps({"card_number": "4111 1111 1111 1111"}).encode(), request_id="r2")

    clients["features"].return_value.fetch_feature_values.assert_called_once_with(
        request=_expected_fetch(clients["pseudonymise"](CARD)), retry=ServingRetry(2.0), timeout=2.0
    )
    sent = clients["prediction"].return_value.predict.call_args.kwargs["request"]
    values = list(sent.instances[0])
    assert values == [_values()[n] for n in FEATURE_NAMES]
    assert reply.status == 200, reply.body
    assert reply.body["fraud_probability"] == 0.2
    assert reply.body["decision"] == "legitimate"
    assert reply.body["threshold"] == 0.42
    assert reply.body["model"] == {"name": "fraud-detector", "version": "3", "deployed_model_id": "1001"}
    assert reply.body["features"]["timestamp"] == "2025-11-22T08:26:40.123456Z"
    for name in ("endpoints", "models", "storage"):  # no ListEndpoints, GetModel or bucket read
        assert clients[name].mock_calls == [], name
    clients["prediction"].assert_called_once_with(client_options=API)


def test_timestamps_without_a_timestamp_feature_use_vertex_generate_time(
    clients: dict[str, mock.MagicMock],
) -> None:
    settings = settings_from_env({"MLOPS_TARGET": "gcp", "GCP_PROJECT": PROJECT, "GCP_REGION": REGION})
    clients["features"].return_value.fetch_feature_values.return_value = _response_written_at(
        1_763_800_000, amount=3.5
    )
    row = VertexOnlineStore(settings).fetch_one("abc")
    assert row is not None
    assert row.values["amount"] == 3.5 and row.values["txn_count_1h"] is None
    assert row.feature_timestamp.isoformat() == "2025-11-22T08:26:40+00:00"


def test_a_response_with_no_time_at_all_still_predicts(clients: dict[str, mock.MagicMock]) -> None:
    """No timestamp feature and no write time in the metadata (no Vertex document promises
    either): the prediction is answered, its features' timestamp null; it only informs."""
    response = _feature_response(_values(), timestamp=False)
    clients["features"].return_value.fetch_feature_values.return_value = response
    clients["prediction"].return_value.predict.return_value = _predict_response(0.2, "1001")
    service = build_service(_function_env(clients["kms_env"]))

    reply = service.handle(json.dumps({"card_number": CARD}).encode(), request_id="r1")

    assert reply.status == 200, reply.body
    assert reply.body["features"]["timestamp"] is None
    assert reply.body["fraud_probability"] == 0.2


def test_a_keyset_kms_refuses_to_unwrap_is_a_503(clients: dict[str, mock.MagicMock], kms: Any) -> None:
    fake, env, _ = kms
    fake.decrypt = mock.Mock(
        side_effect=exceptions.PermissionDenied("cloudkms.cryptoKeyVersions.useToDecrypt")
    )
    with fake.patched():
        service = build_service(_function_env(env))
    reply = service.handle(json.dumps({"card_number": CARD}).encode(), request_id="r3")
    assert (reply.status, reply.body["error"]) == (503, "not_configured")
    clients["features"].return_value.fetch_feature_values.assert_not_called()


def _gcp_env(monkeypatch: pytest.MonkeyPatch, kms_env: dict[str, str]) -> None:
    for name, value in _function_env(kms_env).items():
        monkeypatch.setenv(name, value)


def test_preload_on_gcp_calls_no_google_api_before_the_fork(
    clients: dict[str, mock.MagicMock], kms: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """functions-framework imports the function in gunicorn's master, then forks: a gRPC channel
    opened there (KMS Decrypt, Vertex clients) is not safe in the workers."""
    from fraud_mlops.serving import http

    fake, env, _ = kms
    _gcp_env(monkeypatch, env)
    http.reset_service()
    with fake.patched():
        http.preload()
    assert fake.requests == []
    assert http._service is None
    for name in ("features", "prediction", "endpoints", "models", "storage"):
        clients[name].assert_not_called()


def test_a_transient_kms_error_does_not_disable_the_instance(
    clients: dict[str, mock.MagicMock], kms: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A service built while KMS failed (no pseudonyms, 503) is built again after a pause; a
    configured one is kept."""
    from fraud_mlops.serving import http

    fake, env, _ = kms
    _gcp_env(monkeypatch, env)
    answer = fake.decrypt
    calls: list[int] = []

    def unavailable_once(request: Any = None, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) == 1:
            raise exceptions.ServiceUnavailable("the service is currently unavailable")
        return answer(request, **kwargs)

    fake.decrypt = unavailable_once  # type: ignore[method-assign]
    http.reset_service()
    try:
        with fake.patched():
            first = http.service()
            assert first.pseudonymise is None and len(calls) == 1
            assert http.service() is first  # within the pause: no KMS call per request
            assert len(calls) == 1
            monkeypatch.setattr(http, "_RETRY_UNCONFIGURED_SECONDS", 0.0)
            second = http.service()
            assert second is not first and second.pseudonymise is not None and len(calls) == 2
            assert http.service() is second and len(calls) == 2  # a configured service is kept
    finally:
        http.reset_service()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2025-11-22T08:26:40.123456Z", "2025-11-22T08:26:40.123456+00:00"),
        ("2025-11-22 08:26:40.123456 UTC", "2025-11-22T08:26:40.123456+00:00"),  # BigQuery's own text form
        ("2025-11-22 08:26:40", "2025-11-22T08:26:40+00:00"),
        ("not a time", "2025-11-22T08:26:40+00:00"),  # unreadable: Vertex's write time, not a failed lookup
    ],
)
def test_a_text_timestamp_is_read_in_any_form_bigquery_writes(
    clients: dict[str, mock.MagicMock], text: str, expected: str
) -> None:
    settings = settings_from_env({"MLOPS_TARGET": "gcp", "GCP_PROJECT": PROJECT, "GCP_REGION": REGION})
    clients["features"].return_value.fetch_feature_values.return_value = _response_written_at(
        1_763_800_000, amount=3.5, event_time=text
    )
    row = VertexOnlineStore(settings).fetch_one("abc")
    assert row is not None and row.feature_timestamp.isoformat() == expected


def test_a_missing_feature_view_is_a_503_not_an_unknown_card(clients: dict[str, mock.MagicMock]) -> None:
    """A wrong view id, a deleted view or one not created yet answers NOT_FOUND for every key;
    the function used to call every card unknown (404, at INFO) and nothing alerted."""
    clients["features"].return_value.fetch_feature_values.side_effect = exceptions.NotFound(
        "Requested entity was not found."
    )
    clients["feature_admin"].return_value.get_feature_view.side_effect = exceptions.NotFound(
        "Requested entity was not found."
    )
    service = build_service(_function_env(clients["kms_env"]))

    replies = [
        service.handle(json.dumps({"card_number": CARD}).encode(), request_id=f"r{i}") for i in range(2)
    ]

    assert [(r.status, r.body["error"]) for r in replies] == [(503, "feature_store_not_ready")] * 2
    clients["feature_admin"].return_value.get_feature_view.assert_called_once_with(
        name=FEATURE_VIEW, retry=ServingRetry(2.0), timeout=2.0
    )  # once a minute per process, not per request
    clients["prediction"].return_value.predict.assert_not_called()


def test_a_view_deleted_with_its_grant_is_a_503_too(clients: dict[str, mock.MagicMock]) -> None:
    """Recreating the view (docs/least_privilege.md) deletes the inference grant with it, and
    Vertex answers PERMISSION_DENIED "(or it may not exist)" for what the caller may not see."""
    denied = exceptions.PermissionDenied(
        "Permission 'aiplatform.featureViews.fetchFeatureValues' denied on resource (or it may not exist)."
    )
    clients["features"].return_value.fetch_feature_values.side_effect = denied
    service = build_service(_function_env(clients["kms_env"]))
    reply = service.handle(json.dumps({"card_number": CARD}).encode(), request_id="r1")
    assert (reply.status, reply.body["error"]) == (503, "feature_store_not_ready")
    clients["feature_admin"].return_value.get_feature_view.side_effect = denied
    clients["features"].return_value.fetch_feature_values.side_effect = exceptions.NotFound("x")
    reply = service.handle(json.dumps({"card_number": CARD}).encode(), request_id="r2")
    assert (reply.status, reply.body["error"]) == (503, "feature_store_not_ready")


def test_a_view_that_exists_makes_not_found_an_unknown_card(clients: dict[str, mock.MagicMock]) -> None:
    clients["features"].return_value.fetch_feature_values.side_effect = exceptions.NotFound("no such key")
    clients["feature_admin"].return_value.get_feature_view.return_value = aiplatform_v1.FeatureView(
        name=FEATURE_VIEW
    )
    service = build_service(_function_env(clients["kms_env"]))
    reply = service.handle(json.dumps({"card_number": CARD}).encode(), request_id="r1")
    assert (reply.status, reply.body["error"]) == (404, "unknown_card")


@pytest.mark.parametrize(
    ("failing", "error"),
    [
        ("features", exceptions.ServiceUnavailable("connection reset")),
        ("features", exceptions.DeadlineExceeded("deadline")),
        ("prediction", exceptions.ServiceUnavailable("replica restarting")),
        ("prediction", exceptions.RetryError("retries exhausted", exceptions.ServiceUnavailable("x"))),
        ("features", exceptions.ResourceExhausted("online serving node busy")),
        ("prediction", exceptions.TooManyRequests("quota exceeded for online prediction requests")),
    ],
)
def test_a_dependency_that_does_not_answer_in_time_is_a_retryable_503(
    clients: dict[str, mock.MagicMock], failing: str, error: Exception
) -> None:
    clients["features"].return_value.fetch_feature_values.return_value = _feature_response(_values())
    clients["prediction"].return_value.predict.return_value = _predict_response(0.2, "1001")
    method = "fetch_feature_values" if failing == "features" else "predict"
    getattr(clients[failing].return_value, method).side_effect = error
    service = build_service(_function_env(clients["kms_env"]))

    reply = service.handle(json.dumps({"card_number": CARD}).encode(), request_id="r1")

    assert (reply.status, reply.body["error"], reply.headers) == (
        503,
        "dependency_unavailable",
        {"Retry-After": "1"},
    )
    assert type(error).__name__ in reply.log_fields["cause"]


def test_the_serving_retry_tries_again_after_a_503_and_gives_up_at_its_deadline() -> None:
    """The real api-core retry with the policy the calls above carry (the mocked clients only
    receive it): one 503 then an answer succeeds; 503s past the deadline end in RetryError."""
    from fraud_mlops.retries import serving_retry

    calls = []

    def flaky() -> str:
        calls.append(1)
        if len(calls) == 1:
            raise exceptions.ServiceUnavailable("replica restarting")
        return "answer"

    assert serving_retry(2.0)(flaky)() == "answer" and len(calls) == 2

    def down() -> None:
        raise exceptions.ServiceUnavailable("down")

    started = time.monotonic()
    with pytest.raises(exceptions.RetryError):
        serving_retry(1.5)(down)()  # no new try once call_timeout - 1 s have passed
    assert time.monotonic() - started < 1.0
    with pytest.raises(exceptions.TooManyRequests):  # quota: not retried
        serving_retry(2.0)(mock.Mock(side_effect=exceptions.TooManyRequests("quota")))()


def test_an_answer_that_is_not_a_prediction_is_charged_to_the_model_vertex_names(
    clients: dict[str, mock.MagicMock],
) -> None:
    """A deployed model answering something else (another container's labels) fails the call; the
    PredictResponse says which deployed model answered, so the log charges it to that version."""
    clients["features"].return_value.fetch_feature_values.return_value = _feature_response(_values())
    response = aiplatform_v1.PredictResponse(
        deployed_model_id="1003", model=MODEL, model_version_id="4", model_display_name="fraud-detector"
    )
    response.predictions.extend([1.0])  # type: ignore[list-item]  # a label, as a prebuilt image answers
    clients["prediction"].return_value.predict.return_value = response
    service = build_service(_function_env(clients["kms_env"]))

    reply = service.handle(json.dumps({"card_number": CARD}).encode(), request_id="r1")

    assert (reply.status, reply.body["error"]) == (500, "model_error")
    assert {k: reply.log_fields[k] for k in ("model_name", "model_version", "deployed_model_id")} == {
        "model_name": "fraud-detector", "model_version": "4", "deployed_model_id": "1003",
    }  # fmt: skip
    assert "not a model server prediction" in reply.log_fields["cause"]


def test_a_failed_predict_names_no_model_and_is_a_model_error(clients: dict[str, mock.MagicMock]) -> None:
    """Vertex's predict failing with a 500 says nothing of which deployed model the split chose:
    a model_error naming none, which the canary policy counts against the endpoint since the
    canary's deployment (monitoring/canary.py)."""
    clients["features"].return_value.fetch_feature_values.return_value = _feature_response(_values())
    clients["prediction"].return_value.predict.side_effect = exceptions.InternalServerError("model crashed")
    service = build_service(_function_env(clients["kms_env"]))

    reply = service.handle(json.dumps({"card_number": CARD}).encode(), request_id="r1")

    assert (reply.status, reply.body["error"]) == (500, "model_error")
    assert not {"model_name", "model_version", "deployed_model_id"} & set(reply.log_fields)
    assert reply.log_fields["cause"] == f"{ENDPOINT}: 500 model crashed"


@pytest.mark.parametrize(
    "error",
    [
        exceptions.PermissionDenied("aiplatform.endpoints.predict denied"),
        exceptions.NotFound("endpoint 42 not found"),
    ],
)
def test_a_refused_predict_is_not_the_models_failure(
    clients: dict[str, mock.MagicMock], error: Exception
) -> None:
    """A call Vertex refuses (IAM, a wrong endpoint id) is not the model's doing: it stays out of
    the model errors the canary policy counts, and the function answers it as internal_error
    (http.py): no retry of the caller's gets past it. Quota (429) is a 503 (above)."""
    clients["features"].return_value.fetch_feature_values.return_value = _feature_response(_values())
    clients["prediction"].return_value.predict.side_effect = error
    service = build_service(_function_env(clients["kms_env"]))

    with pytest.raises(type(error)):
        service.handle(json.dumps({"card_number": CARD}).encode(), request_id="r1")
