"""Writing generated batches: the landing CSV and, separately, the oracle file.

The oracle (true fraud probability per transaction) never goes into the landing file: it is
what the model is judged against, not something the pipeline may see.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
from tqdm import tqdm

from devtools.generator.synth import GeneratedBatch

_CHUNK = 50_000


def oracle_path_for(landing_path: Path) -> Path:
    return landing_path.with_name(landing_path.stem + ".oracle.parquet")


def write_landing_csv(landing: pd.DataFrame, path: Path, show_progress: bool = True) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    table = pa.Table.from_pandas(landing, preserve_index=False)
    options = pa_csv.WriteOptions(include_header=True, quoting_style="needed")
    tmp = path.with_suffix(path.suffix + ".partial")
    with (
        pa_csv.CSVWriter(tmp, table.schema, write_options=options) as writer,
        tqdm(total=table.num_rows, unit="rows", desc=f"write {path.name}", disable=not show_progress) as bar,
    ):
        for batch in table.to_batches(max_chunksize=_CHUNK):
            writer.write_batch(batch)
            bar.update(batch.num_rows)
    tmp.replace(path)
    return path


def write_batch(batch: GeneratedBatch, path: Path, show_progress: bool = True) -> tuple[Path, Path]:
    """Write ``path`` (landing CSV) and ``<stem>.oracle.parquet`` beside it."""
    write_landing_csv(batch.landing, path, show_progress)
    oracle = oracle_path_for(path)
    pq.write_table(pa.Table.from_pandas(batch.oracle, preserve_index=False), oracle)
    return path, oracle
