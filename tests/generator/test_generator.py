"""The synthetic data generator: shape, determinism, valid cards, a known and honest oracle."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from devtools.generator.kaggle import KAGGLE_COLUMNS, from_kaggle
from devtools.generator.synth import GeneratorConfig, card_numbers, generate
from fraud_mlops.landing_schema import LANDING_COLUMNS
from fraud_mlops.pseudonym import luhn_valid
from fraud_mlops.settings import REPO_ROOT


@pytest.fixture(scope="module")
def batch():
    return generate(GeneratorConfig(rows=60_000, fraud_rate=0.01, seed=3))


def test_landing_has_exactly_the_contract_columns_and_no_oracle(batch):
    assert list(batch.landing.columns) == list(LANDING_COLUMNS)
    assert "oracle_probability" not in batch.landing.columns
    assert list(batch.oracle.columns) == ["transaction_id", "oracle_probability"]
    assert (batch.oracle["transaction_id"] == batch.landing["transaction_id"]).all()


def test_same_seed_same_data_other_seed_other_data():
    a = generate(GeneratorConfig(rows=2_000, seed=1))
    b = generate(GeneratorConfig(rows=2_000, seed=1))
    c = generate(GeneratorConfig(rows=2_000, seed=2))
    pd.testing.assert_frame_equal(a.landing, b.landing)
    assert not set(a.landing["transaction_id"]) & set(c.landing["transaction_id"])


def test_card_numbers_pass_luhn_and_a_corrupted_digit_fails():
    numbers = card_numbers(np.random.default_rng(0), 5_000)
    assert all(len(n) == 16 and luhn_valid(n) for n in numbers)
    corrupted = [n[:-1] + str((int(n[-1]) + 1) % 10) for n in numbers[:200]]
    assert not any(luhn_valid(n) for n in corrupted)


def test_fraud_rate_and_oracle_are_consistent(batch):
    labels = batch.landing["class"].to_numpy()
    oracle = batch.oracle["oracle_probability"].to_numpy()
    assert 0.007 < labels.mean() < 0.013
    assert abs(oracle.mean() - labels.mean()) < 0.003  # calibrated: expected frauds match observed
    assert roc_auc_score(labels, oracle) > 0.95  # the oracle knows the generative model


def test_kaggle_rate_by_default_and_timestamps_in_the_past():
    b = generate(GeneratorConfig(rows=50_000, seed=8))
    assert 0.0008 < b.landing["class"].mean() < 0.0030
    times = pd.to_datetime(b.landing["event_time"], utc=True)
    assert times.min() >= pd.Timestamp("2026-10-01", tz="UTC") and times.max() < pd.Timestamp(
        "2026-10-31", tz="UTC"
    )
    assert times.is_monotonic_increasing


def test_fraud_signals_are_visible_in_the_data(batch):
    df = batch.landing
    hour = pd.to_datetime(df["event_time"]).dt.hour
    night = hour < 6
    assert df.loc[night, "class"].mean() > 2 * df.loc[~night, "class"].mean()
    assert df.loc[df["class"] == 1, "v14"].mean() < -0.8 < df.loc[df["class"] == 0, "v14"].mean() + 0.5


def test_from_kaggle_maps_into_the_landing_schema(tmp_path):
    rng = np.random.default_rng(1)
    n = 500
    kaggle = pd.DataFrame({c: rng.normal(size=n) for c in KAGGLE_COLUMNS})
    kaggle["Time"] = np.sort(rng.integers(0, 172_800, n)).astype(float)
    kaggle["Amount"] = rng.uniform(0, 100, n).round(2)
    kaggle["Class"] = (rng.random(n) < 0.01).astype(int)
    path = tmp_path / "creditcard.csv"
    kaggle.to_csv(path, index=False)
    mapped = from_kaggle(path)
    assert list(mapped.columns) == list(LANDING_COLUMNS) and len(mapped) == n
    assert (mapped["v14"].to_numpy() == kaggle["V14"].to_numpy()).all()
    assert mapped["class"].sum() == kaggle["Class"].sum()
    assert all(luhn_valid(c) for c in mapped["card_number"])
    with pytest.raises(ValueError, match="missing columns"):
        bad = tmp_path / "bad.csv"
        kaggle.drop(columns=["V3"]).to_csv(bad, index=False)
        from_kaggle(bad)


def test_cli_generate_writes_landing_and_separate_oracle(tmp_path):
    out = tmp_path / "t.csv"
    proc = subprocess.run(
        [sys.executable, "-m", "devtools.generator", "generate", "--rows", "3000", "--out", str(out)],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=300,
        env={"PYTHONPATH": str(REPO_ROOT / "plugins"), "PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "3,000 rows" in proc.stdout and "rows/s" in proc.stdout
    landing = pd.read_csv(out)
    oracle = pd.read_parquet(tmp_path / "t.oracle.parquet")
    assert list(landing.columns) == list(LANDING_COLUMNS) and len(oracle) == 3000
