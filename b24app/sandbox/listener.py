"""HTTP/1.1 keep-alive serving of many sites.

One acceptor thread multiplexes every listening socket (selectors); each connection gets its own thread.
"""

from __future__ import annotations

import contextlib
import logging
import re
import selectors
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler
from typing import Protocol

from .web import Request, Response, html_page

log = logging.getLogger(__name__)
IDLE_TIMEOUT = 30.0  # seconds a keep-alive connection may stay silent
WEBHOOK_CODE = re.compile(r"^(/rest/\d+/)[^/]+/")  # never log a webhook's secret code


class Site(Protocol):
    def handle(self, request: Request) -> Response: ...


class _Connection(BaseHTTPRequestHandler):
    """Parses requests with the stdlib and hands them to the site given as `server`."""

    protocol_version = "HTTP/1.1"
    server_version = "nginx"
    sys_version = ""
    timeout = IDLE_TIMEOUT
    disable_nagle_algorithm = True

    def _dispatch(self) -> None:
        path, _, query = self.path.partition("?")
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            self.send_error(400, "Bad Content-Length")
            return
        body = self.rfile.read(length) if length > 0 else b""
        try:
            response = self.server.handle(Request(self.command, path, query, self.headers, body))
        except Exception:
            safe_path = WEBHOOK_CODE.sub(r"\1***/", path)
            log.exception("sandbox: unhandled error for %s %s", self.command, safe_path)
            response = html_page(500, "500 Internal Server Error")
        if response.hang is not None:
            time.sleep(response.hang)
            self.close_connection = True
            return
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(response.body)))
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)

    do_GET = do_POST = do_PUT = do_DELETE = do_OPTIONS = do_HEAD = _dispatch

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib signature
        """Silent: no per-request logging (speed, and URLs may carry tokens)."""


class Listener:
    """Owns the listening sockets and the acceptor thread."""

    def __init__(self) -> None:
        self._selector = selectors.DefaultSelector()
        self._wake_r, self._wake_w = socket.socketpair()
        self._selector.register(self._wake_r, selectors.EVENT_READ, None)
        self._sockets: list[socket.socket] = []
        self._connections: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stopping = False

    def bind(self, host: str, port: int, site: Site) -> int:
        """Listens on host:port (0 = ephemeral) for `site`; returns the bound port."""
        sock = socket.create_server((host, port), backlog=128, reuse_port=False)
        sock.setblocking(False)
        self._sockets.append(sock)
        self._selector.register(sock, selectors.EVENT_READ, site)
        return sock.getsockname()[1]

    def start(self) -> None:
        self._thread = threading.Thread(target=self._accept_loop, name="sandbox-acceptor", daemon=True)
        self._thread.start()

    def _accept_loop(self) -> None:
        while not self._stopping:
            for key, _ in self._selector.select():
                if key.data is None:
                    return
                try:
                    conn, address = key.fileobj.accept()
                except (BlockingIOError, OSError):
                    continue
                conn.setblocking(True)
                threading.Thread(target=self._serve, args=(conn, address, key.data), daemon=True).start()

    def _serve(self, conn: socket.socket, address: tuple, site: Site) -> None:
        with self._lock:
            self._connections.add(conn)
        try:
            _Connection(conn, address, site)
        except OSError:
            pass  # the peer went away
        finally:
            with self._lock:
                self._connections.discard(conn)
            conn.close()

    def stop(self) -> None:
        self._stopping = True
        if self._thread:
            self._wake_w.send(b"x")
            self._thread.join(timeout=5)
        for sock in self._sockets:
            self._selector.unregister(sock)
            sock.close()
        self._sockets.clear()
        with self._lock:
            for conn in self._connections:
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)
        self._selector.close()
        self._wake_r.close()
        self._wake_w.close()
