"""Where ``include/`` lives, in both deployment layouts.

In this repository (local stack, docker-compose, Astro) ``include/`` sits beside ``plugins/``.
Composer has no ``include/`` folder, so the deploy ships it as ``dags/include/`` (ignored by the
DAG processor through ``dags/.airflowignore``); both layouts resolve here.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

_BASE = Path(__file__).resolve().parents[2]


@lru_cache(maxsize=1)
def include_dir() -> Path:
    override = os.environ.get("MLOPS_INCLUDE_DIR")
    candidates = [Path(override)] if override else []
    candidates += [_BASE / "include", _BASE / "dags" / "include"]
    for candidate in candidates:
        if (candidate / "sql").is_dir():
            return candidate
    raise FileNotFoundError(f"include/ not found; looked in {[str(c) for c in candidates]}")


def sql_dir() -> Path:
    return include_dir() / "sql"


def pipelines_dir() -> Path:
    return include_dir() / "pipelines"
