"""The prediction function's deployable bundle: its own folder plus a copy of fraud_mlops."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from scripts.bundle_function import BundleError, bundle

from . import iac


def _function(root: Path) -> Path:
    function = root / "functions" / "predict"
    function.mkdir(parents=True)
    (function / "main.py").write_text(
        "from fraud_mlops.pseudonym import luhn_complete\n\ndef predict(request):\n    return 'ok'\n"
    )
    (function / "requirements.txt").write_text("functions-framework==3.10.2\n")
    (function / "__pycache__").mkdir()
    (function / "__pycache__" / "main.cpython-311.pyc").write_bytes(b"x")
    return function


def test_bundle_holds_the_function_and_the_package(tmp_path: Path) -> None:
    from fraud_mlops.settings import REPO_ROOT

    out = tmp_path / "bundle"
    (out / "stale.txt").parent.mkdir(parents=True)
    (out / "stale.txt").write_text("from an earlier bundle")
    files = bundle(out, _function(tmp_path), REPO_ROOT / "plugins" / "fraud_mlops")

    assert {"main.py", "requirements.txt", "fraud_mlops/pseudonym.py", "fraud_mlops/paths.py"} <= set(files)
    assert "stale.txt" not in files
    assert not [f for f in files if "__pycache__" in f or f.endswith(".pyc")]
    # The bundle imports on its own, the way Cloud Functions loads it (source root on sys.path).
    probe = "import main; print(main.luhn_complete('4111111111111'))"
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=out, env={"PATH": ""}, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "41111111111114"


def test_bundle_refuses_a_function_without_its_requirements(tmp_path: Path) -> None:
    function = _function(tmp_path)
    (function / "requirements.txt").unlink()
    with pytest.raises(BundleError, match=r"requirements\.txt"):
        bundle(tmp_path / "out", function, tmp_path)


def test_bundle_goes_where_opentofu_zips_it() -> None:
    from scripts.bundle_function import BUNDLE_DIR

    default = iac.blocks("variable", iac.INFRA)["function_source_dir"]["default"]
    assert (iac.INFRA / default).resolve() == BUNDLE_DIR.resolve()
    ignored = (iac.INFRA / ".gitignore").read_text().splitlines()
    assert ".build/" in ignored
