"""A small but real serving world: an online store, trained models and a local endpoint file."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from fraud_mlops import targets
from fraud_mlops.feature_store.local_store import LocalOnlineStore
from fraud_mlops.feature_store.records import SyncRecord, micros_from_utc
from fraud_mlops.features import FEATURE_NAMES, FEATURES, STATE_COLUMNS, CardState
from fraud_mlops.pseudonym import ensure_local_keys, luhn_complete
from fraud_mlops.registry.local_endpoint import DeployedModel, EndpointState, endpoint_path, write_endpoint


def local_pseudonymiser(local_dir: Path) -> Any:
    """The local keyset of ``local_dir`` (created once), as the function unwraps it."""
    from fraud_mlops.settings import settings_from_env

    ensure_local_keys(local_dir)
    return targets.pseudonymiser(
        settings_from_env({"MLOPS_TARGET": "local", "MLOPS_LOCAL_DIR": str(local_dir)})
    )


def card_numbers(n: int, seed: int = 3) -> list[str]:
    rng = random.Random(seed)
    return [luhn_complete("4" + "".join(str(rng.randrange(10)) for _ in range(14))) for _ in range(n)]


def feature_rows(n: int, seed: int = 5) -> np.ndarray:
    """Feature matrix in FEATURE_NAMES order; ints where the definition says INT64, some NaN."""
    rng = np.random.default_rng(seed)
    x = rng.normal(0, 1, (n, len(FEATURE_NAMES)))
    for j, f in enumerate(FEATURES):
        if f.bq_type == "INT64":
            x[:, j] = np.abs(np.round(x[:, j] * 5))
        elif f.name.startswith("amount"):
            x[:, j] = np.abs(x[:, j]) * 80
    x[rng.random(x.shape) < 0.05] = np.nan
    return x


def labels(x: np.ndarray, seed: int = 6) -> np.ndarray:
    rng = np.random.default_rng(seed)
    score = np.nan_to_num(x[:, 0]) / 80 + np.nan_to_num(x[:, 3]) + rng.normal(0, 1, len(x))
    return (score > 1.5).astype(int)


def train_model(model_dir: Path, seed: int, threshold: float) -> Any:
    """A small gradient-boosted model saved in training's artifact layout."""
    from sklearn.ensemble import HistGradientBoostingClassifier
    from threadpoolctl import threadpool_limits

    from fraud_mlops.registry.artifact import save_model

    x = feature_rows(3000, seed=seed)
    with threadpool_limits(1):  # OpenMP threads spinning on a busy 2-core box cost 10x
        estimator = HistGradientBoostingClassifier(max_iter=30, random_state=seed).fit(x, labels(x, seed))
    save_model(estimator, model_dir, {"threshold": threshold, "model_type": "hist_gradient_boosting"})
    return estimator


@dataclass
class ServingWorld:
    local_dir: Path
    cards: list[str]
    rows: dict[str, np.ndarray]  # card number -> stored features
    timestamps: dict[str, datetime]
    states: dict[str, CardState]  # card number -> stored serving state
    models: dict[str, Any]  # version -> estimator
    model_dirs: dict[str, Path]
    thresholds: dict[str, float]
    _expected: dict[tuple[str, str], float] = field(default_factory=dict)

    def pseudonymise(self, card: str) -> str:
        return str(local_pseudonymiser(self.local_dir)(card))

    @property
    def endpoint_file(self) -> Path:
        return endpoint_path(self.local_dir)

    @property
    def store_path(self) -> Path:
        return self.local_dir / "online_store" / "features.sqlite"

    def env(self) -> dict[str, str]:
        return {
            "MLOPS_TARGET": "local",
            "MLOPS_LOCAL_DIR": str(self.local_dir),
        }

    def deploy(self, split: dict[str, int]) -> EndpointState:
        """Point the endpoint at model versions with the given traffic percents."""
        state = EndpointState(
            endpoint_name="fraud-endpoint",
            updated_at="",
            deployed_models=tuple(
                DeployedModel(
                    deployed_model_id=f"fraud-detector-v{version}",
                    model_name="fraud-detector",
                    model_version=version,
                    artifact_uri=str(self.model_dirs[version]),
                    traffic_percent=percent,
                    threshold=self.thresholds[version],
                )
                for version, percent in split.items()
            ),
        )
        return write_endpoint(self.endpoint_file, state)

    def expected_probability(self, version: str, card: str) -> float:
        """The model's own ``predict_proba`` for the card's stored features (cached)."""
        key = (version, card)
        if key not in self._expected:
            row = self.rows[card].reshape(1, -1)
            self._expected[key] = float(self.models[version].predict_proba(row)[0, 1])
        return self._expected[key]


