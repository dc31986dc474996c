"""Snapshot reading (local Parquet via DuckDB; BigQuery Storage Read API at its client) and the time split."""

from __future__ import annotations

from unittest import mock

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from google.cloud.bigquery_storage_v1 import BigQueryReadClient, types

from fraud_mlops.features import EVENT_TIME, FEATURE_NAMES, LABEL, TRANSACTION_ID
from fraud_mlops.training import dataset


def test_split_is_by_event_time_and_keeps_instants_together(examples: pd.DataFrame) -> None:
    frame = examples.sample(frac=1.0, random_state=3)  # shuffled input: the split must re-order
    frame.loc[frame.index[:50], EVENT_TIME] = frame[EVENT_TIME].iloc[0]  # a burst at one instant
    splits = dataset.split_by_time(frame, validation_fraction=0.15, test_fraction=0.15)

    assert len(splits.train) + len(splits.validation) + len(splits.test) == len(frame)
    assert splits.train[EVENT_TIME].max() < splits.validation[EVENT_TIME].min()
    assert splits.validation[EVENT_TIME].max() < splits.test[EVENT_TIME].min()
    assert len(splits.test) == pytest.approx(0.15 * len(frame), abs=60)
    assert splits.train[EVENT_TIME].is_monotonic_increasing
    ids = (
        set(splits.train[TRANSACTION_ID])
        | set(splits.validation[TRANSACTION_ID])
        | set(splits.test[TRANSACTION_ID])
    )
    assert ids == set(frame[TRANSACTION_ID])


def test_split_refuses_a_slice_without_fraud(examples: pd.DataFrame) -> None:
    frame = examples.copy()
    frame.loc[frame.index[-700:], LABEL] = 0  # the newest rows carry no fraud at all
    with pytest.raises(ValueError, match="test split"):
        dataset.split_by_time(frame, 0.15, 0.15)


@pytest.mark.parametrize(("validation", "test"), [(0, 0.2), (0.5, 0.5), (0.2, 1.2)])
def test_split_rejects_impossible_fractions(examples: pd.DataFrame, validation: float, test: float) -> None:
    with pytest.raises(ValueError, match="fractions"):
        dataset.split_by_time(examples, validation, test)


def test_read_local_snapshot_orders_rows_and_keeps_nulls(snapshot_writer, examples: pd.DataFrame) -> None:
    path = snapshot_writer("training_snapshot_20260901T000000_0badc0de", examples.iloc[::-1])
    frame = dataset.read_snapshot(str(path))
    assert list(frame.columns) == list(dataset.SNAPSHOT_COLUMNS)
    assert frame[EVENT_TIME].is_monotonic_increasing
    assert len(frame) == len(examples)
    matrix = dataset.feature_matrix(frame)
    assert matrix.shape == (len(examples), len(FEATURE_NAMES)) and matrix.dtype == np.float64
    assert np.isnan(matrix[:, FEATURE_NAMES.index("seconds_since_prev_txn")]).sum() == (
        examples["seconds_since_prev_txn"].isna().sum()
    )


def test_read_local_snapshot_names_missing_columns(snapshot_writer, examples: pd.DataFrame) -> None:
    path = snapshot_writer("training_snapshot_x", examples.drop(columns=["v14"]))
    with pytest.raises(Exception, match="v14"):
        dataset.read_snapshot(str(path))


def test_bigquery_snapshot_is_read_through_the_storage_read_api(examples: pd.DataFrame) -> None:
    client = mock.create_autospec(BigQueryReadClient, instance=True)
    session = types.ReadSession(
        name="projects/p/locations/eu/sessions/s1", streams=[types.ReadStream(name="s1/0")]
    )
    client.create_read_session.return_value = session
    table = pa.Table.from_pandas(examples[list(dataset.SNAPSHOT_COLUMNS)].iloc[::-1], preserve_index=False)
    client.read_rows.return_value.to_arrow.return_value = table

    frame = dataset.read_snapshot(
        "bq://fraud-prj.fraud_snapshots.training_snapshot_20260901T000000_abcd1234", client
    )

    client.create_read_session.assert_called_once_with(
        parent="projects/fraud-prj",
        read_session=types.ReadSession(
            table="projects/fraud-prj/datasets/fraud_snapshots/tables/training_snapshot_20260901T000000_abcd1234",
            data_format=types.DataFormat.ARROW,
            read_options=types.ReadSession.TableReadOptions(selected_fields=list(dataset.SNAPSHOT_COLUMNS)),
        ),
        max_stream_count=1,
    )
    client.read_rows.assert_called_once_with("s1/0")
    client.read_rows.return_value.to_arrow.assert_called_once_with(session)
    assert frame[EVENT_TIME].is_monotonic_increasing and len(frame) == len(examples)


def test_bigquery_uri_must_name_project_dataset_and_table() -> None:
    with pytest.raises(ValueError, match=r"bq://project\.dataset\.table"):
        dataset.bigquery_table_path("bq://fraud.training_snapshot")
