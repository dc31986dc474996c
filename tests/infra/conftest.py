"""Fixtures of the infra tests: a miniature repository (the GCS emulator is tests/conftest.py's)."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def mini_repo(tmp_path: Path) -> Path:
    """The folders the deploy ships, with the kinds of files that must and must not go."""
    files = {
        "dags/fraud_ingest_daily.py": "# dag\n",
        "dags/.airflowignore": "/include/\n",
        "dags/__pycache__/fraud_ingest_daily.cpython-311.pyc": "bytecode",
        "plugins/.airflowignore": "fraud_mlops/\n",
        "plugins/fraud_mlops/__init__.py": "",
        "plugins/fraud_mlops/paths.py": "# paths\n",
        "plugins/fraud_mlops/__pycache__/paths.cpython-311.pyc": "bytecode",
        "include/sql/00_setup.sql": "SELECT 1;\n",
        "include/pipelines/fraud_training.py": "# pipeline\n",
        "include/pipelines/fraud_training.yaml": "pipelineInfo: {}\n",
        "include/pipelines/.DS_Store": "junk",
        "tests/test_something.py": "# not shipped\n",
        "infra/main.tf": "# not shipped\n",
    }
    for relative, content in files.items():
        path = tmp_path / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
    return tmp_path
