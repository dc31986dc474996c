"""Assemble the prediction function's deployable source: functions/predict plus fraud_mlops.

Cloud Functions builds a folder: its ``main.py``, its ``requirements.txt`` and whatever it
imports. The function shares the pseudonymisation, the feature definition and the online
lookup with the DAGs, so the bundle carries a copy of the ``fraud_mlops`` package next to
``main.py`` (the function's folder stays free of copies; locally, ``plugins/`` is on the path).
OpenTofu zips the result (``infra/.build/predict-function``, var.function_source_dir).
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from fraud_mlops.settings import REPO_ROOT

FUNCTION_DIR = REPO_ROOT / "functions" / "predict"
PACKAGE_DIR = REPO_ROOT / "plugins" / "fraud_mlops"
BUNDLE_DIR = REPO_ROOT / "infra" / ".build" / "predict-function"
_IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache", "tests", ".DS_Store")


class BundleError(RuntimeError):
    """The function folder cannot be deployed as it is."""


def bundle(
    out_dir: Path = BUNDLE_DIR, function_dir: Path = FUNCTION_DIR, package_dir: Path = PACKAGE_DIR
) -> list[str]:
    """Write the bundle afresh; return its files (relative, sorted)."""
    for required in ("main.py", "requirements.txt"):
        if not (function_dir / required).is_file():
            raise BundleError(f"{function_dir / required} is missing")
    if (function_dir / package_dir.name).exists():
        raise BundleError(f"{function_dir} already has a {package_dir.name}/: the bundle adds it")
    if out_dir.exists():
        shutil.rmtree(out_dir)
    shutil.copytree(function_dir, out_dir, ignore=_IGNORED)
    shutil.copytree(package_dir, out_dir / package_dir.name, ignore=_IGNORED)
    return sorted(p.relative_to(out_dir).as_posix() for p in out_dir.rglob("*") if p.is_file())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.bundle_function", description=__doc__)
    parser.add_argument("--out", type=Path, default=BUNDLE_DIR, help="bundle folder (replaced)")
    args = parser.parse_args(argv)
    files = bundle(args.out)
    print(f"{args.out}: {len(files)} files (functions/predict + fraud_mlops)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
