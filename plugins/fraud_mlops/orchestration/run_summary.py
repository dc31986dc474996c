"""What a run did, in numbers: the summary the DAG logs and ``make demo`` prints."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fraud_mlops import targets
from fraud_mlops.features import FEATURES_TABLE
from fraud_mlops.settings import Settings
from fraud_mlops.sql_templates import render_sql

if TYPE_CHECKING:
    from fraud_mlops.warehouse.base import Warehouse

#: The columns of 70_summary_counts.sql, in its order.
QUERIED_COUNTS = (
    "raw_rows", "rejected_rows", "training_rows", "cards", "files_loaded", "duplicate_landings",
)  # fmt: skip
#: Counts taken from table metadata: these tables require a partition filter (00_setup.sql).
METADATA_COUNTS = {"staging_rows": "stg_transactions", "feature_rows": FEATURES_TABLE}
COUNT_COLUMNS = (
    "raw_rows", "staging_rows", "rejected_rows", "feature_rows", "training_rows", "cards",
    "files_loaded", "duplicate_landings",
)  # fmt: skip
LINEAGE_COLUMNS = (
    "snapshot_name", "source_table", "row_count", "fraud_count", "source_files", "dag_id", "run_id",
    "created_at", "expires_at",
)  # fmt: skip


#: Source files a snapshot's XCom and summary name; ``snapshot_lineage`` keeps all of them. The
#: training table holds every file ever loaded, so the full list grows with history, and it was
#: pushed to XCom three times a run (the snapshot task's outputs and the summary).
SOURCE_FILES_SHOWN = 20


def bounded_source_files(row: dict[str, Any]) -> dict[str, Any]:
    """``row`` with at most :data:`SOURCE_FILES_SHOWN` source files, and their total count."""
    files = list(row["source_files"] or [])
    return {**row, "source_files": files[:SOURCE_FILES_SHOWN], "source_file_count": len(files)}


def each_moved_once(quarantined: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The first quarantine entry of each file moved (by where it went), in order: a cleared
    run's validation lists what its earlier attempt's loads refused, and those loads' XComs still
    hold the same entries (a task's XComs go when it runs again); a retried validation finds its
    own moves again among the run's."""
    first: dict[str, dict[str, Any]] = {}
    for q in quarantined:
        first.setdefault(q["moved_to"], q)
    return list(first.values())


def snapshot_lineage_row(settings: Settings, name: str) -> dict[str, Any]:
    row = find_snapshot_lineage_row(settings, name)
    if row is None:
        raise LookupError(f"no lineage row for snapshot {name}")
    return row


def find_snapshot_lineage_row(settings: Settings, name: str) -> dict[str, Any] | None:
    """The lineage row of snapshot ``name``; None when the run took no snapshot (nothing new)."""
    rows = targets.warehouse(settings).records(
        render_sql("72_snapshot_lineage_row.sql", settings), {"snapshot_name": name}
    )
    if not rows:
        return None
    row = bounded_source_files(dict(zip(LINEAGE_COLUMNS, rows[0], strict=True)))
    for key in ("created_at", "expires_at"):
        row[key] = str(row[key])
    return row


def layer_counts(warehouse: Warehouse, settings: Settings) -> dict[str, int]:
    """Rows per layer, in :data:`COUNT_COLUMNS` order: one query (70) and two metadata reads."""
    queried = warehouse.records(render_sql("70_summary_counts.sql", settings))[0]
    counts = {k: int(v) for k, v in zip(QUERIED_COUNTS, queried, strict=True)}
    counts.update({k: warehouse.row_count(table) for k, table in METADATA_COUNTS.items()})
    return {k: counts[k] for k in COUNT_COLUMNS}


def run_summary(settings: Settings, dag_run: Any, snapshot: str | None) -> dict[str, Any]:
    """What the run did; ``snapshot`` is the one its plan named (``None``: it planned none)."""
    warehouse = targets.warehouse(settings)
    rejects = warehouse.records(render_sql("71_summary_rejects.sql", settings))
    return {
        "dag_id": dag_run.dag_id,
        "run_id": dag_run.run_id,
        "target": settings.target,
        "counts": layer_counts(warehouse, settings),
        "rejects_by_reason": {str(reason): int(n) for reason, n in rejects},
        # none when the run had nothing new to transform (its snapshot step was skipped)
        "snapshot": find_snapshot_lineage_row(settings, snapshot) if snapshot else None,
    }


def format_summary(summary: dict[str, Any]) -> str:
    counts = summary["counts"]
    lines = [
        f"Run {summary['run_id']} ({summary['dag_id']}, target {summary['target']})",
        f"  files loaded (all time): {counts['files_loaded']}   duplicate landings skipped: {counts['duplicate_landings']}",
        f"  raw {counts['raw_rows']:>10,}  → staging {counts['staging_rows']:>10,}  + rejected {counts['rejected_rows']:,}",
        f"  card_features {counts['feature_rows']:>10,}  training_examples {counts['training_rows']:>10,}"
        f"  cards {counts['cards']:,}",
    ]
    if summary["rejects_by_reason"]:
        lines.append("  rejects: " + ", ".join(f"{r}={n}" for r, n in summary["rejects_by_reason"].items()))
    for q in summary.get("quarantined_files") or []:
        lines.append(f"  QUARANTINED {q['file']}: {q['reason']} ({q['detail']})")
    snap = summary["snapshot"]
    if snap is None:
        lines.append("  nothing new to transform: no snapshot, no training scheduled")
    else:
        frauds = snap["fraud_count"]  # None: another run published while the snapshot was taken
        lines.append(
            f"  snapshot {snap['snapshot_name']}: {snap['row_count']:,} rows, "
            f"{'unknown' if frauds is None else f'{frauds:,}'} fraud, expires {snap['expires_at']}"
        )
        more = snap.get("source_file_count", len(snap["source_files"])) - len(snap["source_files"])
        shown = f"{snap['source_files']}" + (
            f" and {more:,} more (all in snapshot_lineage)" if more > 0 else ""
        )
        lines.append(f"  lineage: files {shown} ← run {snap['run_id']}")
    sync = summary.get("feature_sync")
    if sync:
        from fraud_mlops.feature_store.records import SyncRecord

        lines.append("  " + SyncRecord.from_dict(sync).summary())
    return "\n".join(lines)
