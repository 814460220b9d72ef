"""The simulator's HTTP plumbing: accept loop, a thread per connection, request parsing, faults."""

from __future__ import annotations

import json
import selectors
import socket
import ssl
import sys
import threading
import time
import traceback
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol
from urllib.parse import parse_qs, unquote, urlsplit

from pytest_octane.simulator.api import MAX_PAYLOAD_BYTES
from pytest_octane.simulator.control import CONTROL_PREFIX, Controllable, handle_control
from pytest_octane.simulator.faults import FaultRule
from pytest_octane.simulator.protocol import Request, Response, error_json, json_response

__all__ = ["JOIN_TIMEOUT_S", "Served", "SimulatorHTTPServer", "current_connection"]

current_connection = threading.local()  # the connection the running handler thread serves
JOIN_TIMEOUT_S = 5.0


class Served(Controllable, Protocol):
    """What the HTTP plumbing needs of the simulator it serves (without importing Simulator)."""

    _ssl_context: ssl.SSLContext | None
    _stopping: threading.Event
    internal_errors: list[str]

    def _track_thread(self, thread: threading.Thread, *, add: bool) -> None: ...
    def _track_connection(self, connection: Any, *, add: bool) -> None: ...
    def _take_reset(self, connection: Any) -> bool: ...
    def _mark_reset(self, connection: Any) -> None: ...
    def _correlation_id(self) -> str: ...
    def _answer(self, request: Request) -> Response: ...
    def _answer_then_restart(self, request: Request) -> Response: ...
    def _log(
        self, request: Request, status: int | None, started: float, code: str | None
    ) -> None: ...


# ---------------------------------------------------------------- HTTP plumbing


