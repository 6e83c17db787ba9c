"""A stand-in for b24app's web server in integration tests: records what a sandbox portal POSTs."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit


@dataclass(frozen=True)
class Received:
    method: str
    path: str
    query: str
    body: bytes


class Receiver:
    """An HTTP server on loopback that answers 200 to everything and keeps each request."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def _record(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                parts = urlsplit(self.path)
                outer.received.append(
                    Received(self.command, parts.path, parts.query, self.rfile.read(length))
                )
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            do_GET = do_POST = _record

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self) -> Receiver:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def last(self, path: str) -> Received:
        found = [r for r in self.received if r.path == path]
        assert found, f"nothing was sent to {path}; got {[r.path for r in self.received]}"
        return found[-1]
