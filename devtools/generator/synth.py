"""Synthetic card transactions with an explicit, known fraud model.

Why a generative model instead of random labels: model quality is only meaningful against
the best possible. Every row's true fraud probability (the *oracle*) is known here and
written to a separate file, never into the landing file, so the training bench can report
PR-AUC as a fraction of the oracle's.

The fraud model (all vectorised with numpy; >100k rows/s):

* cards have a typical spend (log-normal), a handful of home merchants and an activity level;
* ordinary transactions pick a home merchant most of the time, at daytime-heavy hours;
* compromised cards show *bursts*: several transactions minutes apart, at new merchants,
  with unusually high amounts, often at night;
* ``logit P(fraud) = b0 + night + amount surprise + new merchant + burst`` with ``b0``
  solved so the mean probability equals the requested rate;
* the anonymised components ``v1..v28`` are standard normal, shifted for fraud rows in a
  few components (like the Kaggle data's V14/V17/V12). The oracle is the exact posterior
  given everything the generator knows (the logit plus the components' likelihood ratio).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from fraud_mlops.features import V_COMPONENTS
from fraud_mlops.landing_schema import LANDING_COLUMNS

KAGGLE_FRAUD_RATE = 0.0017
DEMO_FRAUD_RATE = 0.01

CATEGORIES = (
    "grocery", "fuel", "restaurant", "online_retail", "travel", "electronics",
    "pharmacy", "entertainment", "utilities", "jewelry", "gaming", "cash_advance",
)  # fmt: skip

# Fraud shifts of the anonymised components (the rest carry no signal, as in Kaggle's data).
V_SHIFTS: dict[str, float] = {"v4": 1.0, "v10": -0.9, "v11": 0.8, "v12": -1.1, "v14": -1.3, "v17": -1.2}

# Hour-of-day profile of ordinary spending (relative weights, UTC).
_HOUR_WEIGHTS = np.array(
    [0.6, 0.4, 0.3, 0.3, 0.4, 0.7, 1.5, 3.0, 4.5, 5.0, 5.5, 6.0,
     6.5, 6.0, 5.5, 5.5, 6.0, 6.5, 6.5, 6.0, 5.0, 3.5, 2.0, 1.0]
)  # fmt: skip


@dataclass(frozen=True)
class GeneratorConfig:
    rows: int = 300_000
    fraud_rate: float = KAGGLE_FRAUD_RATE
    seed: int = 42
    start: datetime = datetime(2026, 10, 1, tzinfo=UTC)
    days: int = 30
    rows_per_card: int = 25
    merchants: int = 800
    burst_share: float = 0.012  # share of rows that belong to compromise bursts
    weights: dict[str, float] = field(
        default_factory=lambda: {"night": 1.2, "amount": 0.6, "new_merchant": 1.0, "burst": 3.2}
    )


@dataclass(frozen=True)
class GeneratedBatch:
    landing: pd.DataFrame  # exactly LANDING_COLUMNS
    oracle: pd.DataFrame  # transaction_id, oracle_probability


_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)


def _hex_ids(rng: np.random.Generator, n: int) -> pa.Array:
    """``n`` random 128-bit ids as 32 hex characters, without a Python loop."""
    raw = rng.integers(0, 256, size=(n, 16), dtype=np.uint8)
    text = np.empty((n, 32), dtype=np.uint8)
    text[:, 0::2] = _HEX[raw >> 4]
    text[:, 1::2] = _HEX[raw & 15]
    return pa.array(text.view("S32").ravel()).cast(pa.string())


def luhn_check_digits(body: np.ndarray) -> np.ndarray:
    """Check digit for each row of ``body`` (digits, most significant first)."""
    reversed_digits = body[:, ::-1]
    doubled = reversed_digits.copy()
    doubled[:, 0::2] *= 2  # the digit next to the check digit is doubled
    doubled = np.where(doubled > 9, doubled - 9, doubled)
    return (10 - doubled.sum(axis=1) % 10) % 10


def card_numbers(rng: np.random.Generator, n: int) -> np.ndarray:
    """``n`` distinct-looking 16-digit Visa/Mastercard numbers that pass the Luhn check."""
    body = rng.integers(0, 10, size=(n, 15))
    is_visa = rng.random(n) < 0.6
    body[:, 0] = np.where(is_visa, 4, 5)
    body[:, 1] = np.where(is_visa, body[:, 1], rng.integers(1, 6, size=n))
    digits = np.concatenate([body, luhn_check_digits(body)[:, None]], axis=1)
    as_bytes = (digits + ord("0")).astype(np.uint8)
    return as_bytes.view("S16").ravel().astype(str)


def merchant_names(seed: int, n: int) -> np.ndarray:
    from faker import Faker  # imported lazily: a few hundred names, not per row

    fake = Faker()
    fake.seed_instance(seed)
    names = {fake.company() for _ in range(n * 2)}
    return np.array(sorted(names)[:n])


def _solve_intercept(logit_wo_intercept: np.ndarray, target: float) -> float:
    lo, hi = -30.0, 10.0
    for _ in range(60):
        mid = (lo + hi) / 2
        if (1 / (1 + np.exp(-(logit_wo_intercept + mid)))).mean() < target:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def generate(config: GeneratorConfig, progress: Callable[[str], None] | None = None) -> GeneratedBatch:
    """Generate one batch; deterministic for a given config."""
    step = progress or (lambda _msg: None)
    rng = np.random.default_rng(config.seed)
    n = config.rows
    span = config.days * 86_400

    step("cards")
    n_cards = max(10, n // config.rows_per_card)
    cards = card_numbers(rng, n_cards)
    card_mu = rng.normal(3.4, 0.8, n_cards)  # log of typical amount (~30 currency units)
    activity = rng.lognormal(0.0, 0.6, n_cards)
    activity /= activity.sum()
    homes_per_card = 6
    home_merchants = rng.zipf(1.3, size=(n_cards, homes_per_card)) % config.merchants
    merchants = merchant_names(config.seed, config.merchants)
    merchant_category = rng.integers(0, len(CATEGORIES), config.merchants)

    step("transactions")
    n_burst = int(n * config.burst_share)
    n_plain = n - n_burst
    card_idx = rng.choice(n_cards, size=n_plain, p=activity)
    day = rng.integers(0, config.days, n_plain)
    hour = rng.choice(24, size=n_plain, p=_HOUR_WEIGHTS / _HOUR_WEIGHTS.sum())
    seconds = day * 86_400 + hour * 3600 + rng.integers(0, 3600, n_plain)
    at_home = rng.random(n_plain) < 0.9
    merchant_idx = np.where(
        at_home,
        home_merchants[card_idx, rng.integers(0, homes_per_card, n_plain)],
        rng.integers(0, config.merchants, n_plain),
    )
    log_amount = card_mu[card_idx] + rng.normal(0, 0.5, n_plain)

    step("bursts")
    burst_len = 5
    n_episodes = max(1, -(-n_burst // burst_len))  # ceil: the last episode may be cut short
    ep_card = rng.choice(n_cards, size=n_episodes, p=activity)
    ep_start = rng.integers(0, span - 3600, n_episodes)
    night_start = rng.random(n_episodes) < 0.5  # half the episodes start at night
    ep_start = np.where(
        night_start, (ep_start // 86_400) * 86_400 + rng.integers(0, 5 * 3600, n_episodes), ep_start
    )
    b_card = np.repeat(ep_card, burst_len)[:n_burst]
    b_offsets = rng.exponential(120, size=(n_episodes, burst_len)).cumsum(axis=1).ravel()[:n_burst]
    b_seconds = np.repeat(ep_start, burst_len)[:n_burst] + b_offsets.astype(np.int64)
    b_merchant = rng.integers(0, config.merchants, n_burst)
    b_log_amount = card_mu[b_card] + 1.3 + rng.normal(0, 0.7, n_burst)

    card_idx = np.concatenate([card_idx, b_card])
    seconds = np.minimum(np.concatenate([seconds, b_seconds]), span - 1)
    merchant_idx = np.concatenate([merchant_idx, b_merchant])
    log_amount = np.concatenate([log_amount, b_log_amount])
    burst = np.concatenate([np.zeros(n_plain), np.ones(n_burst)])
    amount = np.clip(np.round(np.exp(log_amount), 2), 0.01, 25_000)

    step("labels")
    hour_of_day = (seconds // 3600) % 24
    night = (hour_of_day < 6).astype(float)
    amount_surprise = np.clip((np.log(amount) - card_mu[card_idx]) / 0.5, -3, 6)
    new_merchant = (home_merchants[card_idx] != merchant_idx[:, None]).all(axis=1).astype(float)
    w = config.weights
    logit = w["night"] * night + w["amount"] * amount_surprise + w["new_merchant"] * new_merchant
    logit = logit + w["burst"] * burst
    logit += _solve_intercept(logit, config.fraud_rate)
    p = 1 / (1 + np.exp(-logit))
    label = (rng.random(n) < p).astype(np.int64)

    v = rng.normal(0.0, 1.0, size=(n, len(V_COMPONENTS)))
    posterior_logit = logit.copy()
    for j, name in enumerate(V_COMPONENTS):
        shift = V_SHIFTS.get(name, 0.0)
        if shift:
            v[:, j] += label * shift
            posterior_logit += shift * v[:, j] - shift**2 / 2
    oracle = 1 / (1 + np.exp(-posterior_logit))

    step("assemble")
    # Built column by column in Arrow, already in event-time order: string-heavy pandas
    # construction and a row shuffle would cost more than all the sampling above.
    order = np.argsort(seconds, kind="stable")
    seconds = seconds[order]
    tx_ids = _hex_ids(rng, n)
    start_s = int(config.start.timestamp())
    timestamps = pa.array(start_s + seconds.astype(np.int64), type=pa.timestamp("s", tz="UTC"))
    columns: dict[str, pa.Array] = {
        "transaction_id": tx_ids,
        "event_time": pc.strftime(timestamps, format="%Y-%m-%d %H:%M:%S"),
        "card_number": pa.array(cards).take(pa.array(card_idx[order])),
        "merchant": pa.array(merchants).take(pa.array(merchant_idx[order])),
        "merchant_category": pa.array(CATEGORIES).take(pa.array(merchant_category[merchant_idx[order]])),
        "time": pa.array(seconds.astype(np.float64)),
    }
    for j, name in enumerate(V_COMPONENTS):
        columns[name] = pa.array(np.round(v[order, j], 6))
    columns["amount"] = pa.array(amount[order])
    columns["class"] = pa.array(label[order])
    landing = pa.table({c: columns[c] for c in LANDING_COLUMNS}).to_pandas()
    oracle_df = pa.table(
        {"transaction_id": tx_ids, "oracle_probability": pa.array(oracle[order])}
    ).to_pandas()
    return GeneratedBatch(landing=landing, oracle=oracle_df)
