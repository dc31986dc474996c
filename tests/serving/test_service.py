"""The prediction use case in-process, on the real online store, endpoint file and models."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from fraud_mlops.feature_store.local_store import LocalOnlineStore
from fraud_mlops.features import FEATURE_NAMES, request_time_features
from fraud_mlops.registry.endpoint_client import LocalEndpointClient
from fraud_mlops.serving.http import build_service
from fraud_mlops.serving.request import parse_request
from fraud_mlops.serving.service import PredictionService, transaction_vector

from .helpers import ServingWorld, card_numbers


@pytest.fixture
def service(world: ServingWorld) -> Iterator[PredictionService]:
    world.deploy({"1": 100})
    yield build_service(world.env())


def _post(service: PredictionService, body: bytes | str) -> tuple[int, dict]:
    raw = body.encode() if isinstance(body, str) else body
    reply = service.handle(raw, request_id="req-1", content_length=len(raw))
    return reply.status, reply.body


def test_known_card_is_scored_by_the_deployed_model(world: ServingWorld, service: PredictionService) -> None:
    card = world.cards[3]
    status, body = _post(service, f'{{"card_number": "{card[:4]} {card[4:8]} {card[8:12]} {card[12:]}"}}')

    assert status == 200
    expected = world.expected_probability("1", card)
    assert body["fraud_probability"] == round(expected, 6)
    assert body["decision"] == ("fraud" if expected >= 0.35 else "legitimate")
    assert body["threshold"] == 0.35
    assert body["model"] == {
        "name": "fraud-detector",
        "version": "1",
        "deployed_model_id": "fraud-detector-v1",
    }
    assert body["features"]["timestamp"] == world.timestamps[card].isoformat().replace("+00:00", "Z")
    assert body["features"]["sync_id"] == "20261122T000000_serving"
    assert body["request_id"] == "req-1"
    assert card not in str(body)


def test_a_transaction_is_scored_with_its_own_request_time_features(
    world: ServingWorld, service: PredictionService
) -> None:
    card = world.cards[4]
    status, body = _post(
        service,
        f'{{"card_number": "{card}", "amount": 123.5, "merchant": "m_new", "v3": 0.5,'
        ' "transaction_time": "2026-11-22T23:30:00+01:00"}',
    )
    assert status == 200, body
    moment = datetime(2026, 11, 22, 22, 30, tzinfo=UTC)
    card_features = request_time_features(world.states[card], int(moment.timestamp()), 123.5, "m_new")
    values = {
        **{name: None for name in FEATURE_NAMES},
        "amount": 123.5,
        "hour_of_day": 22,  # 23:30 at +01:00 is 22:30 UTC
        "day_of_week": 1,  # Sunday, BigQuery numbering
        "v3": 0.5,
        **card_features,
    }
    assert card_features["is_new_merchant"] == 1 and card_features["txn_count_7d"] >= 1
    row = np.array([np.nan if values[n] is None else float(values[n]) for n in FEATURE_NAMES])  # type: ignore[arg-type]
    expected = world.models["1"].predict_proba(row.reshape(1, -1))[0, 1]
    assert body["fraud_probability"] == round(float(expected), 6)
    assert body["features"]["from_request"] == sorted(FEATURE_NAMES)


def test_half_a_transaction_is_refused(world: ServingWorld, service: PredictionService) -> None:
    status, body = _post(service, f'{{"card_number": "{world.cards[4]}", "amount": 12.5}}')
    assert (status, body["error"]) == (400, "incomplete_transaction")


def test_unknown_card_gets_404_not_a_made_up_score(service: PredictionService) -> None:
    unseen = card_numbers(1, seed=999)[0]
    status, body = _post(service, f'{{"card_number": "{unseen}"}}')
    assert (status, body["error"]) == (404, "unknown_card")
    assert "fraud_probability" not in body


def test_no_model_deployed_is_503(world: ServingWorld, tmp_path: Path) -> None:
    service = PredictionService(
        pseudonymise=world.pseudonymise,
        features=LocalOnlineStore(world.store_path),
        model=LocalEndpointClient(tmp_path / "endpoints" / "fraud-endpoint.json"),
    )
    status, body = _post(service, f'{{"card_number": "{world.cards[0]}"}}')
    assert (status, body["error"]) == (503, "no_model_deployed")


def test_online_store_never_synced_is_503(world: ServingWorld, tmp_path: Path) -> None:
    service = PredictionService(
        pseudonymise=world.pseudonymise,
        features=LocalOnlineStore(tmp_path / "empty.sqlite"),
        model=LocalEndpointClient(world.endpoint_file),
    )
    status, body = _post(service, f'{{"card_number": "{world.cards[0]}"}}')
    assert (status, body["error"]) == (503, "feature_store_not_ready")


def test_missing_keyset_is_503_not_a_wrong_pseudonym(world: ServingWorld) -> None:
    service = build_service({**world.env(), "MLOPS_PSEUDONYM_KMS_KEY": "local-kms://no-such-key"})
    status, body = _post(service, f'{{"card_number": "{world.cards[0]}"}}')
    assert (status, body["error"]) == (503, "not_configured")


def test_compiled_model_path_gives_predict_proba_numbers(world: ServingWorld) -> None:
    client = LocalEndpointClient(world.endpoint_file)
    world.deploy({"2": 100})
    served = client.choose()
    assert served.model.predictor.kind == "compiled_hist_gradient_boosting"
    for card in world.cards:
        answer = client.predict(list(world.rows[card]))
        assert answer.probability == world.expected_probability("2", card)
        assert answer.model_version == "2"
    assert np.isnan(world.rows[world.cards[0]]).any() or any(np.isnan(r).any() for r in world.rows.values())


def test_the_online_store_keeps_the_card_state_exactly(world: ServingWorld) -> None:
    store = LocalOnlineStore(world.store_path)
    for card in world.cards[:10]:
        row = store.fetch_one(world.pseudonymise(card))
        assert row is not None and row.state is not None
        assert row.state == world.states[card]


def test_the_amount_feature_is_the_numeric_training_saw(world: ServingWorld) -> None:
    """Staging keeps a landed amount to 9 places, rounded half away from zero, so training saw
    12.345678902 for a card network's 12.3456789015: serving sends the model that value too."""
    card = world.cards[4]
    row = LocalOnlineStore(world.store_path).fetch_one(world.pseudonymise(card))
    assert row is not None
    request = parse_request(
        f'{{"card_number": "{card}", "amount": 12.3456789015, "merchant": "m1"}}'.encode()
    )
    assert request.transaction is not None
    vector = transaction_vector(row, request.transaction)
    assert vector[FEATURE_NAMES.index("amount")] == 12.345678902