def card_state_for(i: int, latest: datetime) -> CardState:
    """A small, plausible history for card ``i``: a few recent transactions and merchants."""
    end = int(latest.timestamp())
    times = [end - 86400 * 3, end - 7200, end - 1800, end][: 1 + i % 4]
    times.sort()
    return CardState(
        recent_times=times,
        recent_amounts=[10.0 + 5 * k + i for k in range(len(times))],
        previous_time=end - 86400 * 30 if i % 3 == 0 else None,
        merchant_names=["m_home", f"m_{i % 5}"],
        merchant_first_times=[times[0], times[-1]],
        merchant_first_counts=[1, 1],
    )


def card_state_columns(state: CardState) -> list[Any]:
    """The store's state columns (STATE_COLUMNS order) for ``state``."""
    return [
        getattr(state, name) if name == "previous_time" else list(getattr(state, name))
        for name, _ in STATE_COLUMNS
    ]


def build_world(local_dir: Path, n_cards: int = 50) -> ServingWorld:
    cards = card_numbers(n_cards)
    matrix = feature_rows(n_cards, seed=11)
    start = datetime(2026, 11, 1, tzinfo=UTC)
    pseudonymise = local_pseudonymiser(local_dir)
    timestamps = {card: start + timedelta(minutes=7 * i, microseconds=i) for i, card in enumerate(cards)}
    store_rows = []
    for i, card in enumerate(cards):
        values = [
            None if np.isnan(v) else (int(v) if f.bq_type == "INT64" else float(v))
            for v, f in zip(matrix[i], FEATURES, strict=True)
        ]
        store_rows.append(
            (
                pseudonymise(card),
                micros_from_utc(timestamps[card]),
                *values,
                *card_state_columns(card_state_for(i, timestamps[card])),
            )
        )
    store = LocalOnlineStore(local_dir / "online_store" / "features.sqlite")
    store.publish(
        [sorted(store_rows)],
        SyncRecord(
            sync_id="20261122T000000_serving",
            synced_at="2026-11-22T00:00:00+00:00",
            row_count=0,
            source="test",
            source_snapshot="training_snapshot_test",
            target="local",
        ),
    )
    thresholds = {"1": 0.35, "2": 0.6}
    model_dirs = {v: local_dir / "registry" / "fraud-detector" / v for v in thresholds}
    models = {v: train_model(model_dirs[v], seed=int(v), threshold=t) for v, t in thresholds.items()}
    world = ServingWorld(
        local_dir=local_dir,
        cards=cards,
        rows={card: matrix[i] for i, card in enumerate(cards)},
        timestamps=timestamps,
        states={card: card_state_for(i, timestamps[card]) for i, card in enumerate(cards)},
        models=models,
        model_dirs=model_dirs,
        thresholds=thresholds,
    )
    world.deploy({"1": 100})
    return world


def write_latest_features_warehouse(world: ServingWorld, warehouse: Path, schema: str = "fraud") -> None:
    """A DuckDB warehouse whose ``latest_card_features`` view holds the world's cards."""
    from fraud_mlops.features import ENTITY_KEY, EVENT_TIME
    from tests.latest_features import write_latest_features_view

    rows = [
        {
            ENTITY_KEY: world.pseudonymise(card),
            EVENT_TIME: world.timestamps[card],
            **{f.name: None if np.isnan(v) else v for f, v in zip(FEATURES, world.rows[card], strict=True)},
        }
        for card in world.cards
    ]
    write_latest_features_view(warehouse, rows, schema)


class ServingRetry:
    """Equal to the ``Retry`` a prediction's Google call with ``timeout=call_timeout`` must carry
    (api-core's ``Retry`` has no equality): ``503 UNAVAILABLE`` retried, nothing else, and no new
    try once ``call_timeout - 1`` s have passed (fraud_mlops/retries.py says why)."""

    def __init__(self, call_timeout: float) -> None:
        self.call_timeout = call_timeout

    def __eq__(self, other: object) -> bool:
        from google.api_core import exceptions
        from google.api_core.retry import Retry

        return (
            isinstance(other, Retry)
            and other._predicate(exceptions.ServiceUnavailable("x"))
            and not any(
                other._predicate(exc("x"))
                for exc in (exceptions.TooManyRequests, exceptions.InternalServerError, exceptions.NotFound)
            )
            and other._timeout == self.call_timeout - 1.0
            and other._maximum <= 0.5
        )

    def __repr__(self) -> str:
        return f"ServingRetry(call_timeout={self.call_timeout})"
