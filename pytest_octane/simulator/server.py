"""The :class:`Simulator`: a real HTTP(S) server on 127.0.0.1 that behaves like Octane.

Stdlib only (``http.server.ThreadingHTTPServer``).  Threads: one accept loop, one thread per
connection, one task worker, and a short-lived one while the server is "down".  All are
daemon threads and :meth:`Simulator.stop` joins them.
"""

from __future__ import annotations

import json
import selectors
import socket
import ssl
import struct
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterable, Mapping
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from pytest_octane.simulator.api import MAX_PAYLOAD_BYTES, endpoint_name, handle
from pytest_octane.simulator.control import CONTROL_PREFIX, handle_control
from pytest_octane.simulator.entities import add_application_module, add_system_root
from pytest_octane.simulator.faults import FaultRule, Faults
from pytest_octane.simulator.gherkin import gherkin_run_summary
from pytest_octane.simulator.ingest import TaskWorker
from pytest_octane.simulator.protocol import Request, Response, error_json, json_response
from pytest_octane.simulator.query import Ref
from pytest_octane.simulator.state import (
    ACTIVE_STATES,
    Entity,
    RequestRecord,
    SimConfig,
    SimState,
)

__all__ = ["Simulator"]

_current = threading.local()  # the connection the running handler thread serves
_JOIN_TIMEOUT = 5.0


# ---------------------------------------------------------------- HTTP plumbing