def test_a_model_that_fails_is_named_in_the_log_and_charged_in_the_prediction_log(
    world: ServingWorld, tmp_path: Path
) -> None:
    """A deployed model that cannot score what the server sends (trained on five features, with
    no feature list to refuse it at load) fails the call: a 500 model_error, and the log entry
    and the prediction log's row name the deployed model the split chose, so the canary's
    error-rate rules count the failure against that version (monitoring/canary.py)."""
    import time

    from sklearn.linear_model import LogisticRegression

    from fraud_mlops.registry.artifact import save_model
    from fraud_mlops.serving.prediction_logging import _online_row

    x = np.random.default_rng(0).normal(size=(200, 5))
    estimator = LogisticRegression().fit(x, (x[:, 0] > 0).astype(int))
    save_model(estimator, tmp_path / "v9", {"threshold": 0.5, "model_type": "logistic_regression"})
    world.model_dirs["9"], world.thresholds["9"] = tmp_path / "v9", 0.5
    world.deploy({"9": 100})
    service = build_service(world.env())

    reply = service.handle(f'{{"card_number": "{world.cards[0]}"}}'.encode(), request_id="req-9")

    assert (reply.status, reply.body["error"]) == (500, "model_error")
    assert "fraud_probability" not in reply.body and world.cards[0] not in str(reply.body)
    assert {k: reply.log_fields[k] for k in ("model_name", "model_version", "deployed_model_id")} == {
        "model_name": "fraud-detector", "model_version": "9", "deployed_model_id": "fraud-detector-v9",
    }  # fmt: skip
    assert "features" in reply.log_fields["cause"]  # scikit-learn: X has 41 features, ... expecting 5
    row = _online_row(reply, "req-9", 0.004, time.time())
    assert (row["status"], row["error"], row["model_version"], row["deployed_model_id"], row["score"]) == (
        500, "model_error", "9", "fraud-detector-v9", None,
    )  # fmt: skip


def test_a_canary_that_cannot_be_loaded_fails_its_share_and_the_champion_serves_the_rest(
    world: ServingWorld, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An artifact the server refuses at load (trained on other features) fails the calls the
    split sends it, named, as a Vertex replica that cannot serve fails its share; it does not
    take the champion's traffic down with it. Mended in place, it is loaded again (after
    RELOAD_FAILED_AFTER_SECONDS, here 0) without a change to the endpoint file."""
    from fraud_mlops.registry import endpoint_client

    monkeypatch.setattr(endpoint_client, "RELOAD_FAILED_AFTER_SECONDS", 0.0)
    from sklearn.linear_model import LogisticRegression

    from fraud_mlops.registry.artifact import save_model

    from .helpers import feature_rows, labels, train_model

    x = np.nan_to_num(feature_rows(300, seed=1))
    save_model(LogisticRegression(max_iter=1000).fit(x, labels(x, 1)), tmp_path / "v9",
               {"threshold": 0.5, "feature_names": ["a", "b"]})  # fmt: skip
    world.model_dirs["9"], world.thresholds["9"] = tmp_path / "v9", 0.5
    world.deploy({"1": 50, "9": 50})
    service = build_service(world.env())

    replies = [
        service.handle(f'{{"card_number": "{world.cards[i % 10]}"}}'.encode(), request_id=f"r{i}")
        for i in range(40)
    ]

    answered = [r for r in replies if r.status == 200]
    failed = [r for r in replies if r.status != 200]
    assert answered and failed  # 2^-40 that the split sends all forty one way
    assert {r.body["model"]["version"] for r in answered} == {"1"}
    assert {(r.status, r.body["error"], r.log_fields["model_version"]) for r in failed} == {
        (500, "model_error", "9")
    }
    assert all("cannot be loaded" in r.log_fields["cause"] for r in failed)

    train_model(tmp_path / "v9", seed=9, threshold=0.5)  # the artifact mended in place
    mended = [
        service.handle(f'{{"card_number": "{world.cards[i % 10]}"}}'.encode(), request_id=f"m{i}")
        for i in range(40)
    ]
    assert {r.status for r in mended} == {200}
    assert {r.body["model"]["version"] for r in mended} == {"1", "9"}
