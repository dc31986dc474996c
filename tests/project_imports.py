"""The project modules a project module imports, read from its source: at the top or inside a
function (task and step code imports lazily), absolute imports only (the package uses no
relative ones). For the checks that code running outside the venv (the pipeline's embedded
archive, the model server image) carries every project module it needs."""

from __future__ import annotations

import ast

from fraud_mlops.settings import REPO_ROOT

PLUGINS = REPO_ROOT / "plugins"


def module_file(name: str) -> str | None:
    """``fraud_mlops/x/y.py`` or ``fraud_mlops/x/y/__init__.py`` for ``fraud_mlops.x.y``; None
    when the name is no module (an attribute imported from one)."""
    stem = name.replace(".", "/")
    return next((f for f in (f"{stem}.py", f"{stem}/__init__.py") if (PLUGINS / f).is_file()), None)


def imported_files(relative: str) -> set[str]:
    """The project module files ``plugins/<relative>`` imports directly."""
    found: set[str] = set()
    for node in ast.walk(ast.parse((PLUGINS / relative).read_text())):
        names: list[str] = []
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        found |= {f for name in names if name.startswith("fraud_mlops") and (f := module_file(name))}
    return found


def import_closure(relative: str) -> set[str]:
    """``relative`` and every project module file it needs to import, transitively, with the
    ``__init__.py`` of each package on the way."""
    seen: set[str] = set()
    todo = [relative]
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        parts = current.split("/")
        todo += [f"{'/'.join(parts[:i])}/__init__.py" for i in range(1, len(parts))]
        todo += imported_files(current)
    return seen
