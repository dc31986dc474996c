# mypy: disable-error-code="valid-type,call-arg,name-match"
# (KFP reads the functional NamedTuple in the signature from the source; mypy cannot type it.)
"""Component: snapshot → train / validation / test ``Dataset`` artifacts (Parquet), split by time."""

from typing import NamedTuple

from kfp.dsl import Dataset, Output

from include.pipelines.components._runtime import DATA, fraud_component


@fraud_component(packages=(*DATA, "duckdb", "google-cloud-bigquery-storage"))
def build_dataset(
    snapshot_uri: str,
    validation_fraction: float,
    test_fraction: float,
    train: Output[Dataset],
    validation: Output[Dataset],
    test: Output[Dataset],
) -> NamedTuple("DatasetOutputs", train_rows=int, test_rows=int, summary_json=str):
    """Read the snapshot (BigQuery Storage Read API or local Parquet via DuckDB); split by event time."""
    import json
    from collections import namedtuple
    from pathlib import Path

    from fraud_mlops.training.steps import build_dataset_step

    summary = build_dataset_step(
        snapshot_uri,
        validation_fraction,
        test_fraction,
        Path(train.path),
        Path(validation.path),
        Path(test.path),
    )
    for artifact, name in ((train, "train"), (validation, "validation"), (test, "test")):
        artifact.metadata.update({"format": "parquet", "snapshot_uri": snapshot_uri, **summary[name]})
    outputs = namedtuple("DatasetOutputs", ["train_rows", "test_rows", "summary_json"])
    return outputs(summary["train"]["rows"], summary["test"]["rows"], json.dumps(summary, sort_keys=True))
