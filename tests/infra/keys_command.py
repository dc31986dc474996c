"""Run the container stacks' key step (``python -m devtools.stack keys``) as they run it.

Shared by the compose and Astro tests: the command runs for real, in a fresh process whose only
project settings are the ones the container gives it, and the keyset it leaves must be the one
the ingestion SQL and the prediction function read.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from fraud_mlops import targets
from fraud_mlops.pseudonym import local_kms_dir, wrapped_keyset
from fraud_mlops.settings import REPO_ROOT, settings_from_env

KEYS_COMMAND = "python -m devtools.stack keys"


def run_keys_command(local_dir: Path) -> dict[str, bytes]:
    """Run the step twice on ``local_dir``; return the files it left (the second run changes none)."""
    env = {
        "PATH": os.environ["PATH"],
        "MLOPS_LOCAL_DIR": str(local_dir),
        "PYTHONPATH": os.pathsep.join([str(REPO_ROOT / "plugins"), str(REPO_ROOT)]),
    }
    command = [sys.executable, *KEYS_COMMAND.split()[1:]]
    snapshots = []
    for _ in range(2):
        done = subprocess.run(command, env=env, cwd=REPO_ROOT, capture_output=True, text=True, check=False)
        assert done.returncode == 0, done.stderr
        assert str(local_kms_dir(local_dir)) in done.stdout
        snapshots.append({p.name: p.read_bytes() for p in sorted(local_kms_dir(local_dir).iterdir())})
    assert snapshots[0] == snapshots[1], "a second start replaced the keyset: every pseudonym would change"
    settings = settings_from_env({"MLOPS_LOCAL_DIR": str(local_dir)})
    assert wrapped_keyset(settings).kms_key_uri == settings.pseudonym_kms_key_uri
    pseudonym = targets.pseudonymiser(settings)("4111111111111111")
    assert len(pseudonym) == 64 and pseudonym != "4111111111111111"
    return snapshots[0]
