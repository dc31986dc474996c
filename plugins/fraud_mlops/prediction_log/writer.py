"""A background writer: requests enqueue records and return; one thread per process writes batches.

Never blocks a request: the queue is bounded and a full queue drops the record and counts it
(``dropped``), because a prediction must not wait for its own audit trail. Work items may be
records or callables returning records (shadow scoring runs here, off the request path).
Fork-aware: gunicorn forks its workers after the service is preloaded, so the thread starts
lazily in the process that first submits, with a fresh queue.
"""

from __future__ import annotations

import atexit
import os
import queue
import sys
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

Record = dict[str, Any]
Sink = Callable[[list[Record]], None]
Work = Record | Callable[[], Iterable[Record]] | threading.Event | None


class BackgroundWriter:
    def __init__(
        self, sink: Sink, max_queue: int = 50_000, batch_size: int = 200, flush_seconds: float = 0.5
    ) -> None:
        self.sink = sink
        self.batch_size = batch_size
        self.flush_seconds = flush_seconds
        self.max_queue = max_queue
        self.dropped = 0
        self.written = 0
        self.failed_batches = 0
        self._queue: queue.Queue[Work] = queue.Queue(maxsize=max_queue)
        self._pid = -1
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()

    def submit(self, item: Record | Callable[[], Iterable[Record]]) -> None:
        """Enqueue and return at once; a full queue drops the item (counted in ``dropped``)."""
        if self._pid != os.getpid():
            self._start()
        try:
            self._queue.put_nowait(item)
        except queue.Full:
            self.dropped += 1

    def flush(self, timeout: float = 10.0) -> bool:
        """Write everything submitted so far; True once written (tests, shutdown, the demo)."""
        if self._pid != os.getpid():
            return True
        done = threading.Event()
        self._queue.put(done, timeout=timeout)
        return done.wait(timeout)

    def close(self, timeout: float = 10.0) -> None:
        thread = self._thread
        if thread is None or self._pid != os.getpid() or not thread.is_alive():
            return
        try:
            self._queue.put(None, timeout=timeout)
        except queue.Full:
            return
        thread.join(timeout)

    def _start(self) -> None:
        with self._start_lock:
            if self._pid == os.getpid():
                return
            self._queue = queue.Queue(maxsize=self.max_queue)  # nothing crosses a fork
            self._thread = threading.Thread(target=self._run, name="prediction-log", daemon=True)
            self._pid = os.getpid()
            self._thread.start()
            atexit.register(self.close)

    def _run(self) -> None:
        batch: list[Record] = []
        deadline = time.monotonic() + self.flush_seconds
        while True:
            try:
                item = self._queue.get(timeout=max(deadline - time.monotonic(), 0.001))
            except queue.Empty:
                item = _TICK
            if isinstance(item, threading.Event) or item is None:
                if batch:
                    self._write(batch)
                    batch = []
                if item is None:
                    return
                item.set()
                continue
            if item is not _TICK:
                batch.extend(_expand(item))
                if len(batch) % 32 == 0:
                    time.sleep(0)  # hand the GIL back to request threads between bursts of work
            if batch and (len(batch) >= self.batch_size or time.monotonic() >= deadline):
                self._write(batch)
                batch = []
            if time.monotonic() >= deadline:
                deadline = time.monotonic() + self.flush_seconds

    def _write(self, batch: list[Record]) -> None:
        try:
            self.sink(batch)
            self.written += len(batch)
        except Exception as exc:  # keep serving; the loss is reported on stderr
            self.failed_batches += 1
            sys.stderr.write(
                f'{{"severity": "ERROR", "message": "prediction log batch of {len(batch)} lost: {exc!r}"}}\n'
            )


_TICK: Any = object()


def _expand(item: Any) -> Iterable[Record]:
    if callable(item):
        try:
            return list(item())
        except Exception as exc:  # a failed shadow score must not lose the batch around it
            sys.stderr.write(f'{{"severity": "WARNING", "message": "shadow scoring failed: {exc!r}"}}\n')
            return []
    return [item]
