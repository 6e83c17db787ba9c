"""Fixtures for the sandbox's HTTP tests: a running sandbox and a tiny app that records what portals POST."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

import pytest

from b24app.sandbox.server import Sandbox

WAIT = 5.0  # seconds any test waits for something to arrive


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    box = Sandbox(port=0, portals=2).start()
    yield box
    box.stop()


class Received:
    """One POST the app received: path, query and the raw form pairs (PHP bracket keys kept as sent)."""

    def __init__(self, path: str, query: str, body: str) -> None:
        self.path = path
        self.query = dict(parse_qsl(query))
        self.form = dict(parse_qsl(body, keep_blank_values=True))


class AppReceiver:
    """A local HTTP app: records every POST and answers 200."""

    def __init__(self) -> None:
        self.posts: queue.Queue[Received] = queue.Queue()
        received = self.posts

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode()
                split = urlsplit(self.path)
                received.put(Received(split.path, split.query, body))
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"OK")

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/"
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()

    def next(self, timeout: float = WAIT) -> Received:
        return self.posts.get(timeout=timeout)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def app_receiver() -> Iterator[AppReceiver]:
    receiver = AppReceiver()
    yield receiver
    receiver.close()
