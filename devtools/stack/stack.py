"""Start, check and stop the local stack: GCS emulator, Pub/Sub emulator and Airflow 3.

``python -m devtools.stack up|down|status|keys``. Every process binds to 127.0.0.1 on a
configurable or free port (except the log servers Airflow's scheduler and triggerer start:
Airflow binds them to every interface, and they answer only requests signed with the stack's
JWT secret), runs in its own session (so stopping it also stops the task
processes it forked) and is stopped by the PID recorded in ``<local dir>/stack.json``.
Health is polled, never slept for.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devtools.stack.config import (
    HOST,
    POOLS,
    StackPorts,
    airflow_env,
    choose_ports,
    load_or_create_secrets,
    service_env,
)
from fraud_mlops.settings import Settings, get_settings

AIRFLOW_COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer")
BIN = Path(sys.executable).parent


@dataclass
class StackState:
    ports: StackPorts
    pids: dict[str, int]
    local_dir: str

    @classmethod
    def path(cls, settings: Settings) -> Path:
        return settings.local_dir / "stack.json"

    @classmethod
    def load(cls, settings: Settings) -> StackState | None:
        path = cls.path(settings)
        if not path.exists():
            return None
        raw = json.loads(path.read_text())
        return cls(ports=StackPorts(**raw["ports"]), pids=raw["pids"], local_dir=raw["local_dir"])

    def save(self, settings: Settings) -> None:
        path = self.path(settings)
        path.parent.mkdir(parents=True, exist_ok=True)
        data = {"ports": self.ports.as_dict(), "pids": self.pids, "local_dir": self.local_dir}
        path.write_text(json.dumps(data, indent=2))

    @property
    def api_url(self) -> str:
        return f"http://{HOST}:{self.ports.airflow}"


def pubsub_emulator_host(settings: Settings) -> str | None:
    """``host:port`` of the local Pub/Sub emulator, or None when the stack runs without it."""
    if os.environ.get("PUBSUB_EMULATOR_HOST"):
        return os.environ["PUBSUB_EMULATOR_HOST"]
    state = StackState.load(settings)
    if state is None or "pubsub-emulator" not in state.pids:
        return None
    return f"{HOST}:{state.ports.pubsub}"


def gcs_emulator_url(settings: Settings) -> str | None:
    """``http://host:port`` of the running stack's GCS emulator (the scheme is required)."""
    state = StackState.load(settings)
    return None if state is None else f"http://{HOST}:{state.ports.gcs}"


