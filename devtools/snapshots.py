"""Local training snapshots for the CLI and the demo: the newest file, and a "worse data" copy.

The demo's second training run must show the gate keeping the champion. The worse data is a
copy of a real snapshot whose labels are shuffled in its training and validation period (the
newest 15 %, the test period, keeps its true labels): the challenger learns nothing, is scored
on true labels next to the champion, and loses on both the absolute bars and the comparison.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

from fraud_mlops.settings import Settings


def degraded_snapshot(settings: Settings, source: str, test_fraction: float = 0.15, seed: int = 0) -> str:
    """Write a new local snapshot from ``source`` with shuffled history labels; return its name.

    Its name sorts after every existing snapshot, so "newest snapshot" runs pick it too.
    """
    import pandas as pd

    from fraud_mlops.features import LABEL
    from fraud_mlops.training.dataset import sort_by_time

    frame = sort_by_time(pd.read_parquet(settings.snapshot_dir / f"{source}.parquet"))
    history = frame.index[: int(len(frame) * (1 - test_fraction))]
    frame.loc[history, LABEL] = frame.loc[history, LABEL].sample(frac=1.0, random_state=seed).to_numpy()
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    name = f"training_snapshot_{stamp}_{hashlib.sha1(f'degraded:{source}'.encode()).hexdigest()[:8]}"
    path = settings.snapshot_dir / f"{name}.parquet"
    frame.to_parquet(path, index=False)
    path.chmod(0o444)  # snapshots are immutable, like the warehouse's own
    return name


def newest_local_snapshot(settings: Settings) -> str:
    """Name of the newest local snapshot file: the last written (each is written once).

    Unlike the DAG's choice (the newest ``snapshot_lineage`` row), this also finds snapshots
    the demo wrote by hand, such as :func:`degraded_snapshot`'s. Not by name: a name's stamp is
    its run's time, and a run cleared after a newer run published takes its second snapshot
    (``_2``) with the newest rows under an older stamp.
    """
    paths = list(settings.snapshot_dir.glob("training_snapshot_*.parquet"))
    if not paths:
        raise FileNotFoundError(f"no training snapshot in {settings.snapshot_dir}; run the ingestion first")
    return max(paths, key=lambda p: (p.stat().st_mtime_ns, p.stem)).stem
