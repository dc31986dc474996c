"""The training dataset: read a snapshot, split it by event time, turn it into arrays.

Fraud patterns drift and cards repeat, so a random split would let the model see the future of
the very cards it is tested on and overstate every metric. The split here is temporal: the
oldest rows train, the next ones validate (early stopping, threshold choice), the newest test.

A snapshot is named by a URI: ``bq://project.dataset.table`` on Google Cloud (read through the
BigQuery Storage Read API) or a path to the local snapshot's immutable Parquet file, which is
read with DuckDB in memory so the warehouse file's one-writer lock is never touched.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from fraud_mlops.features import EVENT_TIME, FEATURE_NAMES, LABEL, TRANSACTION_ID

BQ_SCHEME = "bq://"
SNAPSHOT_COLUMNS: tuple[str, ...] = (TRANSACTION_ID, EVENT_TIME, *FEATURE_NAMES, LABEL)


@dataclass(frozen=True)
class Splits:
    train: pd.DataFrame
    validation: pd.DataFrame
    test: pd.DataFrame

    def summary(self) -> dict[str, Any]:
        """Sizes, fraud counts and time ranges: logged and stored with the dataset artifacts."""
        out: dict[str, Any] = {}
        for name, frame in (("train", self.train), ("validation", self.validation), ("test", self.test)):
            out[name] = {
                "rows": len(frame),
                "frauds": int(frame[LABEL].sum()),
                "start": str(frame[EVENT_TIME].min()),
                "end": str(frame[EVENT_TIME].max()),
            }
        return out


def read_snapshot(uri: str, bigquery_read_client: Any = None) -> pd.DataFrame:
    """The snapshot's rows with :data:`SNAPSHOT_COLUMNS`, in event-time order."""
    if uri.startswith(BQ_SCHEME):
        table = read_bigquery_table(uri, bigquery_read_client)
    else:
        table = read_parquet_with_duckdb(Path(uri.removeprefix("file://")))
    frame = table.to_pandas()
    missing = [c for c in SNAPSHOT_COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"snapshot {uri} lacks columns {missing}")
    return sort_by_time(frame[list(SNAPSHOT_COLUMNS)])


def read_parquet_with_duckdb(path: Path) -> pa.Table:
    import duckdb

    if not path.is_file():
        raise FileNotFoundError(f"local snapshot {path} does not exist")
    with duckdb.connect() as con:
        con.execute("SET TimeZone='UTC'")
        columns = ", ".join(f'"{c}"' for c in SNAPSHOT_COLUMNS)
        return con.sql(f"SELECT {columns} FROM read_parquet(?)", params=[str(path)]).to_arrow_table()


def bigquery_table_path(uri: str) -> tuple[str, str]:
    """``bq://p.d.t`` → (``projects/p``, ``projects/p/datasets/d/tables/t``) for the Read API."""
    parts = uri.removeprefix(BQ_SCHEME).split(".")
    if len(parts) != 3 or not all(parts):
        raise ValueError(f"expected bq://project.dataset.table, got {uri!r}")
    project, dataset, table = parts
    return f"projects/{project}", f"projects/{project}/datasets/{dataset}/tables/{table}"


def read_bigquery_table(uri: str, client: Any = None) -> pa.Table:
    """Read the whole snapshot as Arrow through the Storage Read API, one stream.

    One stream keeps the rows' order irrelevant (we sort anyway) and the code simple; the
    snapshot is a training set (millions of rows at most), which one stream reads in seconds.
    """
    from google.cloud import bigquery_storage
    from google.cloud.bigquery_storage_v1 import types

    parent, table_path = bigquery_table_path(uri)
    client = client or bigquery_storage.BigQueryReadClient()
    session = client.create_read_session(
        parent=parent,
        read_session=types.ReadSession(
            table=table_path,
            data_format=types.DataFormat.ARROW,
            read_options=types.ReadSession.TableReadOptions(selected_fields=list(SNAPSHOT_COLUMNS)),
        ),
        max_stream_count=1,
    )
    if not session.streams:  # an empty table has no streams
        raise ValueError(f"snapshot {uri} is empty")
    return client.read_rows(session.streams[0].name).to_arrow(session)


def sort_by_time(frame: pd.DataFrame) -> pd.DataFrame:
    """Event time, then transaction id: a total order, so splits are reproducible."""
    return frame.sort_values([EVENT_TIME, TRANSACTION_ID], kind="stable").reset_index(drop=True)


def split_by_time(frame: pd.DataFrame, validation_fraction: float, test_fraction: float) -> Splits:
    """Oldest rows train, then validation, newest test; a timestamp never straddles two splits.

    Cut points are row quantiles moved forward to the next change of ``event_time``, so two
    transactions at the same instant always land in the same split.
    """
    if not (
        0 < validation_fraction < 1 and 0 < test_fraction < 1 and validation_fraction + test_fraction < 1
    ):
        raise ValueError("validation and test fractions must be in (0, 1) and sum to less than 1")
    ordered = sort_by_time(frame)
    times = ordered[EVENT_TIME].to_numpy()
    n = len(ordered)
    train_end = _boundary(times, round(n * (1 - validation_fraction - test_fraction)))
    validation_end = _boundary(times, max(train_end, round(n * (1 - test_fraction))))
    splits = Splits(
        train=ordered.iloc[:train_end].reset_index(drop=True),
        validation=ordered.iloc[train_end:validation_end].reset_index(drop=True),
        test=ordered.iloc[validation_end:].reset_index(drop=True),
    )
    for name, part in (("train", splits.train), ("validation", splits.validation), ("test", splits.test)):
        if part.empty or part[LABEL].nunique() < 2:
            raise ValueError(
                f"the {name} split has {len(part)} rows and {int(part[LABEL].sum()) if len(part) else 0} "
                "frauds: a snapshot needs both classes in every time slice to train and evaluate"
            )
    return splits


def _boundary(times: np.ndarray, index: int) -> int:
    """First index ≥ ``index`` where the timestamp differs from the previous row's."""
    index = min(max(index, 1), len(times))
    while index < len(times) and times[index] == times[index - 1]:
        index += 1
    return index


def feature_matrix(frame: pd.DataFrame) -> np.ndarray:
    """Float array in :data:`FEATURE_NAMES` order with NaN for missing: what serving sends too."""
    return frame.loc[:, list(FEATURE_NAMES)].astype("float64").to_numpy(na_value=np.nan)


def labels(frame: pd.DataFrame) -> np.ndarray:
    return frame[LABEL].astype("int64").to_numpy()
