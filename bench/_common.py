"""Shared helpers of the benchmark scripts: import paths, a table printer, the full-refresh baseline."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

REPO_ROOT = Path(__file__).resolve().parents[1]
for path in (REPO_ROOT / "plugins", REPO_ROOT):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

if TYPE_CHECKING:
    from fraud_mlops.settings import Settings


def table(rows: list[tuple], header: tuple) -> str:
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows, strict=True)]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    lines = [fmt.format(*header), fmt.format(*("-" * w for w in widths))]
    lines += [fmt.format(*map(str, row)) for row in rows]
    return "\n".join(lines)


def full_refresh_steps(source: Path, target: Path, settings: Settings) -> list[tuple[str, float, float]]:
    """The full-refresh SQL (tests/reference/full_refresh/) over a copy of ``source``'s raw rows
    in ``target``: wall and CPU seconds per step file (the copy is not timed)."""
    from fraud_mlops.pseudonym import local_kek_resolver
    from fraud_mlops.warehouse.hook import BigQueryDialectDuckDBHook
    from tests.reference.full_refresh_sql import REFERENCE_STEPS, copy_raw, reference_sql

    copy_raw(source, target, settings.raw_dataset)
    hook = BigQueryDialectDuckDBHook(
        database=str(target),
        snapshot_dir=settings.snapshot_dir,
        kek_resolver=local_kek_resolver(settings.local_dir),
    )
    steps = []
    for step, sql in zip(REFERENCE_STEPS, reference_sql(settings), strict=True):
        t0, c0 = time.perf_counter(), time.process_time()
        hook.run(sql)
        steps.append((step, time.perf_counter() - t0, time.process_time() - c0))
    return steps
