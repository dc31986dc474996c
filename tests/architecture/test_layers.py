"""The architecture as the build enforces it (docs/architecture.md).

``lint-imports`` checks the contracts declared in ``pyproject.toml``; these tests show it keeps
them on the repository and breaks on a copy where one import crosses a line. A grep-level test
keeps every local/gcp decision in the two modules allowed to make it.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from fraud_mlops.settings import REPO_ROOT

LINT_IMPORTS = str(Path(sys.executable).with_name("lint-imports"))
COPIED = ("dags", "plugins", "include", "devtools", "pyproject.toml")
#: The only modules that may ask which target is active (docs/architecture.md, "Seams").
TARGET_DECISIONS = {"plugins/fraud_mlops/settings.py", "plugins/fraud_mlops/targets.py"}
TARGET_TEST = re.compile(r"\bis_local\b|\btarget\s*[!=]=\s*['\"](local|gcp)['\"]")


def lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(root / "plugins"), str(root)])}
    return subprocess.run(
        [LINT_IMPORTS, "--no-cache"], cwd=root, env=env, capture_output=True, text=True, timeout=300
    )


def copy_of_the_repository(tmp_path: Path) -> Path:
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in COPIED:
        source = REPO_ROOT / name
        if source.is_dir():
            shutil.copytree(source, tmp_path / name, ignore=ignore)
        else:
            shutil.copy(source, tmp_path / name)
    return tmp_path


def test_the_repository_keeps_every_contract() -> None:
    result = lint_imports(REPO_ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 kept, 0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "line", "broken"),
    [
        # a DAG file reaching into the harness, which is never deployed
        ("dags/fraud_ingest_daily.py", "import devtools.stack.config", "never imports the local harness"),
        # a lower layer importing a higher one
        ("plugins/fraud_mlops/settings.py", "import fraud_mlops.targets", "Layers"),
        # one domain package importing another (they are independent)
        ("plugins/fraud_mlops/serving/batch.py", "import fraud_mlops.training.train", "Layers"),
        # an adapter choosing its own target's sibling through the selector
        ("plugins/fraud_mlops/warehouse/duckdb.py", "import fraud_mlops.targets", "Layers"),
    ],
)
def test_an_import_across_a_line_breaks_the_build(
    tmp_path: Path, module: str, line: str, broken: str
) -> None:
    root = copy_of_the_repository(tmp_path)
    path = root / module
    path.write_text(path.read_text() + f"\n{line}  # noqa\n")
    result = lint_imports(root)
    assert result.returncode == 1, result.stdout
    broken_section = result.stdout.split("Broken contracts", 1)[-1]
    assert broken in broken_section, result.stdout
    assert line.removeprefix("import ") in broken_section


def test_only_settings_and_targets_decide_by_target() -> None:
    deciding = {
        path.relative_to(REPO_ROOT).as_posix()
        for folder in ("plugins", "dags")
        for path in (REPO_ROOT / folder).rglob("*.py")
        if TARGET_TEST.search(path.read_text())
    }
    assert deciding == TARGET_DECISIONS