def _log(msg: str) -> None:
    print(f"[stack] {msg}", flush=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child still answers kill(0); reap it if it is ours.
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
        return done == 0
    except ChildProcessError:
        return True


def _spawn(name: str, cmd: list[str], env: dict[str, str], log_dir: Path, cwd: Path) -> int:
    log_dir.mkdir(parents=True, exist_ok=True)
    log = open(log_dir / f"{name}.log", "ab")  # noqa: SIM115 - handed to the child process
    proc = subprocess.Popen(
        cmd, env=env, cwd=cwd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        start_new_session=True,
    )  # fmt: skip
    _log(f"started {name} (pid {proc.pid}): logs in {log_dir / (name + '.log')}")
    return proc.pid


def _wait(what: str, check: Any, timeout: float, pids: dict[str, int], log_dir: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for name, pid in pids.items():
            if not _alive(pid):
                tail = (log_dir / f"{name}.log").read_text(errors="replace")[-3000:]
                raise RuntimeError(f"{name} exited while waiting for {what}; log tail:\n{tail}")
        if check():
            return
        time.sleep(0.5)
    raise TimeoutError(f"{what} not ready after {timeout:.0f} s (logs in {log_dir})")


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return bool(resp.status < 500)
    except (urllib.error.URLError, OSError):
        return False


def airflow_health(api_url: str) -> dict[str, Any] | None:
    try:
        with urllib.request.urlopen(f"{api_url}/api/v2/monitor/health", timeout=3) as resp:
            return dict(json.load(resp))
    except (urllib.error.URLError, OSError, ValueError):
        return None


def _airflow_healthy(api_url: str, components: tuple[str, ...]) -> bool:
    health = airflow_health(api_url)
    if not health:
        return False
    return all((health.get(c) or {}).get("status") == "healthy" for c in components)


def _init_metadata_db(env: dict[str, str], log_dir: Path) -> None:
    """Migrate the SQLite metadata DB and create the pools, in one process (CLI calls are slow)."""
    script = (
        "from airflow.utils.db import upgradedb\n"
        "from airflow.models.pool import Pool\n"
        "upgradedb()\n"
        f"for name, (slots, desc) in {POOLS!r}.items():\n"
        "    Pool.create_or_update_pool(name, slots, desc, include_deferred=False)\n"
    )
    log_dir.mkdir(parents=True, exist_ok=True)
    with open(log_dir / "db-migrate.log", "ab") as log:
        subprocess.run([str(BIN / "python"), "-c", script], env=env, check=True, stdout=log, stderr=log)


def create_buckets(settings: Settings, gcs_port: int) -> None:
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    os.environ["STORAGE_EMULATOR_HOST"] = f"http://{HOST}:{gcs_port}"
    client = storage.Client(project=settings.project, credentials=AnonymousCredentials())
    for bucket in (settings.landing_bucket, settings.quarantine_bucket):
        if client.lookup_bucket(bucket) is None:
            client.create_bucket(bucket)


def up(
    settings: Settings | None = None,
    *,
    airflow: bool = True,
    pubsub: bool = True,
    timeout: float = 240,
) -> StackState:
    """Start the stand-ins (idempotent: a running stack is reused)."""
    settings = settings or get_settings()
    existing = StackState.load(settings)
    if existing and existing.pids and all(_alive(p) for p in existing.pids.values()):
        _log(f"already running: {existing.api_url}")
        return existing
    if existing:
        down(settings, quiet=True)

    ports = choose_ports()
    stack_secrets = load_or_create_secrets(settings.local_dir)
    log_dir = settings.local_dir / "logs"
    state = StackState(ports=ports, pids={}, local_dir=str(settings.local_dir))
    base_env = {**os.environ, **service_env(settings, ports)}
    try:
        gcs_dir = settings.local_dir / "gcs"
        gcs_dir.mkdir(parents=True, exist_ok=True)
        state.pids["gcs-emulator"] = _spawn(
            "gcs-emulator",
            [str(BIN / "gcp-storage-emulator"), "start", "--host", HOST, "--port", str(ports.gcs), "-q"],
            {**base_env, "STORAGE_BASE": str(gcs_dir)},
            log_dir,
            gcs_dir,
        )
        state.save(settings)
        if pubsub:
            gcloud = shutil.which("gcloud")
            if gcloud:
                (settings.local_dir / "pubsub").mkdir(parents=True, exist_ok=True)
                state.pids["pubsub-emulator"] = _spawn(
                    "pubsub-emulator",
                    [gcloud, "beta", "emulators", "pubsub", "start", f"--host-port={HOST}:{ports.pubsub}",
                     f"--data-dir={settings.local_dir / 'pubsub'}", "--quiet"],
                    base_env, log_dir, settings.local_dir,
                )  # fmt: skip
                state.save(settings)
            else:
                _log("gcloud not found: the Pub/Sub emulator (event-driven DAG) is not started")
        _wait(
            "GCS emulator",
            lambda: _http_ok(f"http://{HOST}:{ports.gcs}/storage/v1/b"),
            60,
            state.pids,
            log_dir,
        )
        create_buckets(settings, ports.gcs)
        if "pubsub-emulator" in state.pids:
            pubsub_url = f"http://{HOST}:{ports.pubsub}"
            _wait("Pub/Sub emulator", lambda: _http_ok(pubsub_url), 120, state.pids, log_dir)
            from devtools.pubsub import ensure_landing_subscription

            ensure_landing_subscription(settings, f"{HOST}:{ports.pubsub}")
        if airflow:
            env = {**base_env, **airflow_env(settings, ports, stack_secrets)}
            settings.warehouse_path.parent.mkdir(parents=True, exist_ok=True)
            _log("migrating the Airflow metadata DB")
            _init_metadata_db(env, log_dir)
            for component in AIRFLOW_COMPONENTS:
                state.pids[component] = _spawn(
                    component, [str(BIN / "airflow"), component], env, log_dir, Path.cwd()
                )
                state.save(settings)
            _wait(
                "Airflow (api-server, scheduler, dag-processor, triggerer)",
                lambda: _airflow_healthy(
                    state.api_url, ("metadatabase", "scheduler", "triggerer", "dag_processor")
                ),
                timeout,
                state.pids,
                log_dir,
            )
            _log(f"Airflow UI: {state.api_url}")
    except BaseException:
        down(settings, quiet=True)
        raise
    return state


def down(settings: Settings | None = None, quiet: bool = False, grace: float = 30) -> None:
    """Stop every process the stack started (by PID and process group)."""
    settings = settings or get_settings()
    state = StackState.load(settings)
    if state is None:
        if not quiet:
            _log("not running")
        return
    for name, pid in reversed(list(state.pids.items())):
        if _alive(pid):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGTERM)
            if not quiet:
                _log(f"stopping {name} (pid {pid})")
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and any(_alive(p) for p in state.pids.values()):
        time.sleep(0.3)
    for name, pid in state.pids.items():
        if _alive(pid):
            _log(f"{name} (pid {pid}) ignored SIGTERM; killing")
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
    StackState.path(settings).unlink(missing_ok=True)


def status(settings: Settings | None = None) -> dict[str, Any]:
    settings = settings or get_settings()
    state = StackState.load(settings)
    if state is None:
        return {"running": False}
    return {
        "running": True,
        "api_url": state.api_url,
        "ports": state.ports.as_dict(),
        "processes": {name: ("up" if _alive(pid) else "DEAD") for name, pid in state.pids.items()},
        "airflow_health": airflow_health(state.api_url),
    }


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m devtools.stack", description=__doc__)
    parser.add_argument(
        "command",
        choices=["up", "down", "status", "keys"],
        help="keys: create the local KMS stand-in and the wrapped pseudonym keyset under"
        " MLOPS_LOCAL_DIR if missing (`up` does it too; the container stacks run it at start)",
    )
    parser.add_argument("--no-airflow", action="store_true", help="only the emulators")
    args = parser.parse_args(argv)
    if args.command == "up":
        up(airflow=not args.no_airflow)
    elif args.command == "down":
        down()
    elif args.command == "keys":
        from fraud_mlops.pseudonym import ensure_local_keys, local_kms_dir

        local_dir = get_settings().local_dir
        ensure_local_keys(local_dir)
        print(f"pseudonym keyset: {local_kms_dir(local_dir)}")
    else:
        print(json.dumps(status(), indent=2))
    return 0
