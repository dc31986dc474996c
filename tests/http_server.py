"""A real HTTP server on 127.0.0.1 for clients whose far end cannot run here (the Airflow REST
API of a stack not started, Artifact Registry): the client's own transport sends real requests,
and the test asserts exactly what arrived."""

from __future__ import annotations

import contextlib
import http.server
import threading
from collections.abc import Callable, Iterator

#: One answer of the test server: status and body for the request seen (``"METHOD path"``).
Answer = Callable[[str], tuple[int, bytes]]


@contextlib.contextmanager
def serving(answer: Answer, headers: list[dict[str, str]] | None = None) -> Iterator[tuple[str, list[str]]]:
    """A server on a free port answering every request with ``answer``; its URL and the requests
    seen, in order. With ``headers``, each request's headers (lower-case names) are appended."""
    seen: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def _answer(self) -> None:
            seen.append(f"{self.command} {self.path}")
            if headers is not None:
                headers.append({name.lower(): value for name, value in self.headers.items()})
            status, body = answer(seen[-1])
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        do_GET = do_POST = do_PATCH = do_HEAD = _answer

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()
