"""Component ``build_dataset``: a time-ordered split of the snapshot into train, validation, test."""

from __future__ import annotations

import json

import pandas as pd

from fraud_mlops.features import EVENT_TIME


def test_splits_by_time_and_records_row_counts(trained: dict) -> None:
    out, splits = trained["dataset"], trained["splits"]
    assert out.train_rows + json.loads(out.summary_json)["validation"]["rows"] + out.test_rows == 4000
    train, test = pd.read_parquet(splits["train"].path), pd.read_parquet(splits["test"].path)
    assert train[EVENT_TIME].max() < test[EVENT_TIME].min()
    assert splits["test"].metadata["rows"] == out.test_rows and splits["test"].metadata["format"] == "parquet"
