"""The HTTP/1.1 server under both emulators: keep-alive, quiet, and able to drop a connection.

``ThreadingHTTPServer`` gives one thread per connection (not per request): a client that keeps its
connection alive is served by the same thread. Requests are read by a lean parser of its own
(request line, headers into a dict, ``Content-Length`` body) rather than ``BaseHTTPRequestHandler``,
whose email-based header parsing would cost more than everything the emulators do per request.
Every reply is written with a single ``sendall``. A reply with ``drop`` closes the socket without
a byte of response; one with ``delay`` sleeps first.
"""

from __future__ import annotations

import contextlib
import socket
import socketserver
import threading
import time
from collections.abc import Callable
from email.utils import formatdate
from http import HTTPStatus
from http.server import ThreadingHTTPServer
from typing import Any

from prefect_journeys.emulators.common import MAX_BODY_BYTES, Reply, Request

Handler = Callable[[Request], Reply]

SERVER_NAME = "prefect-journeys-emulator"
_MAX_LINE = 65536
_MAX_HEADERS = 100
_DRAIN_LIMIT = 2 * MAX_BODY_BYTES  # past this an oversized body is not even read: just close
_CHUNK = 1 << 20
_REASONS = {status.value: status.phrase for status in HTTPStatus}


class _Clock:
    """The ``Date`` header, formatted once per second."""

    def __init__(self) -> None:
        self._second = -1
        self._text = ""

    def date(self) -> str:
        now = int(time.time())
        if now != self._second:
            self._text = formatdate(now, usegmt=True)
            self._second = now
        return self._text


class EmulatorHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256

    def __init__(self, address: tuple[str, int], handle: Handler) -> None:
        self.handle_request_object = handle
        self.clock = _Clock()
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        super().__init__(address, _Connection)

    def server_bind(self) -> None:
        """Bind without HTTPServer's reverse DNS look-up of the host."""
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)

    def track(self, sock: socket.socket, alive: bool) -> None:
        with self._open_lock:
            if alive:
                self._open.add(sock)
            else:
                self._open.discard(sock)

    def close_connections(self) -> None:
        """Close every kept-alive connection (so their threads end once the server stops)."""
        with self._open_lock:
            socks = list(self._open)
            self._open.clear()
        for sock in socks:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that went away is not worth a traceback on the console."""


class _Connection(socketserver.StreamRequestHandler):
    """One client connection: requests one after the other until either side closes."""

    timeout = 300  # an idle kept-alive connection is closed after five minutes
    server: EmulatorHTTPServer

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.track(self.connection, True)

    def finish(self) -> None:
        self.server.track(self.connection, False)
        with contextlib.suppress(OSError):
            super().finish()

    def handle(self) -> None:
        with contextlib.suppress(OSError):
            while self._one_request():
                pass

    def _one_request(self) -> bool:
        """Serve one request; False when the connection is to be closed."""
        line = self.rfile.readline(_MAX_LINE + 1)
        if not line:
            return False
        if len(line) > _MAX_LINE:
            return self._write(Reply(414, b'{"message":"request line too long"}'), keep=False)
        parts = line.decode("latin-1").split()
        if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
            return self._write(Reply(400, b'{"message":"bad request line"}'), keep=False)
        method, target, version = parts
        headers = self._read_headers()
        if headers is None:
            return self._write(Reply(431, b'{"message":"bad or too many headers"}'), keep=False)
        connection = headers.get("connection", "").lower()
        keep = "keep-alive" in connection if version == "HTTP/1.0" else "close" not in connection
        if headers.get("expect", "").lower() == "100-continue":
            self.wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        return self._serve(method, target, headers, keep)

    def _read_headers(self) -> dict[str, str] | None:
        headers: dict[str, str] = {}
        for _ in range(_MAX_HEADERS + 1):
            line = self.rfile.readline(_MAX_LINE + 1)
            if line in (b"\r\n", b"\n", b""):
                return headers
            name, colon, value = line.decode("latin-1").partition(":")
            if not colon or len(line) > _MAX_LINE:
                return None
            headers[name.strip().lower()] = value.strip()
        return None

    def _serve(self, method: str, target: str, headers: dict[str, str], keep: bool) -> bool:
        if headers.get("transfer-encoding", "").lower() == "chunked":
            return self._write(Reply(411, b'{"message":"Content-Length required"}'), keep=False)
        try:
            length = int(headers.get("content-length") or 0)
        except ValueError:
            return self._write(Reply(400, b'{"message":"bad Content-Length"}'), keep=False)
        too_large = length > MAX_BODY_BYTES
        body = b"" if too_large or length <= 0 else self.rfile.read(length)
        if too_large and not self._drain(length):
            return False
        path, _, query = target.partition("?")
        request = Request(method, path, query, headers, body, too_large)
        reply = self.server.handle_request_object(request)
        if reply.delay > 0:
            time.sleep(reply.delay)
        if reply.drop:
            return False
        return self._write(reply, keep=keep)

    def _drain(self, length: int) -> bool:
        if length > _DRAIN_LIMIT:
            return False
        left = length
        while left > 0:
            chunk = self.rfile.read(min(_CHUNK, left))
            if not chunk:
                return False
            left -= len(chunk)
        return True

    def _write(self, reply: Reply, *, keep: bool) -> bool:
        """Send the reply; whether the connection stays open."""
        lines = [
            f"HTTP/1.1 {reply.status} {_REASONS.get(reply.status, 'Unknown')}",
            f"Date: {self.server.clock.date()}",
            f"Server: {SERVER_NAME}",
            f"Content-Length: {len(reply.body)}",
        ]
        if reply.content_type:
            lines.append(f"Content-Type: {reply.content_type}")
        lines.extend(f"{name}: {value}" for name, value in reply.headers)
        if not keep:
            lines.append("Connection: close")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        self.wfile.write(head + reply.body)
        return keep
