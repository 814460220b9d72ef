"""The :class:`Simulator`: a real HTTP(S) server on 127.0.0.1 that behaves like Octane.

Stdlib only (``http.server.ThreadingHTTPServer``).  Threads: one accept loop, one thread per
connection, one task worker, and a short-lived one while the server is "down".  All are
daemon threads and :meth:`Simulator.stop` joins them.
"""

from __future__ import annotations

import socket
import ssl
import struct
import threading
import time
import traceback
from collections.abc import Callable, Iterable, Mapping
from types import TracebackType
from typing import Any

from pytest_octane.simulator.api import endpoint_name, handle
from pytest_octane.simulator.entity_writes import add_system_root
from pytest_octane.simulator.faults import Faults
from pytest_octane.simulator.protocol import Request, Response, error_json, json_response
from pytest_octane.simulator.server.transport import (
    JOIN_TIMEOUT_S,
    SimulatorHTTPServer,
    current_connection,
)
from pytest_octane.simulator.server.worker import TaskWorker
from pytest_octane.simulator.server.workspace import WorkspaceView
from pytest_octane.simulator.state import (
    RequestRecord,
    SimConfig,
    SimState,
)

__all__ = ["Simulator"]

# ---------------------------------------------------------------- the simulator


class Simulator(WorkspaceView):
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
            restart=self._restart,
        )
        self.internal_errors: list[str] = []
        self._lifecycle = threading.RLock()
        self._tracking = threading.Lock()
        self._server: SimulatorHTTPServer | None = None
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
                thread.join(JOIN_TIMEOUT_S)
        for worker in self._workers:
            worker.stop()
        self._close_connections(keep=None)
        deadline = time.monotonic() + JOIN_TIMEOUT_S
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

    def _bind(self, port: int) -> SimulatorHTTPServer:
        try:
            return SimulatorHTTPServer((self._host, port), self)
        except OSError as exc:
            raise RuntimeError(
                f"the Octane simulator cannot listen on {self._host}:{port} ({exc.strerror}); "
                "choose another port"
            ) from None

    def _serve(self, server: SimulatorHTTPServer) -> None:
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
        self._close_connections(keep=getattr(current_connection, "connection", None))
        self._down_thread = threading.Thread(
            target=self._come_back, args=(seconds,), name="octane-sim-down", daemon=True
        )
        self._down_thread.start()

    def _come_back(self, seconds: float) -> None:
        if self._stopping.wait(seconds):
            return
        assert self._port is not None
        deadline = time.monotonic() + JOIN_TIMEOUT_S
        while True:
            with self._lifecycle:
                if self._stopping.is_set():
                    return
                try:
                    self._serve(SimulatorHTTPServer((self._host, self._port), self))
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

    def _answer_then_restart(self, request: Request) -> Response:
        """One step under the state lock: no task of this request is processed before the
        restart forgets it."""
        with self._state.lock:
            response = self._answer(request)
            self._state.forget_unfinished_tasks()
        return response

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

    def _restart(self) -> int:
        with self._state.lock:
            return self._state.forget_unfinished_tasks()


def _opt_int(value: Any) -> int | None:
    return None if value is None else int(value)