class _BadRequest(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256  # bursts of concurrent uploads must not overflow the backlog

    def __init__(self, address: tuple[str, int], sim: Simulator) -> None:
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
            loop.join(_JOIN_TIMEOUT)
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
    server: _Server
    timeout = 120  # idle keep-alive connections are closed after this

    def setup(self) -> None:
        super().setup()
        _current.connection = self.connection
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


# ---------------------------------------------------------------- the simulator


class Simulator:
    """A local fake of Octane's REST API; use as a context manager or start()/stop().

    Stories are dicts ``{"id", "name", <jira_field> or "key"}`` or plain JIRA keys.
    ``rotate_cookie_every=N`` sends a new ``LWSSO_COOKIE_KEY`` on every Nth authenticated
    request of a session (0 = never).  ``clock`` (monotonic seconds) drives session idle time.
    """

    def __init__(
        self,
        *,
        space_id: int = 1001,
        workspace_id: int = 1002,
        client_id: str = "sim-client",
        client_secret: str = "sim-secret",
        user: str = "sim-user",
        password: str = "sim-password",
        stories: Iterable[Mapping[str, Any] | str] | None = None,
        jira_field: str = "jira_key_udf",
        queue_limit: int = 50,
        processing_ms: int = 200,
        processing_workers: int = 1,
        idle_timeout_s: float | None = None,
        max_page_size: int = 1000,
        seed: int | None = 0,
        host: str = "127.0.0.1",
        port: int = 0,
        ssl_context: ssl.SSLContext | None = None,
        rotate_cookie_every: int = 0,
        default_limit: int = 100,
        dedup_status: int = 202,
        releases: Iterable[Mapping[str, Any] | str] | None = None,
        forbid_delete: bool = False,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if queue_limit < 1:
            raise ValueError(f"queue_limit must be at least 1, got {queue_limit}")
        if processing_ms < 0:
            raise ValueError(f"processing_ms must be 0 or more, got {processing_ms}")
        if processing_workers < 1:
            raise ValueError(f"processing_workers must be 1 or more, got {processing_workers}")
        self._processing_workers = processing_workers
        if not 1 <= default_limit <= max_page_size:
            raise ValueError(f"default_limit {default_limit} must be within 1..max_page_size")
        if rotate_cookie_every < 0:
            raise ValueError("rotate_cookie_every must be 0 (never) or more")
        if dedup_status not in (200, 202):
            raise ValueError("dedup_status must be 200 or 202")
        config = SimConfig(
            space_id=space_id,
            workspace_id=workspace_id,
            client_id=client_id,
            client_secret=client_secret,
            user=user,
            password=password,
            jira_field=jira_field,
            queue_limit=queue_limit,
            processing_ms=processing_ms,
            idle_timeout_s=idle_timeout_s,
            max_page_size=max_page_size,
            default_limit=default_limit,
            rotate_cookie_every=rotate_cookie_every,
            dedup_status=dedup_status,
        )
        self._state = SimState(config, seed=seed, clock=clock)
        self._host = host
        self._wanted_port = port
        self._port: int | None = None
        self._ssl_context = ssl_context
        self.faults = Faults(
            go_down=self._go_down,
            expire_sessions=self._expire_sessions,
            forbid_delete=self._set_forbid_delete,
        )
        self.internal_errors: list[str] = []
        self._lifecycle = threading.RLock()
        self._tracking = threading.Lock()
        self._server: _Server | None = None
        self._serve_thread: threading.Thread | None = None
        self._down_thread: threading.Thread | None = None
        self._workers: list[TaskWorker] = []
        self._stopping = threading.Event()
        self._started = False
        self._connections: set[Any] = set()
        self._threads: set[threading.Thread] = set()
        self._resets: set[int] = set()
        with self._state.lock:
            default = self._state.add_entity("release", {"name": "Default release"})
            default.extra["default"] = True
            self._system_root = add_system_root(self._state).id
            self._state.forbid_delete = forbid_delete
        for release in releases or ():
            if isinstance(release, str):
                self.add_release(release)
            else:
                self.add_release(str(release["name"]), id=_opt_int(release.get("id")))
        for story in stories or ():
            if isinstance(story, str):
                self.add_story(story)
            else:
                key = story.get(jira_field, story.get("key"))
                if not isinstance(key, str):
                    raise ValueError(f"story {dict(story)!r} has no {jira_field!r} or 'key'")
                self.add_story(key, id=_opt_int(story.get("id")), name=story.get("name"))

    # ------------------------------------------------------------ lifecycle

    def start(self) -> Simulator:
        """Bind, start serving and start the task worker; returns self."""
        with self._lifecycle:
            if self._started:
                raise RuntimeError("this Simulator was already started; create a new one")
            self._started = True
            server = self._bind(self._wanted_port)
            self._port = int(server.server_address[1])
            self._serve(server)
            # Octane's own processing concurrency is not documented (a GUESS: several tasks
            # at once); each worker takes the next queued task
            for _ in range(self._processing_workers):
                worker = TaskWorker(self._state, self.faults.take_task_failure)
                worker.start()
                self._workers.append(worker)
        return self

    def stop(self) -> None:
        """Stop serving, stop the worker, close connections and join every thread."""
        with self._lifecycle:
            if not self._started or self._stopping.is_set():
                return
            self._stopping.set()
            server, self._server = self._server, None
            serve_thread = self._serve_thread
        if server is not None:
            server.halt(serve_thread)
        for thread in (serve_thread, self._down_thread):
            if thread is not None and thread is not threading.current_thread():
                thread.join(_JOIN_TIMEOUT)
        for worker in self._workers:
            worker.stop()
        self._close_connections(keep=None)
        deadline = time.monotonic() + _JOIN_TIMEOUT
        with self._tracking:
            threads = list(self._threads)
        for thread in threads:
            if thread is not threading.current_thread():
                thread.join(max(0.0, deadline - time.monotonic()))

    def __enter__(self) -> Simulator:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        where = self.url if self._port is not None else "not started"
        return f"<Simulator {where} space={self.space_id} workspace={self.workspace_id}>"

    def _bind(self, port: int) -> _Server:
        try:
            return _Server((self._host, port), self)
        except OSError as exc:
            raise RuntimeError(
                f"the Octane simulator cannot listen on {self._host}:{port} ({exc.strerror}); "
                "choose another port"
            ) from None

    def _serve(self, server: _Server) -> None:
        self._server = server
        self._serve_thread = threading.Thread(
            target=server.run,
            name="octane-sim-accept",
            daemon=True,
        )
        self._serve_thread.start()

    def _go_down(self, seconds: float) -> None:
        with self._lifecycle:
            if self._server is None:
                raise RuntimeError("the simulator is not serving (not started, stopped or down)")
            server, self._server = self._server, None
            serve_thread = self._serve_thread
        server.halt(serve_thread)
        self._close_connections(keep=getattr(_current, "connection", None))
        self._down_thread = threading.Thread(
            target=self._come_back, args=(seconds,), name="octane-sim-down", daemon=True
        )
        self._down_thread.start()

    def _come_back(self, seconds: float) -> None:
        if self._stopping.wait(seconds):
            return
        assert self._port is not None
        deadline = time.monotonic() + _JOIN_TIMEOUT
        while True:
            with self._lifecycle:
                if self._stopping.is_set():
                    return
                try:
                    self._serve(_Server((self._host, self._port), self))
                    return
                except OSError:
                    if time.monotonic() > deadline:
                        self.internal_errors.append(f"could not re-open port {self._port}")
                        return
            if self._stopping.wait(0.05):
                return

    def _close_connections(self, keep: Any) -> None:
        with self._tracking:
            connections = [c for c in self._connections if c is not keep]
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def _track_connection(self, connection: Any, *, add: bool) -> None:
        with self._tracking:
            if add:
                self._connections.add(connection)
            else:
                self._connections.discard(connection)

    def _track_thread(self, thread: threading.Thread, *, add: bool) -> None:
        with self._tracking:
            if add:
                self._threads.add(thread)
            else:
                self._threads.discard(thread)

    def _set_forbid_delete(self, forbidden: bool) -> None:
        with self._state.lock:
            self._state.forbid_delete = forbidden

    def _mark_reset(self, connection: Any) -> None:
        connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        with self._tracking:
            self._resets.add(id(connection))

    def _take_reset(self, connection: Any) -> bool:
        with self._tracking:
            if id(connection) in self._resets:
                self._resets.discard(id(connection))
                return True
            return False

    # ------------------------------------------------------------ request handling

    def _correlation_id(self) -> str:
        with self._state.lock:
            return f"sim-{self._state.rng.getrandbits(48):012x}"

    def _answer(self, request: Request) -> Response:
        try:
            return handle(self._state, request)
        except Exception as exc:  # a simulator bug: answer 500 and remember it
            self.internal_errors.append(traceback.format_exc())
            with self._state.lock:
                self._state.counters.internal_errors += 1
            payload = error_json(
                "simulator.internal_error", f"simulator bug: {exc!r}", request.correlation_id
            )
            return json_response(500, payload, error_code="simulator.internal_error")

    def _log(self, request: Request, status: int | None, started: float, code: str | None) -> None:
        query = "&".join(f"{k}={v}" for k, values in request.query.items() for v in values)
        entry = RequestRecord(
            time=time.time(),
            method=request.method,
            path=request.path,
            query=query,
            status=status,
            duration_ms=int((time.perf_counter() - started) * 1000),
            error_code=code,
        )
        endpoint = endpoint_name(request.method, request.path, self._state.config.api_prefix)
        with self._state.lock:
            self._state.record(entry, endpoint)

    def _expire_sessions(self) -> int:
        with self._state.lock:
            return self._state.expire_all()

    # ------------------------------------------------------------ addresses

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("the simulator is not started; call start() or use `with`")
        return self._port

    @property
    def url(self) -> str:
        """Server root, e.g. ``http://127.0.0.1:PORT``."""
        scheme = "https" if self._ssl_context is not None else "http"
        return f"{scheme}://{self._host}:{self.port}"

    @property
    def api_url(self) -> str:
        return self.url + self._state.config.api_prefix

    @property
    def space_id(self) -> int:
        return self._state.config.space_id

    @property
    def workspace_id(self) -> int:
        return self._state.config.workspace_id

    @property
    def client_id(self) -> str:
        return self._state.config.client_id

    @property
    def client_secret(self) -> str:
        return self._state.config.client_secret

    @property
    def jira_field(self) -> str:
        return self._state.config.jira_field

    # ------------------------------------------------------------ seeding

    def add_story(self, key: str, *, id: int | None = None, name: str | None = None) -> int:
        """Add a story with JIRA key ``key``; return its id."""
        with self._state.lock:
            fields = {
                "subtype": "story",
                "name": name or f"Story {key}",
                "description": None,
                self._state.config.jira_field: key,
            }
            return self._state.add_entity("work_item", fields, id_=id).id

    @property
    def system_root_id(self) -> int:
        """The workspace's system root module (``logical_name`` product_area.root)."""
        return self._system_root

    def add_application_module(self, name: str, parent_id: int | None = None) -> int:
        """Add an application module (duplicates allowed, and counted, as in Octane).

        ``parent_id=None`` seeds a parentless module, as old workspaces may hold; pass
        ``system_root_id`` for a top-level module as Octane makes it today.
        """
        with self._state.lock:
            if parent_id is not None and self._state.get("application_module", parent_id) is None:
                raise ValueError(f"parent application module {parent_id} does not exist")
            return add_application_module(self._state, name, parent_id).id

    def add_test_suite(self, name: str, *, product_area_id: int | None = None) -> int:
        """Add a test (subtype test_suite), optionally under an application module."""
        with self._state.lock:
            areas: tuple[Ref, ...] = ()
            if product_area_id is not None:
                if self._state.get("application_module", product_area_id) is None:
                    raise ValueError(f"application module {product_area_id} does not exist")
                areas = (Ref("application_module", product_area_id),)
            fields = {
                "subtype": "test_suite",
                "name": name,
                "description": None,
                "covered_content": (),
                "product_areas": areas,
            }
            return self._state.add_entity("test", fields).id

    def add_release(self, name: str, *, id: int | None = None) -> int:
        with self._state.lock:
            return self._state.add_entity("release", {"name": name}, id_=id).id

    # ------------------------------------------------------------ inspection

    @property
    def request_log(self) -> list[RequestRecord]:
        """Requests served so far (control requests excluded); no cookies, bodies or secrets."""
        with self._state.lock:
            return list(self._state.request_log)

    @property
    def counters(self) -> dict[str, Any]:
        with self._state.lock:
            return self._state.counters.as_dict()

    def runs(self) -> list[dict[str, Any]]:
        """Stored automated runs with their test identity, build, links and suite run."""
        with self._state.lock:
            return [
                _run_summary(self._state, r)
                for r in self._state.all("run")
                if r.fields.get("subtype") == "run_automated"
            ]

    def gherkin_runs(self) -> list[dict[str, Any]]:
        """Stored Gherkin runs (one per feature per upload) with their scenarios and steps."""
        with self._state.lock:
            return [
                gherkin_run_summary(self._state, r)
                for r in self._state.all("run")
                if r.fields.get("subtype") == "gherkin_automated_run"
            ]

    def suite_runs(self) -> list[dict[str, Any]]:
        with self._state.lock:
            return [
                {
                    "id": r.id,
                    "name": r.fields.get("name"),
                    "suite_id": _ref_id(r.fields.get("test")),
                    "run_ids": [
                        x.id
                        for x in self._state.all("run")
                        if _ref_id(x.fields.get("parent_suite")) == r.id
                    ],
                }
                for r in self._state.all("run")
                if r.fields.get("subtype") == "run_suite"
            ]

    def tests(self) -> list[dict[str, Any]]:
        with self._state.lock:
            return [_test_summary(t) for t in self._state.all("test")]

    def application_modules(self) -> list[dict[str, Any]]:
        """Every module but the system root (see ``system_root_id``)."""
        with self._state.lock:
            return [
                {"id": m.id, "name": m.fields["name"], "parent_id": _ref_id(m.fields["parent"])}
                for m in self._state.all("application_module")
                if m.id != self._system_root
            ]

    def stories(self) -> list[dict[str, Any]]:
        field = self._state.config.jira_field
        with self._state.lock:
            return [
                {"id": s.id, "name": s.fields.get("name"), "key": s.fields.get(field)}
                for s in self._state.all("work_item")
            ]

    def tasks(self) -> list[dict[str, Any]]:
        with self._state.lock:
            return [
                {
                    "id": t.id,
                    "status": t.status,
                    "error_details": t.error_details,
                    "skip_errors": t.skip_errors,
                    "run_ids": list(t.run_ids),
                    "repeats": t.repeats,
                }
                for t in sorted(self._state.tasks.values(), key=lambda t: t.id)
            ]

    def wait_for_tasks(self, timeout: float = 10.0) -> list[dict[str, Any]]:
        """Block until no task is queued or running; return :meth:`tasks`."""
        state = self._state
        with state.changed:
            done = state.changed.wait_for(
                lambda: all(t.status not in ACTIVE_STATES for t in state.tasks.values()),
                timeout,
            )
        if not done:
            raise TimeoutError(
                f"simulator tasks still queued/running after {timeout} s; "
                "lower processing_ms or raise the timeout"
            )
        return self.tasks()

    def snapshot(self) -> dict[str, Any]:
        """Everything the control endpoint's GET /__simulator__/state returns."""
        return {
            "url": self.url,
            "api_url": self.api_url,
            "space_id": self.space_id,
            "workspace_id": self.workspace_id,
            "counters": self.counters,
            "tasks": self.tasks(),
            "runs": self.runs(),
            "suite_runs": self.suite_runs(),
            "tests": self.tests(),
            "application_modules": self.application_modules(),
            "stories": self.stories(),
            "faults": self.faults.pending(),
            "request_log": [
                {
                    "method": r.method,
                    "path": r.path,
                    "query": r.query,
                    "status": r.status,
                    "duration_ms": r.duration_ms,
                    "error_code": r.error_code,
                }
                for r in self.request_log
            ],
            "internal_errors": len(self.internal_errors),
        }


def _opt_int(value: Any) -> int | None:
    return None if value is None else int(value)


def _ref_id(value: Any) -> int | None:
    return int(value.id) if isinstance(value, Ref) else None


def _ref_ids(value: Any) -> list[int]:
    return [int(r.id) for r in value or ()]


def _run_summary(state: SimState, run: Entity) -> dict[str, Any]:
    fields = run.fields
    test = state.get("test", _ref_id(fields.get("test")) or 0)
    identity = test.extra.get("identity", ("", "", "", "")) if test else ("", "", "", "")
    build = fields.get("build_context")
    status = fields.get("native_status")
    return {
        "id": run.id,
        "test_id": test.id if test else None,
        "module": identity[0],
        "package": identity[1],
        "class": identity[2],
        "name": identity[3],
        "run_name": fields.get("name"),
        "status": status.name if isinstance(status, Ref) else None,
        "duration_ms": fields.get("duration"),
        "started_ms": run.extra.get("started_ms"),
        "build": dict(build) if build else None,
        "covered_content": _ref_ids(fields.get("covered_content")),
        "product_areas": _ref_ids(fields.get("product_areas")),
        "suite_run_id": _ref_id(fields.get("parent_suite")),
        "release_id": _ref_id(fields.get("release")),
        "test_fields": dict(run.extra.get("test_fields", {})),
        "taxonomies": list(fields.get("taxonomies") or []),
        "error": run.extra.get("error"),
        "description": fields.get("description"),
        "task_id": run.extra.get("task_id"),
    }


def _test_summary(test: Entity) -> dict[str, Any]:
    fields = test.fields
    identity = test.extra.get("identity")
    return {
        "id": test.id,
        "subtype": fields.get("subtype"),
        "name": fields.get("name"),
        "module": identity[0] if identity else None,
        "package": identity[1] if identity else None,
        "class": identity[2] if identity else None,
        "covered_content": _ref_ids(fields.get("covered_content")),
        "product_areas": _ref_ids(fields.get("product_areas")),
        "test_fields": {
            name: value.name
            for name in ("framework", "test_level", "test_type", "testing_tool_type")
            if isinstance(value := fields.get(name), Ref)
        },
    }
