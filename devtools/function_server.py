"""Start and stop the prediction function locally, exactly as Cloud Functions runs it.

``functions-framework --target predict --source functions/predict/main.py`` serves through
gunicorn's threaded workers (``WORKERS`` processes x ``THREADS`` threads, the variables
functions-framework reads). Two workers match this project's two-core laptops: one process
per core sidesteps the GIL for the model's NumPy work, threads absorb I/O waits. The server
binds 127.0.0.1 only; every port is a parameter.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from fraud_mlops.settings import REPO_ROOT

FUNCTION_SOURCE = REPO_ROOT / "functions" / "predict" / "main.py"
FUNCTION_TARGET = "predict"
HOST = "127.0.0.1"
DEFAULT_WORKERS = 2
DEFAULT_THREADS = 8


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def configured_port(env: dict[str, str] | None = None) -> int:
    """``MLOPS_FUNCTION_PORT`` if set, else a free port."""
    value = (os.environ if env is None else env).get("MLOPS_FUNCTION_PORT")
    return int(value) if value else free_port()


@dataclass
class FunctionServer:
    process: subprocess.Popen[bytes]
    port: int
    log_file: IO[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}/"

    def stop(self, timeout: float = 20.0) -> None:
        """SIGTERM to gunicorn's master (it stops its workers), SIGKILL to the group if stuck."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=timeout)
        if self.log_file is not None:
            self.log_file.close()

    def __enter__(self) -> FunctionServer:
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()


def start_function_server(
    port: int | None = None,
    env: dict[str, str] | None = None,
    workers: int = DEFAULT_WORKERS,
    threads: int = DEFAULT_THREADS,
    log_path: Path | None = None,
    source: Path = FUNCTION_SOURCE,
    target: str = FUNCTION_TARGET,
    ready_timeout: float = 90.0,
) -> FunctionServer:
    """Start the function and wait until it answers HTTP (the model loads on first use)."""
    port = port or configured_port(env)
    child_env = {**os.environ, **(env or {})}
    paths = [str(REPO_ROOT / "plugins"), *filter(None, child_env.get("PYTHONPATH", "").split(os.pathsep))]
    child_env.update(
        PYTHONPATH=os.pathsep.join(dict.fromkeys(paths)),
        WORKERS=str(workers),
        THREADS=str(threads),
        PYTHONUNBUFFERED="1",
    )
    log_file = open(log_path, "ab") if log_path else None  # noqa: SIM115 - closed by stop()
    command = [sys.executable, "-m", "functions_framework", "--target", target, "--source", str(source)]
    process = subprocess.Popen(
        [*command, "--host", HOST, "--port", str(port)],
        env=child_env,
        stdout=log_file or subprocess.DEVNULL,
        stderr=subprocess.STDOUT if log_file else subprocess.DEVNULL,
        start_new_session=True,  # its own process group: stop() can reach stuck workers
    )
    server = FunctionServer(process=process, port=port, log_file=log_file)
    deadline = time.monotonic() + ready_timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            server.stop()
            raise RuntimeError(f"the function exited with {process.returncode}; see {log_path}")
        try:
            urllib.request.urlopen(server.url, timeout=2)  # GET answers 405: the app is up
        except urllib.error.HTTPError:
            return server
        except OSError:
            time.sleep(0.2)
            continue
        return server
    server.stop()
    raise TimeoutError(f"the function did not answer on {server.url} within {ready_timeout} s")