class _BadRequest(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class SimulatorHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256  # bursts of concurrent uploads must not overflow the backlog

    def __init__(self, address: tuple[str, int], sim: Served) -> None:
        self.sim = sim
        super().__init__(address, _Handler)
        self._halted = threading.Event()
        self._wake_read, self._wake_write = socket.socketpair()
        self.socket.setblocking(False)

    def run(self) -> None:
        """Accept loop; unlike serve_forever it stops at once when halt() is called."""
        with selectors.DefaultSelector() as selector:
            selector.register(self.socket, selectors.EVENT_READ)
            selector.register(self._wake_read, selectors.EVENT_READ)
            while not self._halted.is_set():
                for key, _ in selector.select():
                    if key.fileobj is self.socket and not self._halted.is_set():
                        self._accept_one()

    def _accept_one(self) -> None:
        try:
            request, client_address = self.get_request()
        except OSError:  # nothing to accept after all (non-blocking listener)
            return
        try:
            self.process_request(request, client_address)
        except Exception:
            self.shutdown_request(request)

    def halt(self, loop: threading.Thread | None) -> None:
        """Stop the accept loop, wait for it, and close the listening socket."""
        self._halted.set()
        self._wake_write.send(b"x")
        if loop is not None and loop is not threading.current_thread():
            loop.join(JOIN_TIMEOUT_S)
        self.server_close()
        self._wake_read.close()
        self._wake_write.close()

    def get_request(self) -> tuple[socket.socket, Any]:
        sock, address = self.socket.accept()
        sock.setblocking(True)
        # Headers and body go out in separate writes: without NODELAY, Nagle's algorithm and
        # the client's delayed ACK add ~40 ms to every answer.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        context = self.sim._ssl_context
        if context is not None:
            # Handshake lazily, in the connection's own thread, not in the accept loop.
            sock = context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        return sock, address

    def process_request(self, request: Any, client_address: Any) -> None:
        thread = threading.Thread(
            target=self._serve_connection,
            args=(request, client_address),
            name="octane-sim-connection",
            daemon=True,
        )
        self.sim._track_thread(thread, add=True)
        thread.start()

    def _serve_connection(self, request: Any, client_address: Any) -> None:
        try:
            self.process_request_thread(request, client_address)
        finally:
            self.sim._track_thread(threading.current_thread(), add=False)

    def shutdown_request(self, request: Any) -> None:
        if self.sim._take_reset(request):
            request.close()  # SO_LINGER 0: the peer gets a RST, not an orderly close
            return
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Disconnects and TLS failures are normal; anything else is a simulator bug."""
        error = sys.exc_info()[1]
        if not isinstance(error, OSError):
            self.sim.internal_errors.append(traceback.format_exc())


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: SimulatorHTTPServer
    timeout = 120  # idle keep-alive connections are closed after this

    def setup(self) -> None:
        super().setup()
        current_connection.connection = self.connection
        self.server.sim._track_connection(self.connection, add=True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.sim._track_connection(self.connection, add=False)

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the default stderr access log (the simulator keeps its own)."""

    def do_GET(self) -> None:
        self._dispatch()

    do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = do_GET

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """Protocol-level errors (bad request line, huge headers) as Octane error JSON too."""
        text = message or HTTPStatus(code).phrase
        body = json.dumps(error_json(f"platform.http_{code}", text, "-")).encode()
        self.close_connection = True
        self.send_response(code, message)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        if getattr(self, "command", None) != "HEAD":
            self.wfile.write(body)

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._read_chunked()
        raw = self.headers.get("Content-Length")
        if not raw:
            return b""
        try:
            length = int(raw)
        except ValueError:
            raise _BadRequest(400, f"Content-Length {raw!r} is not a number") from None
        if length > MAX_PAYLOAD_BYTES:
            raise _BadRequest(413, f"the body exceeds {MAX_PAYLOAD_BYTES} bytes")
        return self.rfile.read(length)

    def _read_chunked(self) -> bytes:
        chunks: list[bytes] = []
        total = 0
        while True:
            line = self.rfile.readline(1024).split(b";")[0].strip()
            try:
                size = int(line, 16)
            except ValueError:
                raise _BadRequest(400, "malformed chunked body") from None
            if size == 0:
                while self.rfile.readline(1024).strip():
                    pass  # trailers
                return b"".join(chunks)
            total += size
            if total > MAX_PAYLOAD_BYTES:
                raise _BadRequest(413, f"the body exceeds {MAX_PAYLOAD_BYTES} bytes")
            chunks.append(self.rfile.read(size))
            self.rfile.readline(8)

    def _request(self, body: bytes) -> Request:
        parts = urlsplit(self.path)
        cookies: dict[str, str] = {}
        for header in self.headers.get_all("Cookie") or []:
            for item in header.split(";"):
                name, _, value = item.strip().partition("=")
                if name:
                    cookies[name] = value.strip('"')
        headers = {k.lower(): v for k, v in self.headers.items()}
        correlation = headers.get("x-correlation-id") or self.server.sim._correlation_id()
        return Request(
            method=self.command.upper(),
            path=unquote(parts.path) or "/",
            query=parse_qs(parts.query, keep_blank_values=True),
            headers=headers,
            body=body,
            cookies=cookies,
            correlation_id=correlation,
        )

    def _dispatch(self) -> None:
        sim = self.server.sim
        started = time.perf_counter()
        try:
            body = self._read_body()
        except _BadRequest as exc:
            self.close_connection = True
            self._send(json_response(exc.status, error_json("platform.bad_request", str(exc), "-")))
            return
        request = self._request(body)
        if request.path.startswith(CONTROL_PREFIX):
            self._send(handle_control(sim, request))
            return
        action = sim.faults.on_request(request.method, request.path)
        if action.delay_ms and sim._stopping.wait(action.delay_ms / 1000):
            self.close_connection = True
            return
        if action.reset:
            sim._log(request, None, started, None)
            self.close_connection = True
            sim._mark_reset(self.connection)
            return
        if action.fail is not None:
            response = _fault_response(action.fail, request.correlation_id)
        elif action.restart:
            response = sim._answer_then_restart(request)
        else:
            response = sim._answer(request)
        # Logged before answering: a client that got its answer must find it in the log.
        sim._log(request, response.status, started, response.error_code)
        self._send(response)

    def _send(self, response: Response) -> None:
        self.send_response(response.status)
        if response.body or response.content_type != "application/json":
            self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(response.body)))
        for name, value in response.headers:
            self.send_header(name, value)
        if response.close:
            self.close_connection = True
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)


def _fault_response(rule: FaultRule, correlation_id: str) -> Response:
    headers: list[tuple[str, str]] = []
    if rule.retry_after is not None:
        headers.append(("Retry-After", f"{rule.retry_after:g}"))
    code = str(rule.error_code)
    if not rule.json_body:
        page = f"<html><body><h1>{rule.status}</h1><p>{rule.description}</p></body></html>"
        return Response(rule.status, page.encode(), "text/html", headers, code)
    payload = error_json(code, str(rule.description), correlation_id)
    return json_response(rule.status, payload, headers=headers, error_code=code)
